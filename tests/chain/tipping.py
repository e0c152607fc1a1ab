"""Shared by the tipping tests: a Tipline server wired to a real anvil node with TipJar and a
demo token deployed, users with linked wallets in one conversation, and paying an intent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tests.chain.node import send_ok
from tests.helpers import User, create_conversation, send_http, signup
from tipline.chain.abi import encode_call
from tipline.chain.anvil import DEV_ACCOUNTS
from tipline.chain.rpc import Rpc

TIPPER_WALLET, RECIPIENT_WALLET, OTHER_WALLET = DEV_ACCOUNTS[1], DEV_ACCOUNTS[2], DEV_ACCOUNTS[3]
ETH = 10**18


async def link_wallet(database_url: str, user: User, address: str, chain_id: int = 31337) -> None:
    """Stand-in for wallet linking (Sign-In with Ethereum): write the row that linking makes."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO wallets (user_id, address, chain_id) VALUES ($1, $2, $3)", user.id, address.lower(), chain_id
        )
    finally:
        await conn.close()


@dataclass
class Room:
    tipper: User
    recipient: User
    conversation_id: int
    message_id: int


async def make_room(
    api: httpx.AsyncClient,
    database_url: str,
    *,
    link: bool = True,
    wallets: tuple[str, str] = (TIPPER_WALLET, RECIPIENT_WALLET),
) -> Room:
    """Two members and a message; each member linked to a wallet (an address belongs to one account)."""
    tipper, recipient = await signup(api), await signup(api)
    conv = await create_conversation(api, tipper, members=[recipient])
    r = await send_http(api, recipient, conv["id"], "worth a tip")
    assert r.status_code == 201, r.text
    if link:
        await link_wallet(database_url, tipper, wallets[0])
        await link_wallet(database_url, recipient, wallets[1])
    return Room(tipper, recipient, conv["id"], r.json()["message_id"])


async def create_intent(api: httpx.AsyncClient, room: Room, **body: Any) -> dict[str, Any]:
    payload = {"conversation_id": room.conversation_id, "message_id": room.message_id, "token": "ETH", "amount": "0.5"}
    payload.update(body)
    r = await api.post("/tips/intents", headers=room.tipper.headers, json=payload)
    assert r.status_code == 201, r.text
    intent: dict[str, Any] = r.json()
    return intent


async def pay(rpc: Rpc, intent: dict[str, Any], *, sender: str = TIPPER_WALLET) -> str:
    """What the tipper's wallet does with the answer: approve (tokens), then the exact call."""
    if intent.get("approve"):
        approve = intent["approve"]
        await send_ok(rpc, sender=sender, to=approve["to"], data=approve["data"])
    call = intent["call"]
    receipt = await rpc.transact(sender=sender, to=call["to"], data=call["data"], value=int(call["value"]))
    assert receipt["status"] == "0x1", receipt
    return str(receipt["transactionHash"])


async def report(api: httpx.AsyncClient, user: User, intent_id: str, tx_hash: str) -> httpx.Response:
    return await api.post(f"/tips/intents/{intent_id}/tx", headers=user.headers, json={"tx_hash": tx_hash})


async def mint(rpc: Rpc, token: str, to: str, amount: int) -> None:
    data = encode_call("mint(address,uint256)", ["address", "uint256"], [to, amount])
    await send_ok(rpc, sender=DEV_ACCOUNTS[0], to=token, data=data)


async def state_of(api: httpx.AsyncClient, user: User, intent_id: str) -> dict[str, Any]:
    r = await api.get(f"/tips/intents/{intent_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
