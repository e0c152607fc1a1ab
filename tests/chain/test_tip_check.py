"""GET /conversations/{id}/tips/recipients/{user_id}: the tip dialog asks whether a tip can go
through before anyone presses Send (docs/subsystems/tipping.md). Nothing is created."""

from __future__ import annotations

import asyncpg
import httpx

from tests.chain.tipping import link_wallet, make_room
from tests.conftest import Server
from tests.helpers import User, create_conversation, signup

OTHER, FOURTH = "0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


async def check(api: httpx.AsyncClient, user: User, conversation_id: int, recipient_id: int) -> httpx.Response:
    return await api.get(f"/conversations/{conversation_id}/tips/recipients/{recipient_id}", headers=user.headers)


async def intents(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tip_intents"))
    finally:
        await conn.close()


async def test_the_check_answers_what_an_intent_would(tip_server: Server, tip_api: httpx.AsyncClient) -> None:
    before = await intents(tip_server.database_url)
    room = await make_room(tip_api, tip_server.database_url)
    r = await check(tip_api, room.tipper, room.conversation_id, room.recipient.id)
    assert r.status_code == 200 and r.json() == {"can_tip": True, "code": None, "detail": None}

    # The recipient has no wallet: said at once, in the intent's own words.
    bare = await make_room(tip_api, tip_server.database_url, link=False)
    await link_wallet(tip_server.database_url, bare.tipper, OTHER)
    body = (await check(tip_api, bare.tipper, bare.conversation_id, bare.recipient.id)).json()
    assert body["can_tip"] is False and body["code"] == "recipient_no_wallet"
    assert "not linked a wallet" in body["detail"]
    # The other way round, the tipper is the one without a wallet.
    body = (await check(tip_api, bare.recipient, bare.conversation_id, bare.tipper.id)).json()
    assert (body["can_tip"], body["code"]) == (False, "tipper_no_wallet")
    await link_wallet(tip_server.database_url, bare.recipient, FOURTH)
    assert (await check(tip_api, bare.tipper, bare.conversation_id, bare.recipient.id)).json()["can_tip"] is True

    # Oneself, someone who is not a member, a block either way.
    assert (await check(tip_api, room.tipper, room.conversation_id, room.tipper.id)).json()["code"] == "self_tip"
    outsider = await signup(tip_api)
    body = (await check(tip_api, room.tipper, room.conversation_id, outsider.id)).json()
    assert body["code"] == "recipient_not_member"
    assert (await tip_api.put(f"/me/blocks/{room.tipper.id}", headers=room.recipient.headers)).status_code < 300
    assert (await check(tip_api, room.tipper, room.conversation_id, room.recipient.id)).json()["code"] == "blocked"

    # Someone outside the conversation learns nothing about it or its members: 404.
    r = await check(tip_api, outsider, room.conversation_id, room.recipient.id)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await check(tip_api, room.tipper, 999_999_999, room.recipient.id)
    assert r.status_code == 404
    assert (
        await tip_api.get(f"/conversations/{room.conversation_id}/tips/recipients/0", headers=room.tipper.headers)
    ).status_code == 422
    assert (
        await tip_api.get(f"/conversations/{room.conversation_id}/tips/recipients/{room.recipient.id}")
    ).status_code == 401
    # Asking creates nothing.
    assert await intents(tip_server.database_url) == before


async def test_without_a_contract_the_check_says_tipping_is_off(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, members=[bob]))["id"]
    body = (await check(api, alice, cid, bob.id)).json()
    assert (body["can_tip"], body["code"]) == (False, "tipping_disabled")
