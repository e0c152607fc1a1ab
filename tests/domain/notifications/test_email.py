"""Email notifications through a real SMTP server: DMs and mentions still unread after the delay
become one digest per person, with a one-click unsubscribe; reads, mute and the per-user setting
are respected (docs/subsystems/notifications.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Server, start_server
from tests.domain.mail.smtp import SmtpServer
from tests.helpers import User, create_conversation, send_http, signup

DELAY_S = 3.0  # long enough for a test to send everything it expects in one digest


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def notify_server(database_url: str, smtp: SmtpServer) -> AsyncIterator[Server]:
    async with start_server(
        database_url, notify_worker=True, notify_poll_interval_s=0.05, email_notify_delay_s=DELAY_S, **smtp.settings()
    ) as srv:
        yield srv


@pytest.fixture
async def api(notify_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=notify_server.base_url, timeout=30) as client:
        yield client


async def direct(api: httpx.AsyncClient, a: User, b: User) -> int:
    r = await api.post("/conversations/direct", headers=a.headers, json={"user_id": b.id})
    assert r.status_code in (200, 201), r.text
    cid: int = r.json()["id"]
    return cid


async def send(api: httpx.AsyncClient, user: User, cid: int, body: str) -> int:
    r = await send_http(api, user, cid, body)
    assert r.status_code in (200, 201), r.text
    seq: int = r.json()["seq"]
    return seq


def mails_to(smtp: SmtpServer, user: User) -> list[str]:
    return [m.text for m in smtp.received if user.email in m.rcpt_tos]


async def test_unread_dms_and_mentions_become_one_digest(api: httpx.AsyncClient, smtp: SmtpServer) -> None:
    alice, bob, carol = await signup(api, "alice_mail"), await signup(api, "bob_mail"), await signup(api)
    dm = await direct(api, bob, alice)
    await send(api, bob, dm, "first DM")
    await send(api, bob, dm, "second <b>DM</b>")
    room = await create_conversation(api, carol, kind="public", members=[alice, bob], name="general")
    await send(api, carol, room["id"], "nobody is mentioned")
    await send(api, carol, room["id"], f"@{alice.handle} can you review?")

    [mail] = await smtp.wait_for(1, timeout=15)
    assert mail.rcpt_tos == [alice.email]
    assert mail.message["Subject"] == "3 unread messages for you on Tipline"
    text = mail.text
    assert "first DM" in text and "second <b>DM</b>" in text and "can you review?" in text
    assert "nobody is mentioned" not in text
    assert "Direct message from Bob_Mail" in text and "#general" in text
    assert "second &lt;b&gt;DM&lt;/b&gt;" in mail.html
    # Nothing for Bob and Carol (nothing was addressed to them), and no second mail for Alice.
    await asyncio.sleep(DELAY_S + 0.5)
    assert len(smtp.received) == 1

    # One-click unsubscribe (RFC 8058): the header, and the link in the body.
    unsubscribe = mail.message["List-Unsubscribe"].strip().strip("<>")  # folded by SMTP: a legal leading space
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in text
    path = urlsplit(unsubscribe)
    local = f"{path.path}?{path.query}"
    # A GET (a link scanner) changes nothing: it shows a button.
    page = await api.get(local)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert (await api.get("/me/notifications", headers=alice.headers)).json()["email_enabled"] is True
    # A forged or reused-for-another-user token does nothing.
    query = parse_qs(path.query)
    r = await api.post(f"/notifications/unsubscribe?u={bob.id}&t={query['t'][0]}")
    assert r.status_code == 403
    assert (await api.get("/me/notifications", headers=bob.headers)).json()["email_enabled"] is True
    r = await api.post(local, content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200 and "Unsubscribed" in r.text
    assert (await api.get("/me/notifications", headers=alice.headers)).json()["email_enabled"] is False

    await send(api, bob, dm, "after unsubscribing")
    await asyncio.sleep(DELAY_S + 1.0)
    assert len(smtp.received) == 1


async def test_read_muted_and_mentions_only(api: httpx.AsyncClient, smtp: SmtpServer) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    dm = await direct(api, bob, alice)
    seq = await send(api, bob, dm, "read in time")
    r = await api.post(f"/conversations/{dm}/read", headers=alice.headers, json={"seq": seq})
    assert r.status_code == 200, r.text

    group = await create_conversation(api, bob, members=[alice, carol], name="trio")
    r = await api.put(f"/conversations/{group['id']}/notifications", headers=alice.headers, json={"level": "mute"})
    assert r.status_code == 200
    await send(api, bob, group["id"], f"@{alice.handle} muted mention")
    r = await api.put(f"/conversations/{group['id']}/notifications", headers=carol.headers, json={"level": "mentions"})
    await send(api, bob, group["id"], "group chatter, no mention")
    await asyncio.sleep(DELAY_S + 1.0)
    assert mails_to(smtp, alice) == [] and mails_to(smtp, carol) == []

    # Carol's mentions still come.
    await send(api, bob, group["id"], f"@{carol.handle} your turn")
    [mail] = await smtp.wait_for(1, timeout=15)
    assert carol.email in mail.rcpt_tos and "your turn" in mail.text
    assert mail.message["Subject"] == f"{bob.handle.title()} sent you a message on Tipline"
