"""IDOR on the id-taking endpoints outside the conversation/message matrix
(tests/api/test_authz_matrix.py): media, tips, reports, slow mode, wallets, intents and the
admin actions. Each call is made with a real id of someone else's resource, by an outsider and
by a plain member where the rule says so; it must be refused (403/404), and a read-back must
show that nothing changed.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.domain.wallets.helpers import new_wallet, siwe_body
from tests.helpers import User, create_conversation, send_http, signup
from tests.media_support import upload

from .conftest import LiveNode

REFUSED = {403, 404}


async def refused(r: httpx.Response, *secrets: str) -> None:
    assert r.status_code in REFUSED, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
    for secret in secrets:
        assert secret not in r.text


async def test_someone_elses_ids_are_refused(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    api = live_api
    owner, member, outsider = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "private", [member], name="idor"))["id"]
    secret_body = "the quarterly numbers"
    mid = (await send_http(api, member, cid, secret_body)).json()["message_id"]
    upload_id, done = await upload(api, owner, cid, b"private file", filename="plan.txt", content_type="text/plain")
    assert done.status_code == 200, done.text
    pending_id, _ = await upload(
        api, owner, cid, b"not yet", filename="later.txt", content_type="text/plain", complete=False
    )
    report = await api.post(f"/messages/{mid}/reports", headers=owner.headers, json={"reason": "testing reports"})
    assert report.status_code == 201, report.text
    report_id = report.json()["id"]
    wallets: dict[int, Any] = {}
    for person in (owner, member):
        linked = await api.post("/me/wallets", headers=person.headers, json=await siwe_body(api, new_wallet()))
        assert linked.status_code == 201, linked.text
        wallets[person.id] = linked.json()
    intent = await api.post(
        "/tips/intents",
        headers=owner.headers,
        json={"conversation_id": cid, "message_id": mid, "token": "ETH", "amount": "0.5"},
    )
    assert intent.status_code == 201, intent.text
    intent_id = intent.json()["intent_id"]

    async def as_(user: User, method: str, path: str, **kw: Any) -> httpx.Response:
        return await api.request(method, path, headers=user.headers, **kw)

    # Reads of someone else's things.
    await refused(await as_(outsider, "GET", f"/messages/{mid}/tips"))
    await refused(await as_(outsider, "GET", f"/conversations/{cid}/tips/leaderboard"))
    await refused(await as_(outsider, "GET", f"/conversations/{cid}/slow-mode"))
    await refused(await as_(outsider, "GET", f"/media/attachments/{upload_id}"), "plan.txt")
    await refused(await as_(outsider, "GET", f"/media/attachments/{upload_id}/url"))
    await refused(await as_(outsider, "GET", f"/tips/intents/{intent_id}"))
    seen_by_recipient = await as_(member, "GET", f"/tips/intents/{intent_id}")  # theirs to see, not to pay
    assert seen_by_recipient.status_code == 200 and seen_by_recipient.json()["call"] is None
    # Writes on someone else's things.
    await refused(await as_(outsider, "POST", f"/messages/{mid}/reports", json={"reason": "spam spam"}))
    await refused(await as_(outsider, "POST", f"/reports/{report_id}/resolve", json={"resolution": "dismissed"}))
    await refused(await as_(member, "POST", f"/reports/{report_id}/resolve", json={"resolution": "dismissed"}))
    await refused(await as_(outsider, "PUT", f"/conversations/{cid}/slow-mode", json={"seconds": 60}))
    await refused(await as_(member, "PUT", f"/conversations/{cid}/slow-mode", json={"seconds": 60}))
    await refused(await as_(outsider, "POST", f"/media/uploads/{pending_id}/complete"))
    await refused(await as_(member, "POST", f"/media/uploads/{pending_id}/complete"))
    await refused(await as_(outsider, "POST", f"/tips/intents/{intent_id}/tx", json={"tx_hash": "0x" + "ab" * 32}))
    await refused(await as_(member, "DELETE", f"/me/wallets/{wallets[owner.id]['id']}"))
    await refused(await as_(member, "POST", f"/admin/users/{owner.id}/deactivate"))
    await refused(await as_(outsider, "POST", f"/admin/users/{member.id}/reactivate"))

    # Read back: nothing moved.
    assert (await as_(owner, "GET", f"/conversations/{cid}/slow-mode")).json()["slow_mode_s"] == 0
    assert (await as_(owner, "GET", f"/tips/intents/{intent_id}")).json()["state"] == "created"
    assert [w["id"] for w in (await as_(owner, "GET", "/me/wallets")).json()] == [wallets[owner.id]["id"]]
    assert (await as_(owner, "GET", "/me")).status_code == 200  # not deactivated
    history = (await as_(member, "GET", f"/conversations/{cid}/messages")).json()["messages"]
    assert [m["body"] for m in history] == [secret_body]
    completed = await as_(owner, "POST", f"/media/uploads/{pending_id}/complete")
    assert completed.status_code in (200, 422), completed.text  # still the owner's to complete
