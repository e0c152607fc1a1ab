"""The example bots (examples/echo_bot.py, examples/tip_thanks_bot.py) run as their own processes
with a bot token from the environment, against a real server: the echo bot answers a mention and
a direct message (and nothing else); the tip-thanks bot thanks the tipper of a tip paid on anvil
once it is confirmed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.chain.tipping import create_intent, make_room, pay, report
from tests.client.helpers import make_token
from tests.conftest import Server
from tests.helpers import User, create_conversation, send_http, signup
from tipline.chain.rpc import Rpc
from tipline.domain.moderation.actions import do_grant_admin

ROOT = Path(__file__).resolve().parents[2]
BOT_SCOPES = ["messages:read", "messages:write", "conversations:read"]


async def make_bot(api: httpx.AsyncClient, server: Server, handle: str) -> tuple[int, str]:
    owner = await signup(api)
    await do_grant_admin(server.rt, login=owner.handle)
    made = await api.post("/bots", headers=owner.headers, json={"handle": handle, "display_name": handle.title()})
    assert made.status_code == 201, made.text
    bot_id: int = made.json()["user"]["id"]
    return bot_id, await make_token(api, owner, BOT_SCOPES, path=f"/bots/{bot_id}/tokens")


@dataclass
class Example:
    proc: asyncio.subprocess.Process
    stderr: bytearray


@contextlib.asynccontextmanager
async def example(name: str, server: Server, token: str) -> AsyncIterator[Example]:
    """The example as a process of its own; yields once it says it is ready, stops it with SIGTERM
    (it must then exit 0). Its stderr (logs) is kept for the failure messages."""
    env = {**os.environ, "TIPLINE_URL": server.base_url, "TIPLINE_TOKEN": token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / name),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    ex = Example(proc, bytearray())
    stderr, stdout = proc.stderr, proc.stdout

    async def drain() -> None:
        while chunk := await stderr.read(4096):
            ex.stderr.extend(chunk)

    reader = asyncio.create_task(drain())
    try:
        line = await asyncio.wait_for(stdout.readline(), 20)
        assert b"ready as @" in line, (line, bytes(ex.stderr))
        yield ex
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await reader
    assert proc.returncode == 0, bytes(ex.stderr)
    assert token.encode() not in ex.stderr  # the token is never logged


async def messages_of(api: httpx.AsyncClient, user: User, cid: int) -> list[dict[str, Any]]:
    r = await api.get(f"/conversations/{cid}/messages", headers=user.headers)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["messages"]
    return found


async def wait_for_message(
    api: httpx.AsyncClient, user: User, cid: int, body: str, timeout: float = 10.0
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for m in await messages_of(api, user, cid):
                if m["body"] == body:
                    return m
            await asyncio.sleep(0.05)


async def test_the_echo_bot_answers_mentions_and_direct_messages(api: httpx.AsyncClient, server: Server) -> None:
    bot_id, token = await make_bot(api, server, "echobot")
    alice, bob = await signup(api), await signup(api)
    room = await create_conversation(api, alice, members=[bob])
    invited = await api.post(f"/conversations/{room['id']}/members", headers=alice.headers, json={"user_id": bot_id})
    assert invited.status_code == 201, invited.text
    direct = await api.post("/conversations/direct", headers=bob.headers, json={"user_id": bot_id})
    assert direct.status_code == 200, direct.text

    async with example("echo_bot.py", server, token):
        plain = await send_http(api, alice, room["id"], "no mention here")
        mention = await send_http(api, alice, room["id"], "hi @echobot, are you there?")
        dm = await send_http(api, bob, direct.json()["id"], "ping")
        answer = await wait_for_message(api, alice, room["id"], "echo: hi @echobot, are you there?")
        assert answer["sender_id"] == bot_id and answer["reply_to_id"] == mention.json()["message_id"]
        dm_answer = await wait_for_message(api, bob, direct.json()["id"], "echo: ping")
        assert dm_answer["reply_to_id"] == dm.json()["message_id"]
        await asyncio.sleep(0.5)
    # One answer each: none to the message without a mention, none to its own answers.
    in_room = [m for m in await messages_of(api, alice, room["id"]) if m["sender_id"] == bot_id]
    assert [m["body"] for m in in_room] == ["echo: hi @echobot, are you there?"]
    assert plain.status_code == 201
    in_dm = [m["body"] for m in await messages_of(api, bob, direct.json()["id"])]
    assert sorted(in_dm) == ["echo: ping", "ping"]


async def test_the_tip_thanks_bot_thanks_the_tipper_once_the_tip_is_confirmed(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    bot_id, token = await make_bot(tip_api, tip_server, "thanksbot")
    invited = await tip_api.post(
        f"/conversations/{room.conversation_id}/members", headers=room.tipper.headers, json={"user_id": bot_id}
    )
    assert invited.status_code == 201, invited.text

    async with example("tip_thanks_bot.py", tip_server, token) as bot:
        intent = await create_intent(tip_api, room, amount="0.1")
        tx_hash = await pay(rpc, intent)
        assert (await report(tip_api, room.tipper, intent["intent_id"], tx_hash)).status_code == 200
        await asyncio.sleep(0.5)
        # Pending is not confirmed: no thanks yet.
        assert not [
            m for m in await messages_of(tip_api, room.recipient, room.conversation_id) if m["sender_id"] == bot_id
        ]
        await rpc.call("evm_mine")
        thanks = f"Thank you @{room.tipper.handle} for tipping @{room.recipient.handle} 0.1 ETH!"
        try:
            seen = await wait_for_message(tip_api, room.recipient, room.conversation_id, thanks)
        except TimeoutError:
            found = await messages_of(tip_api, room.recipient, room.conversation_id)
            raise AssertionError((found, bytes(bot.stderr).decode())) from None
        assert seen["sender_id"] == bot_id
        await asyncio.sleep(0.3)
    from_bot = [m for m in await messages_of(tip_api, room.recipient, room.conversation_id) if m["sender_id"] == bot_id]
    assert len(from_bot) == 1
