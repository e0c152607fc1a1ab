"""GET /metrics: what it exposes after real traffic, and who may read it."""

from __future__ import annotations

import re
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup
from tipline.app import create_app
from tipline.metrics import CACHE_HITS, CHAIN_HEAD


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(all_: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return all_[(name, frozenset(labels.items()))]


async def test_metrics_after_traffic(api: httpx.AsyncClient, server: Server) -> None:
    before = samples((await api.get("/metrics")).text)
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    ws = await Ws.open(server.ws_url, bob)
    try:
        r = await send_http(api, alice, cid, "hello")
        assert r.status_code == 201
        await ws.expect(is_event("message.created"))
        await send_http(api, alice, cid, "again", client_msg_id=r.json()["client_msg_id"])  # a retry: not counted
        CACHE_HITS.inc(0)
        CHAIN_HEAD.set(1234)
        r = await api.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        after = samples(r.text)
        assert value(after, "tipline_ws_connections") >= 1
    finally:
        await ws.close()
    sent = value(after, "tipline_messages_sent_total") - value(before, "tipline_messages_sent_total")
    assert sent == 1
    # Two group commits (the send, then its retry), one message stored.
    committed = value(after, "tipline_sends_committed_total") - value(before, "tipline_sends_committed_total")
    batches = value(after, "tipline_send_batches_total") - value(before, "tipline_send_batches_total")
    assert (committed, batches) == (1, 2)
    delivered = value(after, "tipline_deliveries_total") - value(before, "tipline_deliveries_total")
    assert delivered >= 1
    # Latency by route template, never by raw path.
    route = "/conversations/{conversation_id}/messages"
    assert value(after, "tipline_http_request_duration_seconds_count", method="POST", route=route) >= 2
    assert value(after, "tipline_http_requests_total", method="POST", route=route, status="201") >= 2
    assert not re.search(rf'route="/conversations/{cid}/', r.text)
    for name in ("tipline_cache_hits_total", "tipline_cache_misses_total", "tipline_bus_publish_errors_total"):
        assert (name, frozenset()) in after
    assert value(after, "tipline_chain_head_block") == 1234
    # The bus probe ran at start-up and came back through the bus.
    assert value(after, "tipline_bus_roundtrip_seconds_count") >= 1
    assert value(after, "tipline_bus_healthy") == 1


async def test_metrics_need_the_token_when_one_is_set(api: httpx.AsyncClient, server: Server) -> None:
    settings = server.rt.settings
    settings.metrics_token = SecretStr("metrics-" + uuid.uuid4().hex)
    try:
        r = await api.get("/metrics")
        assert r.status_code == 401 and r.json()["code"] == "metrics_token_required"
        r = await api.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await api.get("/metrics", headers={"Authorization": f"Bearer {settings.metrics_token.get_secret_value()}"})
        assert r.status_code == 200 and "tipline_ws_connections" in r.text
    finally:
        settings.metrics_token = None


async def test_metrics_refuse_other_hosts_without_a_token(server: Server) -> None:
    transport = httpx.ASGITransport(app=create_app(server.rt), client=("10.20.30.40", 5555))
    async with httpx.AsyncClient(timeout=30, transport=transport, base_url="http://tipline") as remote:
        r = await remote.get("/metrics")
    assert r.status_code == 403 and r.json()["code"] == "metrics_forbidden"
