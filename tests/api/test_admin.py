"""The admin console's API: admins only on every route, users (search, deactivate, reactivate,
reset 2FA, admin flag, sessions), the report queue's actions, the audit log (with the client's
IP, filters, export) and the status page."""

from __future__ import annotations

import csv
import io
import uuid

import asyncpg
import httpx
import orjson
import pytest
from fastapi.routing import APIRoute

from tests.api.twofactor_helpers import enrol_totp
from tests.conftest import Server
from tests.helpers import PASSWORD, User, Ws, create_conversation, is_event, send_http, signup
from tipline.domain.moderation.actions import do_grant_admin

IP = "127.0.0.1"  # what the test server sees of this client


async def make_admin(api: httpx.AsyncClient, server: Server) -> User:
    user = await signup(api)
    await do_grant_admin(server.rt, login=user.handle)
    return user


async def audit(api: httpx.AsyncClient, admin: User, **params: object) -> list[dict[str, object]]:
    r = await api.get("/admin/audit", headers=admin.headers, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def reported_message(api: httpx.AsyncClient, sender: User, reporter: User, body: str = "buy my coins") -> dict:
    cid = (await create_conversation(api, sender, "group", [reporter]))["id"]
    mid = (await send_http(api, sender, cid, body)).json()["message_id"]
    r = await api.post(f"/messages/{mid}/reports", headers=reporter.headers, json={"reason": "spam"})
    assert r.status_code == 201, r.text
    report: dict = r.json()
    return report


def every_route(target: int, report_id: int, session_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/admin/users", None),
        ("GET", f"/admin/users/{target}", None),
        ("POST", f"/admin/users/{target}/deactivate", None),
        ("POST", f"/admin/users/{target}/reactivate", None),
        ("PUT", f"/admin/users/{target}/admin", {"is_admin": True}),
        ("POST", f"/admin/users/{target}/reset-2fa", None),
        ("DELETE", f"/admin/users/{target}/sessions", None),
        ("DELETE", f"/admin/users/{target}/sessions/{session_id}", None),
        ("GET", "/admin/reports", None),
        ("GET", f"/admin/reports/{report_id}", None),
        ("POST", f"/admin/reports/{report_id}/actions", {"action": "dismiss"}),
        ("GET", "/admin/audit", None),
        ("GET", "/admin/audit/export", None),
        ("GET", "/admin/status", None),
    ]


async def test_every_admin_route_refuses_non_admins(api: httpx.AsyncClient, server: Server) -> None:
    root, alice, bob = await make_admin(api, server), await signup(api), await signup(api)
    report = await reported_message(api, bob, alice)
    routes = every_route(bob.id, report["id"], bob.session_id)
    # The console's routes are exactly these (a new route must be added here, and so checked).
    assert sum(len(r.methods) for r in admin_routes()) == len(routes)
    for method, path, body in routes:
        r = await api.request(method, path, headers=alice.headers, json=body)
        assert r.status_code == 403 and r.json()["code"] == "not_a_server_admin", (method, path, r.text)
        assert (await api.request(method, path, json=body)).status_code == 401
    # Refused before the body's fields are validated: a non-admin learns nothing about them.
    r = await api.put(f"/admin/users/{bob.id}/admin", headers=alice.headers, json={"is_admin": "maybe"})
    assert r.status_code == 403
    # A demoted admin is refused at once (the flag is read on every request, not from the token).
    await do_grant_admin(server.rt, login=alice.handle)
    assert (await api.get("/admin/users", headers=alice.headers)).status_code == 200
    await do_grant_admin(server.rt, login=alice.handle, admin=False)
    assert (await api.get("/admin/users", headers=alice.headers)).status_code == 403
    # Nothing moved, nothing was audited by the refused calls.
    assert (await api.get("/me", headers=bob.headers)).status_code == 200
    entries = await audit(api, root)
    assert {e["action"] for e in entries} <= {"user.admin_grant", "user.admin_revoke"}


def admin_routes() -> list[APIRoute]:
    from tipline.api.admin import router

    return [r for r in router.routes if isinstance(r, APIRoute)]


async def test_search_and_page_users(api: httpx.AsyncClient, server: Server) -> None:
    root = await make_admin(api, server)
    tag = uuid.uuid4().hex[:6]
    people = [await signup(api, f"zed{tag}{i}") for i in range(5)]
    r = await api.get("/admin/users", headers=root.headers, params={"q": f"zed{tag}", "limit": 2})
    page = r.json()
    assert r.status_code == 200 and page["total"] == 5 and len(page["items"]) == 2
    assert [u["id"] for u in page["items"]] == [people[4].id, people[3].id]  # newest first
    r = await api.get("/admin/users", headers=root.headers, params={"q": f"zed{tag}", "limit": 2, "offset": 4})
    assert [u["id"] for u in r.json()["items"]] == [people[0].id]
    # By email, by display name, by @handle; wildcards are literal.
    by_email = await api.get("/admin/users", headers=root.headers, params={"q": people[1].email.upper()})
    assert [u["handle"] for u in by_email.json()["items"]] == [people[1].handle]
    by_handle = await api.get("/admin/users", headers=root.headers, params={"q": f"@{people[2].handle}"})
    assert [u["id"] for u in by_handle.json()["items"]] == [people[2].id]
    assert (await api.get("/admin/users", headers=root.headers, params={"q": "%"})).json()["total"] == 0
    admins = (await api.get("/admin/users", headers=root.headers, params={"state": "admins"})).json()
    assert [u["id"] for u in admins["items"]] == [root.id]
    bad = await api.get("/admin/users", headers=root.headers, params={"state": "nobody", "limit": 0})
    assert bad.status_code == 422
    assert (await api.get("/admin/users/999999", headers=root.headers)).json()["code"] == "user_not_found"


async def test_deactivate_and_reactivate_are_audited_with_the_ip(api: httpx.AsyncClient, server: Server) -> None:
    root, bob = await make_admin(api, server), await signup(api)
    ws = await Ws.open(server.ws_url, bob)
    r = await api.post(f"/admin/users/{bob.id}/deactivate", headers=root.headers)
    assert r.json() == {"user_id": bob.id, "is_active": False, "sessions_revoked": 1}
    await ws.conn.wait_closed()
    assert (await api.get("/me", headers=bob.headers)).status_code == 401
    detail = (await api.get(f"/admin/users/{bob.id}", headers=root.headers)).json()
    assert detail["is_active"] is False and detail["sessions"] == []
    assert (await api.post(f"/admin/users/{bob.id}/reactivate", headers=root.headers)).json()["is_active"] is True
    entries = await audit(api, root, target_type="user", target_id=str(bob.id))
    assert [(e["action"], e["actor_id"], e["actor_handle"], e["ip"]) for e in entries] == [
        ("user.reactivate", root.id, root.handle, IP),
        ("user.deactivate", root.id, root.handle, IP),
    ]
    assert entries[1]["details"] == {"sessions_revoked": 1, "was_active": True}
    r = await api.post(f"/admin/users/{root.id}/deactivate", headers=root.headers)
    assert r.status_code == 409 and r.json()["code"] == "deactivate_self"


async def test_last_admin_cannot_be_demoted_or_deactivated(api: httpx.AsyncClient, server: Server) -> None:
    root, carol = await make_admin(api, server), await signup(api)
    r = await api.put(f"/admin/users/{root.id}/admin", headers=root.headers, json={"is_admin": False})
    assert r.status_code == 409 and r.json()["code"] == "last_admin" and "last active admin" in r.json()["detail"]
    r = await api.put(f"/admin/users/{carol.id}/admin", headers=root.headers, json={"is_admin": True})
    assert r.status_code == 200 and r.json()["is_admin"] is True
    # Two admins now: one may step down, and then the other is the last one.
    r = await api.put(f"/admin/users/{root.id}/admin", headers=root.headers, json={"is_admin": False})
    assert r.status_code == 200 and r.json()["is_admin"] is False
    assert (await api.get("/admin/users", headers=root.headers)).status_code == 403
    r = await api.put(f"/admin/users/{carol.id}/admin", headers=carol.headers, json={"is_admin": False})
    assert r.status_code == 409 and r.json()["code"] == "last_admin"
    entries = await audit(api, carol, action="user.")
    assert [(e["action"], e["target_id"], e["actor_id"], e["ip"]) for e in entries][:2] == [
        ("user.admin_revoke", str(root.id), root.id, IP),
        ("user.admin_grant", str(carol.id), root.id, IP),
    ]
    # Deactivating the last admin is refused too (here by a moment's second admin, once demoted).
    dave = await signup(api)
    assert (await api.put(f"/admin/users/{dave.id}/admin", headers=carol.headers, json={"is_admin": True})).is_success
    r = await api.put(f"/admin/users/{dave.id}/admin", headers=carol.headers, json={"is_admin": False})
    assert r.status_code == 200
    r = await api.put(f"/admin/users/{carol.id}/admin", headers=carol.headers, json={"is_admin": "yes please"})
    assert r.status_code == 422


async def test_concurrent_mutual_demotion_leaves_one_admin(api: httpx.AsyncClient, server: Server) -> None:
    import asyncio

    a, b = await make_admin(api, server), await make_admin(api, server)
    ra, rb = await asyncio.gather(
        api.put(f"/admin/users/{b.id}/admin", headers=a.headers, json={"is_admin": False}),
        api.put(f"/admin/users/{a.id}/admin", headers=b.headers, json={"is_admin": False}),
    )
    assert sorted([ra.status_code, rb.status_code]) == [200, 403]
    admins = await api.get("/admin/users", headers=(a if ra.is_success else b).headers, params={"state": "admins"})
    assert len(admins.json()["items"]) == 1


async def test_bots_cannot_be_admins(api: httpx.AsyncClient, server: Server) -> None:
    root = await make_admin(api, server)
    bot = await api.post(
        "/bots", headers=root.headers, json={"handle": f"b{uuid.uuid4().hex[:8]}", "display_name": "B"}
    )
    assert bot.status_code == 201, bot.text
    r = await api.put(f"/admin/users/{bot.json()['user']['id']}/admin", headers=root.headers, json={"is_admin": True})
    assert r.status_code == 422 and r.json()["code"] == "bot_admin"


async def test_reset_two_factor_removes_totp_codes_and_passkeys(api: httpx.AsyncClient, server: Server) -> None:
    root, bob = await make_admin(api, server), await signup(api)
    await enrol_totp(api, bob)
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute(
            "INSERT INTO passkeys (credential_id, user_id, public_key, name) VALUES ($1, $2, $3, 'laptop')",
            b"cred-1",
            bob.id,
            b"key",
        )
    finally:
        await conn.close()
    factors = (await api.get(f"/admin/users/{bob.id}", headers=root.headers)).json()["second_factors"]
    assert factors == {"totp": True, "recovery_codes_left": 10, "passkeys": 1}
    r = await api.post(f"/admin/users/{bob.id}/reset-2fa", headers=root.headers)
    assert r.json() == {"user_id": bob.id, "totp_removed": True, "recovery_codes_removed": 10, "passkeys_removed": 1}
    factors = (await api.get(f"/admin/users/{bob.id}", headers=root.headers)).json()["second_factors"]
    assert factors == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}
    # Bob signs in with his password alone again.
    r = await api.post("/auth/signin", json={"email": bob.email, "password": PASSWORD})
    assert r.status_code == 200 and "access_token" in r.json()
    [entry] = await audit(api, root, action="user.reset_2fa")
    assert entry["target_id"] == str(bob.id) and entry["ip"] == IP
    assert entry["details"] == {"totp": True, "recovery_codes": 10, "passkeys": 1}
    r = await api.post("/admin/users/999999/reset-2fa", headers=root.headers)
    assert r.status_code == 404


async def test_sessions_are_listed_and_revoked(api: httpx.AsyncClient, server: Server) -> None:
    root, bob = await make_admin(api, server), await signup(api)
    second = (await api.post("/auth/signin", json={"email": bob.email, "password": PASSWORD})).json()
    sessions = (await api.get(f"/admin/users/{bob.id}", headers=root.headers)).json()["sessions"]
    assert {s["id"] for s in sessions} == {bob.session_id, second["session_id"]}
    assert all(s["ip"] == IP and s["kind"] == "session" for s in sessions)
    # Someone else's session id is not found under bob.
    r = await api.delete(f"/admin/users/{bob.id}/sessions/{root.session_id}", headers=root.headers)
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    r = await api.delete(f"/admin/users/{bob.id}/sessions/{bob.session_id}", headers=root.headers)
    assert r.json() == {"user_id": bob.id, "sessions_revoked": 1}
    assert (await api.get("/me", headers=bob.headers)).status_code == 401
    assert (await api.get("/me", headers={"Authorization": f"Bearer {second['access_token']}"})).status_code == 200
    r = await api.delete(f"/admin/users/{bob.id}/sessions", headers=root.headers)
    assert r.json()["sessions_revoked"] == 1
    assert (await api.get("/me", headers={"Authorization": f"Bearer {second['access_token']}"})).status_code == 401
    entries = await audit(api, root, action="user.revoke_sessions")
    assert [e["details"]["sessions"] for e in entries] == [[second["session_id"]], [bob.session_id]]
    assert (await api.delete(f"/admin/users/{bob.id}/sessions/not-a-uuid", headers=root.headers)).status_code == 422


async def test_report_queue_dismiss_and_history(api: httpx.AsyncClient, server: Server) -> None:
    root, alice, bob = await make_admin(api, server), await signup(api), await signup(api)
    report = await reported_message(api, bob, alice)
    queue = (await api.get("/admin/reports", headers=root.headers)).json()
    [item] = [q for q in queue if q["id"] == report["id"]]
    assert item["reporter"]["id"] == alice.id and item["sender"]["id"] == bob.id
    assert item["message_body"] == "buy my coins" and item["resolved_at"] is None
    r = await api.post(
        f"/admin/reports/{report['id']}/actions", headers=root.headers, json={"action": "dismiss", "note": "fine"}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["resolution"] == "dismissed: fine" and done["resolved_by"]["id"] == root.id
    assert [(h["action"], h["actor_id"], h["ip"]) for h in done["history"]] == [("report.dismiss", root.id, IP)]
    assert report["id"] not in [q["id"] for q in (await api.get("/admin/reports", headers=root.headers)).json()]
    resolved = (await api.get("/admin/reports", headers=root.headers, params={"state": "resolved"})).json()
    assert [q["id"] for q in resolved] == [report["id"]]
    again = await api.post(f"/admin/reports/{report['id']}/actions", headers=root.headers, json={"action": "dismiss"})
    assert again.status_code == 409 and again.json()["code"] == "report_resolved"
    bad = await api.post(f"/admin/reports/{report['id']}/actions", headers=root.headers, json={"action": "ban"})
    assert bad.status_code == 422
    assert (await api.get("/admin/reports/999999", headers=root.headers)).status_code == 404


async def test_report_delete_message_resolves_every_report_of_it(api: httpx.AsyncClient, server: Server) -> None:
    root, alice, bob, carol = await make_admin(api, server), await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, bob, "group", [alice, carol]))["id"]
    mid = (await send_http(api, bob, cid, "rude words")).json()["message_id"]
    first = (await api.post(f"/messages/{mid}/reports", headers=alice.headers, json={"reason": "rude"})).json()
    second = (await api.post(f"/messages/{mid}/reports", headers=carol.headers, json={"reason": "mean"})).json()
    ws = await Ws.open(server.ws_url, alice)
    # The admin is not a member of the conversation, and still deletes the message.
    r = await api.post(f"/admin/reports/{first['id']}/actions", headers=root.headers, json={"action": "delete_message"})
    assert r.status_code == 200, r.text
    assert r.json()["message_deleted"] is True and r.json()["resolution"] == "message_deleted"
    event = await ws.expect(is_event("message.deleted", id=mid))
    assert event["data"]["by"] == root.id
    msg = (await api.get(f"/messages/{mid}", headers=alice.headers)).json()
    assert msg["body"] == "" and msg["deleted"] is True
    other = (await api.get(f"/admin/reports/{second['id']}", headers=root.headers)).json()
    assert other["resolved_by"]["id"] == root.id
    assert other["history"][0]["details"]["via_report"] == first["id"]


async def test_report_deactivate_sender(api: httpx.AsyncClient, server: Server) -> None:
    root, alice, bob = await make_admin(api, server), await signup(api), await signup(api)
    report = await reported_message(api, bob, alice)
    r = await api.post(
        f"/admin/reports/{report['id']}/actions", headers=root.headers, json={"action": "deactivate_sender"}
    )
    assert r.status_code == 200 and r.json()["resolution"] == "sender_deactivated"
    assert (await api.get("/me", headers=bob.headers)).status_code == 401
    entries = await audit(api, root)
    assert [(e["action"], e["target_type"], e["target_id"]) for e in entries[:2]] == [
        ("report.deactivate_sender", "report", str(report["id"])),
        ("user.deactivate", "user", str(bob.id)),
    ]
    assert entries[1]["details"]["via"] == f"report:{report['id']}"


async def test_a_refused_report_action_changes_nothing(api: httpx.AsyncClient, server: Server) -> None:
    """Deactivating the sender is refused when the sender is the acting admin: nothing is
    resolved and nothing audited (the action and its audit entry commit together)."""
    root, alice = await make_admin(api, server), await signup(api)
    report = await reported_message(api, root, alice)
    r = await api.post(
        f"/admin/reports/{report['id']}/actions", headers=root.headers, json={"action": "deactivate_sender"}
    )
    assert r.status_code == 409 and r.json()["code"] == "deactivate_self"
    assert (await api.get(f"/admin/reports/{report['id']}", headers=root.headers)).json()["resolved_at"] is None
    assert await audit(api, root, action="report.") == []


async def test_existing_moderation_actions_are_audited(api: httpx.AsyncClient, server: Server) -> None:
    """Conversation managers' moderation (resolving a report, slow mode, deleting someone's message,
    removing a member) lands in the audit log."""
    root, owner, member = await make_admin(api, server), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [member]))["id"]
    mid = (await send_http(api, owner, cid, "hmm")).json()["message_id"]
    own = (await send_http(api, member, cid, "mine")).json()["message_id"]
    theirs = (await send_http(api, member, cid, "not ok")).json()["message_id"]
    report = (await api.post(f"/messages/{mid}/reports", headers=member.headers, json={"reason": "x"})).json()
    r = await api.post(f"/reports/{report['id']}/resolve", headers=owner.headers, json={"resolution": "dismissed"})
    assert r.status_code == 200
    assert (await api.put(f"/conversations/{cid}/slow-mode", headers=owner.headers, json={"seconds": 30})).is_success
    entries = await audit(api, root)
    assert [(e["action"], e["actor_id"], e["target_type"], e["target_id"], e["ip"]) for e in entries[:2]] == [
        ("conversation.slow_mode", owner.id, "conversation", str(cid), IP),
        ("report.resolve", owner.id, "report", str(report["id"]), IP),
    ]
    history = (await api.get(f"/admin/reports/{report['id']}", headers=root.headers)).json()["history"]
    assert [h["action"] for h in history] == ["report.resolve"]
    # A manager deleting someone else's message and removing a member are audited; deleting
    # one's own message is not moderation.
    assert (await api.delete(f"/messages/{own}", headers=member.headers)).is_success
    assert (await api.delete(f"/messages/{theirs}", headers=owner.headers)).is_success
    assert (await api.delete(f"/conversations/{cid}/members/{member.id}", headers=owner.headers)).is_success
    entries = await audit(api, root)
    assert [(e["action"], e["actor_id"], e["target_id"], e["ip"], e["details"]) for e in entries[:2]] == [
        ("conversation.remove_member", owner.id, str(cid), IP, {"user_id": member.id, "role": "member"}),
        ("message.delete", owner.id, str(theirs), IP, {"conversation_id": cid, "sender_id": member.id}),
    ]
    assert str(own) not in [e["target_id"] for e in entries]


async def test_audit_filters_paging_and_export(api: httpx.AsyncClient, server: Server) -> None:
    root = await make_admin(api, server)
    people = [await signup(api) for _ in range(3)]
    for p in people:
        await api.post(f"/admin/users/{p.id}/deactivate", headers=root.headers)
    await api.post(f"/admin/users/{people[0].id}/reactivate", headers=root.headers)
    page = (await api.get("/admin/audit", headers=root.headers, params={"limit": 2, "action": "user."})).json()
    assert len(page["items"]) == 2 and page["next_before"] == page["items"][1]["id"]
    rest = await api.get(
        "/admin/audit", headers=root.headers, params={"before": page["next_before"], "action": "user."}
    )
    seen = [e["action"] for e in page["items"] + rest.json()["items"]]
    assert seen[:4] == ["user.reactivate", "user.deactivate", "user.deactivate", "user.deactivate"]
    only = await audit(api, root, action="user.reactivate", actor_id=root.id)
    assert [e["target_id"] for e in only] == [str(people[0].id)]
    assert await audit(api, root, since="2999-01-01T00:00:00Z") == []
    assert (await api.get("/admin/audit", headers=root.headers, params={"since": "yesterday"})).status_code == 422

    r = await api.get("/admin/audit/export", headers=root.headers, params={"format": "jsonl", "action": "user."})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert (
        r.headers["content-disposition"].startswith("attachment; filename=")
        and ".jsonl" in r.headers["content-disposition"]
    )
    lines = [orjson.loads(line) for line in r.content.splitlines()]
    assert [x["action"] for x in lines][:4] == seen[:4] and all(x["ip"] == IP for x in lines if x["actor_id"])
    r = await api.get("/admin/audit/export", headers=root.headers, params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    # Each export is itself audited (before its rows are read): this one, then the jsonl one.
    assert [(row["action"], orjson.loads(row["details"])["format"]) for row in rows[:2]] == [
        ("audit.export", "csv"),
        ("audit.export", "jsonl"),
    ]
    assert orjson.loads(rows[1]["details"])["filters"] == {"action": "user."} and rows[1]["ip"] == IP
    assert {row["target_id"] for row in rows if row["action"] == "user.deactivate"} == {str(p.id) for p in people}
    assert (await api.get("/admin/audit/export", headers=root.headers, params={"format": "xml"})).status_code == 422


def test_audit_log_has_no_update_or_delete_route() -> None:
    for route in admin_routes():
        if route.path.startswith("/admin/audit"):
            assert route.methods == {"GET"}, route.path


@pytest.mark.parametrize("mail_rows", [3])
async def test_status_page(api: httpx.AsyncClient, server: Server, mail_rows: int) -> None:
    root = await make_admin(api, server)
    conn = await asyncpg.connect(server.database_url)
    try:
        for i in range(mail_rows):
            await conn.execute(
                'INSERT INTO mail_outbox ("to", subject, text, html, attempts) VALUES ($1, $2, $3, $4, $5)',
                f"p{i}@example.com",
                "s",
                "t",
                "<p>t</p>",
                i,
            )
        await conn.execute(
            'INSERT INTO mail_outbox ("to", subject, text, html, sent_at, next_attempt_at) '
            "VALUES ('done@example.com', 's', 't', 'h', now(), NULL)"
        )
    finally:
        await conn.close()
    ws = await Ws.open(server.ws_url, root)
    r = await api.get("/admin/status", headers=root.headers)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["database"]["reachable"] is True and s["database"]["latency_ms"] >= 0
    assert s["redis"] == {"configured": False, "reachable": False, "latency_ms": None, "error": None}
    assert s["node_id"] == server.rt.node_id and s["bus_healthy"] is True
    assert s["nodes"] == [{"id": server.rt.node_id, "this_node": True, "connections": 1, "users": 1}]
    assert s["mail"]["pending"] == mail_rows and s["mail"]["retrying"] == mail_rows - 1
    assert s["mail"]["sent_last_hour"] == 1 and s["mail"]["oldest_pending_s"] >= 0
    assert s["watcher"]["configured"] is False and s["watcher"]["pending_tips"] == 0
    queues = {q["name"]: q for q in s["queues"]}
    assert queues["mail_outbox"]["pending"] == mail_rows and queues["tips_pending"]["pending"] == 0
    # Every background queue a node works through is on the page.
    assert set(queues) == {
        "mail_outbox",
        "tips_pending",
        "push_outbox",
        "email_digests_due",
        "webhook_deliveries",
        "data_exports",
    }
    assert all(q["pending"] == 0 for name, q in queues.items() if name not in ("mail_outbox",))
    await ws.close()
