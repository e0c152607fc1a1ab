"""Incoming and outgoing webhooks over HTTP, against a real server and a real local endpoint
(docs/subsystems/integrations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import STARTED_BY, Server, start_server
from tests.helpers import User, create_conversation, send_http, signup
from tests.integration_endpoint import Endpoint, Received, run_endpoint
from tipline.domain.integrations.signing import verify
from tipline.domain.integrations.worker import OutgoingWebhookWorker


async def make_incoming(api: httpx.AsyncClient, owner: User, cid: int, **extra: Any) -> dict[str, Any]:
    r = await api.post(
        f"/conversations/{cid}/webhooks/incoming", headers=owner.headers, json={"name": "CI alerts", **extra}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def history(api: httpx.AsyncClient, user: User, cid: int) -> list[dict[str, Any]]:
    r = await api.get(f"/conversations/{cid}/messages", headers=user.headers)
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def test_an_incoming_webhook_posts_slack_json_as_its_bot(api: httpx.AsyncClient) -> None:
    ann, bob = await signup(api), await signup(api)
    conv = await create_conversation(api, ann, members=[bob])
    hook = await make_incoming(api, ann, conv["id"])
    assert hook["secret"].startswith("tlh_") and hook["url"].endswith(f"/hooks/incoming/{hook['id']}/{hook['secret']}")
    assert hook["bot"]["is_bot"] is True

    payload = {
        "text": "Build <https://ci.example/42|#42> failed",
        "username": "ignored",
        "attachments": [
            {
                "fallback": "fb",
                "pretext": "Details",
                "title": "main",
                "text": "3 tests failed",
                "fields": [{"title": "Branch", "value": "main"}],
            }
        ],
    }
    r = await api.post(path_of(hook["url"]), json=payload)
    assert r.status_code == 200, r.text
    posted = r.json()
    assert posted["ok"] is True and posted["conversation_id"] == conv["id"]

    # The same through the Authorization header, with an idempotency key: a retry is the same message.
    auth = {"Authorization": f"Bearer {hook['secret']}", "Idempotency-Key": "deploy-7"}
    first = await api.post(f"/hooks/incoming/{hook['id']}", json={"text": "deployed"}, headers=auth)
    again = await api.post(f"/hooks/incoming/{hook['id']}", json={"text": "deployed"}, headers=auth)
    assert first.status_code == again.status_code == 200
    assert first.json()["message_id"] == again.json()["message_id"]

    messages = await history(api, bob, conv["id"])
    bodies = [m["body"] for m in messages if m["sender_id"] == hook["bot"]["id"]]
    assert bodies == [
        "Build [#42](https://ci.example/42) failed\n\nDetails\n**main**\n3 tests failed\n**Branch**: main",
        "deployed",
    ]
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    listed = (await api.get(f"/conversations/{conv['id']}/webhooks/incoming", headers=ann.headers)).json()
    assert [h["id"] for h in listed] == [hook["id"]] and listed[0]["last_used_at"] is not None
    assert "secret" not in listed[0] and hook["secret"] not in str(listed)


async def test_overrides_only_when_allowed_and_form_payloads(api: httpx.AsyncClient) -> None:
    ann = await signup(api)
    conv = await create_conversation(api, ann)
    hook = await make_incoming(api, ann, conv["id"], allow_overrides=True)
    r = await api.post(path_of(hook["url"]), json={"text": "hi", "username": "Grafana", "icon_url": "https://x/i.png"})
    assert r.status_code == 200
    form = await api.post(path_of(hook["url"]), data={"payload": '{"text": "from a form"}'})
    assert form.status_code == 200, form.text
    bodies = [m["body"] for m in await history(api, ann, conv["id"]) if m["sender_id"] == hook["bot"]["id"]]
    assert bodies == ["**Grafana**: hi", "from a form"]


async def test_bad_payloads_are_422_with_a_reason(api: httpx.AsyncClient) -> None:
    ann = await signup(api)
    conv = await create_conversation(api, ann)
    hook = await make_incoming(api, ann, conv["id"])
    url = path_of(hook["url"])
    for body in (b"not json", b'{"text": 5}', b"{}", b'{"text": "   "}'):
        r = await api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] in ("invalid_payload", "body_empty")
    bad_key = await api.post(url, json={"text": "x"}, headers={"Idempotency-Key": "no spaces allowed"})
    assert bad_key.status_code == 422 and bad_key.json()["code"] == "invalid_idempotency_key"


async def test_rotation_deletion_and_who_may_manage(api: httpx.AsyncClient) -> None:
    ann, bob, eve = await signup(api), await signup(api), await signup(api)
    conv = await create_conversation(api, ann, members=[bob])
    hook = await make_incoming(api, ann, conv["id"])

    # A plain member may not manage webhooks; a stranger does not see the conversation at all.
    r = await api.post(f"/conversations/{conv['id']}/webhooks/incoming", headers=bob.headers, json={"name": "x"})
    assert r.status_code == 403 and r.json()["code"] == "not_an_admin"
    assert (await api.get(f"/conversations/{conv['id']}/webhooks/incoming", headers=eve.headers)).status_code == 404
    for user in (bob, eve):
        assert (await api.post(f"/webhooks/incoming/{hook['id']}/rotate", headers=user.headers)).status_code == 404
        assert (await api.delete(f"/webhooks/incoming/{hook['id']}", headers=user.headers)).status_code == 404

    rotated = (await api.post(f"/webhooks/incoming/{hook['id']}/rotate", headers=ann.headers)).json()
    assert rotated["secret"] != hook["secret"]
    assert (await api.post(path_of(hook["url"]), json={"text": "old"})).status_code == 404
    assert (await api.post(path_of(rotated["url"]), json={"text": "new"})).status_code == 200

    assert (await api.delete(f"/webhooks/incoming/{hook['id']}", headers=ann.headers)).status_code == 204
    assert (await api.post(path_of(rotated["url"]), json={"text": "gone"})).status_code == 404
    assert (await api.get(f"/conversations/{conv['id']}/webhooks/incoming", headers=ann.headers)).json() == []


async def test_direct_conversations_take_no_webhooks(api: httpx.AsyncClient) -> None:
    ann, bob = await signup(api), await signup(api)
    dm = (await api.post("/conversations/direct", headers=ann.headers, json={"user_id": bob.id})).json()
    r = await api.post(f"/conversations/{dm['id']}/webhooks/incoming", headers=ann.headers, json={"name": "x"})
    assert r.status_code == 409, r.text


async def test_the_secret_url_is_not_in_the_access_log(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await signup(api)
    conv = await create_conversation(api, ann)
    hook = await make_incoming(api, ann, conv["id"])
    with caplog.at_level(logging.INFO, logger="tipline.access"):
        assert (await api.post(path_of(hook["url"]), json={"text": "quiet"})).status_code == 200
    # Only the webhook's own request (the set-up calls, e.g. …/webhooks/incoming, may be captured too).
    records = [
        r for r in caplog.records if r.name == "tipline.access" and str(getattr(r, "path", "")).startswith("/hooks/")
    ]
    assert records, "the request was logged"
    for record in records:
        assert hook["secret"] not in str(record.__dict__)
        assert record.__dict__["path"] == f"/hooks/incoming/{hook['id']}/[redacted]"


async def test_incoming_webhooks_are_rate_limited_per_hook(database_url: str) -> None:
    async with (
        start_server(database_url, rate_limits=True, rate_incoming_webhook="2/60") as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
    ):
        ann = await signup(api)
        conv = await create_conversation(api, ann)
        one, two = await make_incoming(api, ann, conv["id"]), await make_incoming(api, ann, conv["id"])
        codes = [(await api.post(path_of(one["url"]), json={"text": f"m{i}"})).status_code for i in range(3)]
        assert codes == [200, 200, 429]
        assert (await api.post(path_of(two["url"]), json={"text": "other hook"})).status_code == 200


# --- outgoing webhooks ------------------------------------------------------------------------


async def worker_report(server: Server) -> str:
    """What the node's outgoing-webhook worker and its tables look like: shown when a delivery does
    not arrive, so a failure says where it stuck."""
    worker = server.node.webhooks
    assert worker is not None
    task = worker._task
    state = "not started" if task is None else ("running" if not task.done() else f"ended: {task!r}")
    db = await asyncpg.connect(server.database_url)
    try:
        hooks = await db.fetch("SELECT id, url, cursor_seq, failure_count, last_error FROM outgoing_webhooks")
        deliveries = await db.fetch(
            "SELECT id, hook_id, attempts, next_attempt_at, delivered_at, last_error FROM webhook_deliveries"
        )
    finally:
        await db.close()
    # Any other node's worker in this process that still runs would claim deliveries too.
    others = [
        f"port {w.rt.settings.port} ({STARTED_BY.get(w.rt.settings.port)}, shutting down {w.rt.shutting_down})"
        f" allow {w.rt.settings.outbound_allow} task {w._task!r}"
        for w in gc.get_objects()
        if isinstance(w, OutgoingWebhookWorker) and w is not worker and w._task is not None
    ]
    return (
        f"other workers {others}; "
        f"worker {state}, {len(worker._deliveries)} deliveries in flight, {worker.delivered} delivered;"
        f" hooks {[dict(h) for h in hooks]}; deliveries {[dict(d) for d in deliveries]}"
    )


async def wait_for_requests(endpoint: Endpoint, server: Server, count: int, timeout: float) -> list[Received]:
    try:
        return await endpoint.wait_for(count, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {await worker_report(server)}") from None


async def test_outgoing_webhook_delivers_signed_messages_and_posts_the_answer(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "outbound_allow", ["127.0.0.1"])
    monkeypatch.setattr(server.rt.settings, "outgoing_webhook_poll_s", 0.1)
    ann, bob = await signup(api), await signup(api)
    conv = await create_conversation(api, ann, members=[bob])
    await send_http(api, ann, conv["id"], "before the hook: never sent")
    async with run_endpoint() as endpoint:
        endpoint.answer("/deploy", body={"text": "Deploying **main**"})
        r = await api.post(
            f"/conversations/{conv['id']}/webhooks/outgoing",
            headers=ann.headers,
            json={"name": "Deployer", "url": endpoint.url("/deploy"), "trigger_words": ["!deploy"]},
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["secret"].startswith("tls_") and hook["failure_count"] == 0

        await send_http(api, bob, conv["id"], "hello there")  # no trigger word
        sent = (await send_http(api, bob, conv["id"], "!deploy main")).json()
        (got,) = await wait_for_requests(endpoint, server, 1, timeout=30)
        assert verify(
            hook["secret"],
            timestamp=got.headers["x-tipline-timestamp"],
            signature_header=got.headers["x-tipline-signature"],
            body=got.body,
        )
        data = got.json()
        assert data["text"] == "!deploy main" and data["trigger_word"] == "!deploy"
        assert data["message_id"] == sent["message_id"] and data["user_name"] == bob.handle
        assert "cookie" not in got.headers

        for _ in range(600):
            bodies = [m["body"] for m in await history(api, bob, conv["id"]) if m["sender_id"] == hook["bot"]["id"]]
            if bodies:
                break
            await asyncio.sleep(0.1)
        assert bodies == ["Deploying **main**"]
        # The bot's own answer triggers nothing (no loops), and only one request was made.
        await asyncio.sleep(0.5)
        assert len(endpoint.received) == 1
        (listed,) = (await api.get(f"/conversations/{conv['id']}/webhooks/outgoing", headers=ann.headers)).json()
        assert listed["last_status"] == 200 and listed["failure_count"] == 0 and listed["last_error"] is None


async def test_outgoing_webhook_retries_with_backoff_and_shows_failures(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = server.rt.settings
    monkeypatch.setattr(settings, "outbound_allow", ["127.0.0.1"])
    monkeypatch.setattr(settings, "outgoing_webhook_poll_s", 0.1)
    monkeypatch.setattr(settings, "outgoing_webhook_retry_base_s", 0.2)
    # Enough attempts that one made before the endpoint recovers (a busy machine) does not use up
    # the delivery; capped delays keep the wait short.
    monkeypatch.setattr(settings, "outgoing_webhook_max_attempts", 20)
    monkeypatch.setattr(settings, "outgoing_webhook_retry_max_s", 0.5)
    ann = await signup(api)
    conv = await create_conversation(api, ann)
    async with run_endpoint() as endpoint:
        endpoint.answer("/flaky", status=503, body={"error": "down"})
        hook = (
            await api.post(
                f"/conversations/{conv['id']}/webhooks/outgoing",
                headers=ann.headers,
                json={"name": "Every message", "url": endpoint.url("/flaky")},
            )
        ).json()
        await send_http(api, ann, conv["id"], "anything")
        await wait_for_requests(endpoint, server, 2, timeout=30)
        listed = (await api.get(f"/conversations/{conv['id']}/webhooks/outgoing", headers=ann.headers)).json()[0]
        assert listed["failure_count"] >= 1 and listed["last_status"] == 503
        assert "HTTP 503" in listed["last_error"]
        endpoint.answer("/flaky", status=200, body={})
        for _ in range(300):
            listed = (await api.get(f"/conversations/{conv['id']}/webhooks/outgoing", headers=ann.headers)).json()[0]
            if listed["failure_count"] == 0:
                break
            await asyncio.sleep(0.1)
        assert listed["failure_count"] == 0 and listed["last_status"] == 200
        bodies = {r.json()["message_id"] for r in endpoint.received}
        assert len(bodies) == 1  # the same delivery, retried
        assert hook["id"] == listed["id"]


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server that accepts connections, reads, and never answers; yields its URL and a
    list that grows by one per connection."""
    accepted: list[int] = []
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        held.append(writer)
        await reader.read(65536)
        await asyncio.Event().wait()

    srv = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/never-answers", accepted
    finally:
        for writer in held:
            writer.close()
        srv.close()


async def test_a_hanging_endpoint_holds_up_no_other_hook(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = server.rt.settings
    monkeypatch.setattr(settings, "outbound_allow", ["127.0.0.1"])
    monkeypatch.setattr(settings, "outgoing_webhook_poll_s", 0.1)
    # Far longer than the test waits below: a worker that waited out the hanging deliveries one
    # after the other would miss the deadline.
    monkeypatch.setattr(settings, "outgoing_webhook_timeout_s", 120.0)
    ann = await signup(api)
    stuck, fine = await create_conversation(api, ann), await create_conversation(api, ann)
    async with hanging_server() as (hang_url, accepted), run_endpoint() as endpoint:
        for conv, url in ((stuck, hang_url), (fine, endpoint.url("/fine"))):
            r = await api.post(
                f"/conversations/{conv['id']}/webhooks/outgoing",
                headers=ann.headers,
                json={"name": "Hook", "url": url},
            )
            assert r.status_code == 201, r.text
        for i in range(3):
            await send_http(api, ann, stuck["id"], f"stuck {i}")
        for _ in range(1200):
            if len(accepted) == 3:
                break
            await asyncio.sleep(0.05)
        assert len(accepted) == 3, f"3 deliveries in flight at once, not {len(accepted)}; {await worker_report(server)}"
        sent = (await send_http(api, ann, fine["id"], "through")).json()
        (got,) = await wait_for_requests(endpoint, server, 1, timeout=60)
        assert got.json()["message_id"] == sent["message_id"]
