"""Attacks on integrations: server-side request forgery through slash commands, outgoing webhooks
and the outbound guard itself; forged and replayed signatures (docs/security.md)."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import httpx
import pytest

from tests.api.test_tokens import admin
from tests.conftest import Server, make_settings
from tests.helpers import create_conversation, send_http, signup
from tests.integration_endpoint import run_endpoint
from tipline.backends import safehttp
from tipline.domain.integrations.signing import REPLAY_WINDOW_S, signature, signed_headers, verify

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.10.1", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("::1", "loopback"),
    ("fd00:ec2::254", "metadata"),
    ("fc00::1", "private"),
    ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a00:1", "private"),
    ("::", "unspecified"),
    ("ff02::1", "multicast"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_the_guard_refuses_non_public_addresses(address: str, why: str) -> None:
    with pytest.raises(safehttp.RefusedAddress) as caught:
        safehttp.check_address(ipaddress.ip_address(address), host=address, settings=make_settings())
    assert why in caught.value.reason and "OUTBOUND_ALLOW" in caught.value.reason


def test_public_addresses_pass_and_the_allow_list_exempts() -> None:
    settings = make_settings()
    for address in ("93.184.216.34", "2606:4700::1111", "8.8.8.8"):
        safehttp.check_address(ipaddress.ip_address(address), host="example.com", settings=settings)
    allowed = make_settings(outbound_allow="10.1.0.0/16, intranet.example ,127.0.0.1")
    assert allowed.outbound_allow == ["10.1.0.0/16", "intranet.example", "127.0.0.1"]
    safehttp.check_address(ipaddress.ip_address("10.1.2.3"), host="x", settings=allowed)
    safehttp.check_address(ipaddress.ip_address("10.9.9.9"), host="Intranet.Example", settings=allowed)
    safehttp.check_address(ipaddress.ip_address("127.0.0.1"), host="x", settings=allowed)
    with pytest.raises(safehttp.RefusedAddress):
        safehttp.check_address(ipaddress.ip_address("10.2.0.1"), host="x", settings=allowed)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[fd00:ec2::254]/",
        "http://localhost:9/",  # a name that resolves to loopback
    ],
)
async def test_fetch_refuses_before_connecting(url: str) -> None:
    with pytest.raises(safehttp.RefusedAddress):
        await safehttp.fetch(url, max_bytes=1000, timeout_s=5, settings=make_settings())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pw@127.0.0.1/", "credentials"),
        ("http://does-not-exist.invalid/", "does not resolve"),
    ],
)
async def test_fetch_refuses_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(safehttp.FetchFailed) as caught:
        await safehttp.fetch(url, max_bytes=1000, timeout_s=5, settings=make_settings(outbound_allow="127.0.0.1"))
    assert reason in caught.value.reason


async def test_redirects_are_checked_at_every_hop_and_capped() -> None:
    async with run_endpoint() as endpoint:
        port = endpoint.base_url.rsplit(":", 1)[1]
        # Only the name "localhost" is allowed: a redirect to 127.0.0.1 (or the metadata address) is refused.
        settings = make_settings(outbound_allow="localhost")
        endpoint.answer("/to-loopback", status=302, body=b"", headers={"location": f"http://127.0.0.1:{port}/ok"})
        endpoint.answer("/to-metadata", status=307, body=b"", headers={"location": "http://169.254.169.254/"})
        endpoint.answer("/ok", body={"fine": True})
        for path in ("/to-loopback", "/to-metadata"):
            with pytest.raises(safehttp.RefusedAddress):
                await safehttp.fetch(f"http://localhost:{port}{path}", max_bytes=1000, timeout_s=5, settings=settings)
        ok = await safehttp.fetch(f"http://localhost:{port}/ok", max_bytes=1000, timeout_s=5, settings=settings)
        assert ok.status == 200 and ok.body == b'{"fine":true}'
        assert endpoint.received[-1].headers["host"] == f"localhost:{port}"

        # A loop of redirects ends after MAX_REDIRECTS.
        endpoint.answer("/loop", status=302, body=b"", headers={"location": "/loop"})
        with pytest.raises(safehttp.FetchFailed, match="redirects"):
            await safehttp.fetch(f"http://localhost:{port}/loop", max_bytes=1000, timeout_s=5, settings=settings)
        assert sum(r.path == "/loop" for r in endpoint.received) == safehttp.MAX_REDIRECTS + 1


async def test_answers_are_capped_in_size_and_time_and_no_cookies_are_sent() -> None:
    settings = make_settings(outbound_allow="127.0.0.1")
    async with run_endpoint() as endpoint:
        endpoint.answer("/big", body=b"x" * 100_000)
        with pytest.raises(safehttp.FetchFailed, match="larger than"):
            await safehttp.fetch(endpoint.url("/big"), max_bytes=10_000, timeout_s=5, settings=settings)
        endpoint.answer("/cookie", status=302, body=b"", headers={"location": "/back", "set-cookie": "sid=1; Path=/"})
        endpoint.answer("/back", body={})
        await safehttp.fetch(endpoint.url("/cookie"), max_bytes=10_000, timeout_s=5, settings=settings)
        assert "cookie" not in endpoint.received[-1].headers

    # An endpoint that never answers: the whole exchange is bounded.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    with pytest.raises(safehttp.FetchFailed, match="within"):
        await safehttp.fetch(f"http://127.0.0.1:{port}/", max_bytes=100, timeout_s=0.5, settings=settings)
    assert time.monotonic() - started < 3
    server.close()


def test_signatures_wrong_changed_or_replayed_are_rejected() -> None:
    secret, body = "tls_secret", b'{"text":"hi"}'
    now = time.time()
    headers = signed_headers(secret, body, now=now)
    ts, sig = headers["X-Tipline-Timestamp"], headers["X-Tipline-Signature"]
    assert verify(secret, timestamp=ts, signature_header=sig, body=body, now=now)
    assert not verify("tls_other", timestamp=ts, signature_header=sig, body=body, now=now)
    assert not verify(secret, timestamp=ts, signature_header=sig, body=b'{"text":"HI"}', now=now)
    assert not verify(secret, timestamp=str(int(ts) + 1), signature_header=sig, body=body, now=now)
    assert not verify(secret, timestamp=ts, signature_header="sha256=" + "0" * 64, body=body, now=now)
    assert not verify(secret, timestamp="soon", signature_header=sig, body=body, now=now)
    # Replayed after the window: the same valid signature is refused.
    assert not verify(secret, timestamp=ts, signature_header=sig, body=body, now=now + REPLAY_WINDOW_S + 1)
    # A timestamp moved into the window invalidates the signature.
    late = str(int(now + REPLAY_WINDOW_S + 1))
    assert not verify(secret, timestamp=late, signature_header=sig, body=body, now=now + REPLAY_WINDOW_S + 1)
    assert signature(secret, late, body) != sig


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/cmd", "http://10.0.0.1/cmd", "http://169.254.169.254/latest"])
async def test_a_slash_command_pointed_inside_is_refused_with_a_clear_error(
    api: httpx.AsyncClient, server: Server, target: str
) -> None:
    boss, ann = await admin(api, server), await signup(api)
    r = await api.post("/commands", headers=boss.headers, json={"name": "inside", "url": target})
    assert r.status_code == 201
    conv = await create_conversation(api, ann)
    r = await api.post(f"/conversations/{conv['id']}/commands", headers=ann.headers, json={"command": "inside"})
    assert r.status_code == 502 and r.json()["code"] == "integration_failed"
    assert "refused" in r.json()["detail"] and target.split("/")[2].split(":")[0] in r.json()["detail"]
    (full,) = (await api.get("/commands", headers=boss.headers)).json()
    assert full["failure_count"] == 1 and "refused" in full["last_error"]


async def outgoing_errors(api: httpx.AsyncClient, owner: Any, cid: int, url: str) -> dict[str, Any]:
    hook = await api.post(
        f"/conversations/{cid}/webhooks/outgoing", headers=owner.headers, json={"name": "leak", "url": url}
    )
    assert hook.status_code == 201, hook.text
    await send_http(api, owner, cid, "trigger")
    for _ in range(100):
        listed = (await api.get(f"/conversations/{cid}/webhooks/outgoing", headers=owner.headers)).json()
        mine: dict[str, Any] = next(h for h in listed if h["id"] == hook.json()["id"])
        if mine["failure_count"]:
            return mine
        await asyncio.sleep(0.1)
    raise AssertionError("no failure recorded")


async def test_outgoing_webhooks_pointed_inside_are_refused_and_the_owner_sees_why(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "outgoing_webhook_poll_s", 0.1)
    ann = await signup(api)
    async with run_endpoint() as endpoint:
        port = endpoint.base_url.rsplit(":", 1)[1]
        monkeypatch.setattr(server.rt.settings, "outbound_allow", ["localhost"])
        endpoint.answer("/hop", status=302, body=b"", headers={"location": f"http://127.0.0.1:{port}/in"})
        for url, shown in (
            (f"http://127.0.0.1:{port}/in", "loopback"),
            ("http://10.0.0.1/in", "private"),
            ("http://169.254.169.254/latest/meta-data/", "metadata"),
            (f"http://localhost:{port}/hop", "loopback"),  # allowed itself, but its redirect is not
        ):
            conv = await create_conversation(api, ann)
            hook = await outgoing_errors(api, ann, conv["id"], url)
            assert shown in hook["last_error"] and hook["last_status"] in (None, 302), hook
        assert not any(r.path == "/in" for r in endpoint.received)
