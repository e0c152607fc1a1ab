"""Tipping end to end on a real anvil node: intent, wallet transaction, report, pending live
for every member, confirmed by the chain watcher after the confirmations; the checks an
intent makes; totals, my tips, CSV and the leaderboard."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import httpx

from tests.chain.tipping import ETH, create_intent, make_room, mint, pay, report, state_of
from tests.chain_fixtures import Deployment
from tests.conftest import Server
from tests.helpers import Ws, is_event, signup
from tipline.chain.abi import ZERO_ADDRESS
from tipline.chain.rpc import Rpc
from tipline.domain.tips.tokens import display
from tipline.ratelimit import parse_rule


async def test_native_tip_pending_at_once_then_confirmed_after_the_confirming_block(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    sockets = [await Ws.open(tip_server.ws_url, u) for u in (room.tipper, room.recipient)]
    intent = await create_intent(tip_api, room, amount="0.25")
    assert intent["state"] == "created" and intent["amount"] == str(ETH // 4)
    assert intent["call"]["to"] == tip_server.rt.settings.tip_contract_address
    assert intent["call"]["value"] == str(ETH // 4) and intent["approve"] is None
    tx_hash = await pay(rpc, intent)

    # Live to every member (how fast is measured by bench/tips, not here).
    r = await report(tip_api, room.tipper, intent["intent_id"], tx_hash)
    assert r.status_code == 200, r.text
    for ws in sockets:
        frame = await ws.expect(is_event("tip.pending", intent_id=intent["intent_id"]), timeout=2)
        assert frame["data"]["tx_hash"] == tx_hash and frame["data"]["amount_display"] == "0.25"

    # One block deep (its own): not confirmed while the watcher sees fewer than 2 confirmations.
    await asyncio.sleep(0.5)
    assert (await state_of(tip_api, room.tipper, intent["intent_id"]))["state"] == "pending"
    await rpc.call("evm_mine")
    for ws in sockets:
        frame = await ws.expect(is_event("tip.confirmed", intent_id=intent["intent_id"]), timeout=3)
        assert frame["data"]["message_totals"] == [
            {"symbol": "ETH", "token": ZERO_ADDRESS, "total": str(ETH // 4), "total_display": "0.25", "count": 1}
        ]
    for ws in sockets:
        await ws.close()

    totals = (await tip_api.get(f"/messages/{room.message_id}/tips", headers=room.recipient.headers)).json()
    assert totals == [
        {"symbol": "ETH", "token": ZERO_ADDRESS, "total": str(ETH // 4), "total_display": "0.25", "count": 1}
    ]
    history = (await tip_api.get(f"/conversations/{room.conversation_id}/messages", headers=room.tipper.headers)).json()
    assert history["messages"][0]["tips"] == totals
    # The events are in history too, in seq order after the message.
    replay = (
        await tip_api.get(f"/conversations/{room.conversation_id}/events?since=0", headers=room.recipient.headers)
    ).json()
    assert [e["event"] for e in replay["events"]][-2:] == ["tip.pending", "tip.confirmed"]


async def test_token_tip_approve_then_tip(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc, deployment: Deployment
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    await mint(rpc, deployment.token, "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", 100 * ETH)
    intent = await create_intent(tip_api, room, token="TIP", amount="12.5")
    assert intent["approve"]["to"] == deployment.token and intent["call"]["value"] == "0"
    tx_hash = await pay(rpc, intent)
    assert (await report(tip_api, room.tipper, intent["intent_id"], tx_hash)).status_code == 200
    await rpc.call("evm_mine")
    await wait_state(tip_api, room.tipper, intent["intent_id"], "confirmed")

    board = (
        await tip_api.get(f"/conversations/{room.conversation_id}/tips/leaderboard", headers=room.tipper.headers)
    ).json()
    assert board["received"] == [
        {
            "user_id": room.recipient.id,
            "symbol": "TIP",
            "total": str(125 * ETH // 10),
            "total_display": "12.5",
            "count": 1,
        }
    ]
    assert board["sent"][0]["user_id"] == room.tipper.id

    sent = (await tip_api.get("/tips/mine?direction=sent", headers=room.tipper.headers)).json()["tips"]
    received = (await tip_api.get("/tips/mine?direction=received", headers=room.recipient.headers)).json()["tips"]
    assert [t["intent_id"] for t in sent] == [t["intent_id"] for t in received] == [intent["intent_id"]]
    r = await tip_api.get("/tips/mine.csv", headers=room.recipient.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert (row["direction"], row["state"], row["symbol"], row["amount"], row["tx_hash"]) == (
        "received",
        "confirmed",
        "TIP",
        "12.5",
        tx_hash,
    )
    # Someone outside the conversation sees none of it.
    outsider = await signup(tip_api)
    r = await tip_api.get(f"/conversations/{room.conversation_id}/tips/leaderboard", headers=outsider.headers)
    assert r.status_code == 404
    assert (await tip_api.get(f"/tips/intents/{intent['intent_id']}", headers=outsider.headers)).status_code == 404
    assert (await tip_api.get(f"/messages/{room.message_id}/tips", headers=outsider.headers)).status_code == 404


async def wait_state(api: httpx.AsyncClient, user: object, intent_id: str, state: str, within: float = 5.0) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + within
    while True:
        current = await state_of(api, user, intent_id)  # type: ignore[arg-type]
        if current["state"] == state:
            return current
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.05)


async def test_intent_checks(tip_server: Server, tip_api: httpx.AsyncClient) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    base = {"conversation_id": room.conversation_id, "recipient_id": room.recipient.id, "token": "ETH", "amount": "1"}
    cases = [
        ({"recipient_id": room.tipper.id}, 422, "self_tip"),
        ({"token": "DOGE"}, 422, "token_unsupported"),
        ({"amount": "0"}, 422, "amount_invalid"),
        ({"amount": "5000"}, 422, "amount_out_of_bounds"),
        ({"amount": "0.0000000000000000001"}, 422, "amount_out_of_bounds"),
        ({"amount": "0.1234567890123456789"}, 422, "amount_too_precise"),
        ({"recipient_id": None}, 422, "recipient_missing"),
        ({"message_id": room.message_id, "recipient_id": room.tipper.id}, 422, "recipient_not_author"),
        ({"conversation_id": 999_999}, 404, "not_found"),
    ]
    # A block either way closes tipping between the two.
    assert (await tip_api.put(f"/me/blocks/{room.tipper.id}", headers=room.recipient.headers)).status_code < 300
    r = await tip_api.post("/tips/intents", headers=room.tipper.headers, json=base)
    assert (r.status_code, r.json()["code"]) == (403, "blocked"), r.text
    assert (await tip_api.delete(f"/me/blocks/{room.tipper.id}", headers=room.recipient.headers)).status_code < 300
    for change, status, code in cases:
        r = await tip_api.post("/tips/intents", headers=room.tipper.headers, json={**base, **change})
        assert (r.status_code, r.json().get("code")) == (status, code), (change, r.text)
    outsider = await signup(tip_api)
    r = await tip_api.post("/tips/intents", headers=room.tipper.headers, json={**base, "recipient_id": outsider.id})
    assert r.json()["code"] == "recipient_not_member"
    r = await tip_api.post("/tips/intents", headers=room.tipper.headers, json={**base, "amount": "-1"})
    assert r.status_code == 422
    # Wallets: both sides need one on this chain.
    bare = await make_room(tip_api, tip_server.database_url, link=False)
    r = await tip_api.post(
        "/tips/intents",
        headers=bare.tipper.headers,
        json={**base, "conversation_id": bare.conversation_id, "recipient_id": bare.recipient.id},
    )
    assert (r.status_code, r.json()["code"]) == (409, "tipper_no_wallet")
    # Only the tipper may report; a malformed hash is refused with a reason.
    intent = await create_intent(tip_api, room)
    r = await report(tip_api, room.recipient, intent["intent_id"], "0x" + "ab" * 32)
    assert r.status_code == 404
    r = await report(tip_api, room.tipper, intent["intent_id"], "0x1234")
    assert r.status_code == 422
    assert display(10**18, 18) == "1"


async def test_tip_config(tip_server: Server, tip_api: httpx.AsyncClient, deployment: Deployment) -> None:
    user = await signup(tip_api)
    body = (await tip_api.get("/tips/config", headers=user.headers)).json()
    assert body["enabled"] and body["chain_id"] == 31337 and body["contract"] == deployment.jar
    assert [t["symbol"] for t in body["tokens"]] == ["ETH", "TIP"]


async def test_unreported_tip_is_found_on_chain(tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc) -> None:
    """The client sent the transaction but never reported it: the watcher finds its event."""
    room = await make_room(tip_api, tip_server.database_url)
    ws = await Ws.open(tip_server.ws_url, room.recipient)
    intent = await create_intent(tip_api, room, amount="0.1")
    tx_hash = await pay(rpc, intent)
    pending = await ws.expect(is_event("tip.pending", intent_id=intent["intent_id"]), timeout=3)
    assert pending["data"]["tx_hash"] == tx_hash
    await rpc.call("evm_mine")
    await ws.expect(is_event("tip.confirmed", intent_id=intent["intent_id"]), timeout=3)
    await ws.close()


async def test_intents_are_rate_limited(tip_server: Server, tip_api: httpx.AsyncClient) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    limits = tip_server.rt.limits
    saved = (limits.enabled, limits.rules["tip_per_user"])
    limits.enabled, limits.rules["tip_per_user"] = True, parse_rule("tip_per_user", "2/60")
    try:
        for _ in range(2):
            await create_intent(tip_api, room)
        body = {"conversation_id": room.conversation_id, "message_id": room.message_id, "token": "ETH", "amount": "1"}
        r = await tip_api.post("/tips/intents", headers=room.tipper.headers, json=body)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and "Retry-After" in r.headers
    finally:
        limits.enabled, limits.rules["tip_per_user"] = saved
