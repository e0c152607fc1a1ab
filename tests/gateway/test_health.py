"""A node that cannot reach PostgreSQL or the bus says so, then moves its clients (gateway/health.py).

The decisions are checked one probe at a time on a real server's runtime with real sockets; the
network cuts themselves are the chaos tests' (tests/integration/test_chaos.py, f and h).
"""

from __future__ import annotations

import asyncio

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import start_server
from tests.helpers import Ws, signup
from tipline.gateway.health import NodeHealth


async def test_degraded_at_the_first_failed_probe_then_sockets_closed_1012_and_refused_then_serving_again(
    database_url: str,
) -> None:
    async with (
        start_server(database_url, node_unhealthy_close_s=5.0, health_probe_s=3600.0) as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
    ):
        rt = srv.rt
        health = NodeHealth(rt, srv.node.hub)  # driven by hand: the server's own probes wait an hour
        user = await signup(api)
        ws = await Ws.open(srv.ws_url, user)

        health.observe(database_ok=False, bus_ok=True, now=100.0)
        assert rt.degraded and not rt.unhealthy
        assert (await api.get("/healthz")).status_code == 200
        health.observe(database_ok=False, bus_ok=True, now=104.9)
        assert not rt.unhealthy  # not yet: a short outage (a PostgreSQL restart) keeps the sockets

        health.observe(database_ok=True, bus_ok=False, now=105.0)  # still down: the bus now
        assert rt.unhealthy
        try:
            async with asyncio.timeout(5):
                while True:
                    await ws.conn.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1012
            assert "bus" in exc.rcvd.reason
        assert health.moved == 1
        try:
            await Ws.open(srv.ws_url, user)
            raise AssertionError("a new socket was accepted by an unhealthy node")
        except (InvalidStatus, ConnectionClosed):
            pass

        health.observe(database_ok=True, bus_ok=True, now=106.0)
        assert not rt.degraded and not rt.unhealthy
        again = await Ws.open(srv.ws_url, user)
        await again.close()


async def test_readiness_fails_when_the_database_does_not_answer_in_time(database_url: str) -> None:
    async with (
        start_server(database_url, db_pool_size=1, db_max_overflow=0) as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
    ):
        assert (await api.get("/readyz")).status_code == 200
        # The pool's only connection is held: the node's probe waits for it and gives up after
        # its bound; readiness reports the probe's outcome.
        async with srv.rt.engine.connect():
            r = await _readyz_until(api, 503)
        assert r.json()["checks"]["database"] is False
        assert (await _readyz_until(api, 200)).json()["checks"]["database"] is True


async def _readyz_until(api: httpx.AsyncClient, status: int) -> httpx.Response:
    async with asyncio.timeout(15):
        while (r := await api.get("/readyz")).status_code != status:
            await asyncio.sleep(0.1)
    return r
