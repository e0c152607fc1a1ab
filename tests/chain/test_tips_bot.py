"""Event subscriptions for bots (issue 21 item 4) with a real tip: a tip-thanks bot, member of the
conversation, gets `tip.confirmed` on its token's socket and thanks the tipper through it."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_tokens import as_token, make_token
from tests.chain.tipping import create_intent, make_room, pay, report
from tests.conftest import Server
from tests.helpers import Ws, is_event, signup
from tipline.chain.rpc import Rpc
from tipline.domain.moderation.actions import do_grant_admin


async def test_a_tip_thanks_bot_thanks_the_tipper_when_the_tip_is_confirmed(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    owner = await signup(tip_api)
    await do_grant_admin(tip_server.rt, login=owner.handle)
    made = await tip_api.post("/bots", headers=owner.headers, json={"handle": "tipthanks", "display_name": "Thanks"})
    assert made.status_code == 201, made.text
    bot_id = made.json()["user"]["id"]
    token = await make_token(tip_api, owner, ["messages:read", "messages:write"], path=f"/bots/{bot_id}/tokens")
    bot = as_token(owner, token["token"], user_id=bot_id)
    invited = await tip_api.post(
        f"/conversations/{room.conversation_id}/members", headers=room.tipper.headers, json={"user_id": bot_id}
    )
    assert invited.status_code in (200, 201), invited.text

    ws = await Ws.open(tip_server.ws_url, bot)
    recipient_ws = await Ws.open(tip_server.ws_url, room.recipient)
    intent = await create_intent(tip_api, room, amount="0.1")
    tx_hash = await pay(rpc, intent)
    assert (await report(tip_api, room.tipper, intent["intent_id"], tx_hash)).status_code == 200
    await ws.expect(is_event("tip.pending", intent_id=intent["intent_id"]), timeout=3)
    await rpc.call("evm_mine")
    confirmed = await ws.expect(is_event("tip.confirmed", intent_id=intent["intent_id"]), timeout=5)
    assert confirmed["conversation_id"] == room.conversation_id
    assert confirmed["data"]["tipper_id"] == room.tipper.id and confirmed["data"]["amount_display"] == "0.1"

    # What a tip-thanks bot does with it: answer in the conversation, over the same socket.
    cmid = uuid.uuid4().hex
    thanks = f"thank you for the {confirmed['data']['amount_display']} {confirmed['data']['symbol']} tip!"
    await ws.send(
        {"type": "send", "conversation_id": room.conversation_id, "client_msg_id": cmid, "body": thanks, "ref": "t"}
    )
    ack = await ws.expect("ack")
    assert ack["client_msg_id"] == cmid and ack["seq"] > confirmed["seq"]
    seen = await recipient_ws.expect(is_event("message.created", sender_id=bot_id), timeout=3)
    assert seen["data"]["body"] == thanks
    await ws.close()
    await recipient_ws.close()
