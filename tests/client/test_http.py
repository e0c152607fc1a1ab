"""The client's HTTP part (tipline_client.Tipline and AsyncTipline) against a real server, with a
personal access token: typed answers from the generated models, idempotent sends, refusals as
TiplineError with the server's code, the token only ever in the Authorization header."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tipline_client import AsyncTipline, Tipline, TiplineError, models

from tests.client.helpers import scene
from tests.conftest import Server
from tests.helpers import signup
from tipline.domain.moderation.actions import do_grant_admin


async def test_the_async_client_reads_and_sends_with_a_token(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(timeout=30, base_url=server.base_url, event_hooks={"request": [lambda r: _seen(seen, r)]})
    async with AsyncTipline(server.base_url, s.alice_token, http=http) as client:
        me = await client.me()
        assert isinstance(me, models.MeOut) and me.id == s.alice.id and me.is_bot is False
        (conv,) = await client.conversations()
        assert conv.id == s.conversation_id

        ack = await client.send_message(s.conversation_id, "hello @" + s.bob.handle, client_msg_id="http-1")
        again = await client.send_message(s.conversation_id, "hello @" + s.bob.handle, client_msg_id="http-1")
        assert isinstance(ack, models.Ack) and ack.duplicate is False
        assert again.duplicate is True and again.message_id == ack.message_id and again.seq == ack.seq
        page = await client.history(s.conversation_id)
        assert [m.body for m in page.messages] == ["hello @" + s.bob.handle]
        assert page.messages[0].mention_ids == [s.bob.id]
        replay = await client.events(s.conversation_id, since=0)
        assert replay.last_seq == ack.seq

        with pytest.raises(TiplineError) as missing:
            await client.message(10**12)
        assert missing.value.status == 404 and missing.value.code == "message_not_found"
        # A token without conversations:write may not create conversations.
        with pytest.raises(TiplineError) as scoped:
            await client.create_conversation("group", "nope")
        assert scoped.value.status == 403 and scoped.value.code == "insufficient_scope"
        # Input is checked against the generated models before anything is sent.
        with pytest.raises(ValueError):
            await client.send_message(s.conversation_id, "x", client_msg_id="not allowed!")
    assert seen and all(s.alice_token not in str(r.url) for r in seen)
    assert all(r.headers["authorization"] == f"Bearer {s.alice_token}" for r in seen)


async def _seen(into: list[httpx.Request], request: httpx.Request) -> None:
    into.append(request)


async def test_the_sync_client_signs_in_and_manages_a_bot(api: httpx.AsyncClient, server: Server) -> None:
    owner = await signup(api)
    await do_grant_admin(server.rt, login=owner.handle)

    def as_owner() -> tuple[models.BotOut, models.ApiTokenCreated, models.MeOut]:
        with Tipline(server.base_url) as client:
            client.sign_in(owner.email, "a long enough passphrase 42")
            bot = client.create_bot("syncbot", "Sync Bot", "made by the sync client")
            token = client.create_bot_token(bot.user.id, "ci", ["messages:read", "conversations:read"], 7)
            assert [t.id for t in client.tokens()] == []  # the bot's token is not the owner's
        with Tipline(server.base_url, token.token) as as_bot:
            return bot, token, as_bot.me()

    # The server runs on this event loop: the blocking client runs in a thread.
    bot, token, me = await asyncio.to_thread(as_owner)
    assert bot.user.is_bot is True and me.id == bot.user.id and me.is_bot is True
    assert token.token.startswith("tlp_") and token.scopes == ["conversations:read", "messages:read"]

    def after_revoking() -> int:
        with Tipline(server.base_url) as client:
            client.sign_in(owner.email, "a long enough passphrase 42")
            client.revoke_bot_token(bot.user.id, str(token.id))
        with Tipline(server.base_url, token.token) as as_bot:
            try:
                as_bot.me()
            except TiplineError as exc:
                return exc.status
        return 200

    assert await asyncio.to_thread(after_revoking) == 401


async def test_a_token_made_through_the_client_works(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)
    async with AsyncTipline(server.base_url, s.alice.token) as client:
        made = await client.create_token("script", ["messages:read"], 1)
        assert made.id in [t.id for t in await client.tokens()]
    async with AsyncTipline(server.base_url, made.token) as script:
        assert (await script.history(s.conversation_id)).messages == []
        with pytest.raises(TiplineError) as refused:
            await script.send_message(s.conversation_id, "no write scope")
        assert refused.value.code == "insufficient_scope"
