"""Every way to claim a tip that did not happen, each refused with nothing credited: another
tipper's transaction, a look-alike event from another contract, a reverted transaction, a
transaction on another chain, mismatched amount, token, recipient or tipper wallet, the same
transaction reported twice or for two intents, a reorg; and expiry, one active watcher,
signed webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from pydantic import SecretStr

from tests.chain.node import send_ok
from tests.chain.tipping import (
    ETH,
    OTHER_WALLET,
    RECIPIENT_WALLET,
    TIPPER_WALLET,
    create_intent,
    make_room,
    mint,
    pay,
    report,
    state_of,
)
from tests.chain_fixtures import Deployment
from tests.conftest import Server
from tests.helpers import Ws, is_event
from tipline.chain.abi import ZERO_ADDRESS, approve_data, encode_call, hexbytes, tip_native_data, tip_token_data
from tipline.chain.anvil import DEV_ACCOUNTS, start_anvil
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc
from tipline.domain.tips.webhook import signature
from tipline.watcher import ChainWatcher

HALF = ETH // 2


async def settle(api: httpx.AsyncClient, room: Any, intent_id: str, *, within: float = 5.0) -> dict[str, Any]:
    """Mine past the confirmations and wait until the watcher has decided."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        current = await state_of(api, room.tipper, intent_id)
        if current["state"] not in ("created", "pending"):
            return current
        assert loop.time() < deadline, current
        await asyncio.sleep(0.1)


async def mine(rpc: Rpc, blocks: int = 2) -> None:
    for _ in range(blocks):
        await rpc.call("evm_mine")


async def credited(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT intent_id FROM tip_intents WHERE state = 'confirmed' ORDER BY id")
    finally:
        await conn.close()
    return [r["intent_id"] for r in rows]


async def send_raw_call(rpc: Rpc, *, to: str, data: str, value: int = 0, sender: str = TIPPER_WALLET) -> str:
    receipt = await rpc.transact(sender=sender, to=to, data=data, value=value)
    return str(receipt["transactionHash"])


@contextlib.contextmanager
def settings_changed(server: Server, **values: Any) -> Iterator[None]:
    settings = server.rt.settings
    saved = {k: getattr(settings, k) for k in values}
    for k, v in values.items():
        setattr(settings, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(settings, k, v)


async def test_someone_elses_transaction_credits_only_its_own_intent(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    honest = await make_room(tip_api, tip_server.database_url)
    thief = await make_room(tip_api, tip_server.database_url, wallets=(DEV_ACCOUNTS[4], DEV_ACCOUNTS[5]))
    real = await create_intent(tip_api, honest, amount="0.5")
    mine_intent = await create_intent(tip_api, thief, amount="0.5")
    tx_hash = await pay(rpc, real)
    # The thief reports it first, for their own intent, and then the honest tipper reports it.
    assert (await report(tip_api, thief.tipper, mine_intent["intent_id"], tx_hash)).status_code == 200
    assert (await report(tip_api, honest.tipper, real["intent_id"], tx_hash)).status_code == 200
    # Nor can anyone report on an intent that is not theirs.
    assert (await report(tip_api, thief.tipper, real["intent_id"], tx_hash)).status_code == 404
    await mine(rpc)
    stolen = await settle(tip_api, thief, mine_intent["intent_id"])
    assert stolen["state"] == "failed" and "no tip for this intent" in stolen["reason"]
    assert (await settle(tip_api, honest, real["intent_id"]))["state"] == "confirmed"
    assert await credited(tip_server.database_url) == [real["intent_id"]]


async def test_look_alike_event_from_another_contract(tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    fake = await deploy(rpc, "LookAlikeTipJar")
    first = await create_intent(tip_api, room, amount="0.5")
    iid = hexbytes(first["intent_id"])
    data = encode_call(
        "fake(address,address,address,uint256,bytes32)",
        ["address", "address", "address", "uint256", "bytes32"],
        [TIPPER_WALLET, RECIPIENT_WALLET, ZERO_ADDRESS, HALF, iid],
    )
    forged = await send_raw_call(rpc, to=fake, data=data)
    second = await create_intent(tip_api, room, amount="0.5")
    paid_elsewhere = await send_raw_call(
        rpc,
        to=fake,
        data=tip_native_data(recipient=RECIPIENT_WALLET, intent_id=hexbytes(second["intent_id"])),
        value=HALF,
    )
    assert (await report(tip_api, room.tipper, first["intent_id"], forged)).status_code == 200
    assert (await report(tip_api, room.tipper, second["intent_id"], paid_elsewhere)).status_code == 200
    await mine(rpc)
    for intent in (first, second):
        assert (await settle(tip_api, room, intent["intent_id"]))["state"] == "failed"
    assert await credited(tip_server.database_url) == []


async def test_reverted_transaction(tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    intent = await create_intent(tip_api, room)
    # The exact call but without the coin: TipJar reverts (ZeroAmount), the tx is mined failed.
    receipt = await rpc.transact(sender=TIPPER_WALLET, to=intent["call"]["to"], data=intent["call"]["data"], value=0)
    assert receipt["status"] == "0x0"
    assert (await report(tip_api, room.tipper, intent["intent_id"], receipt["transactionHash"])).status_code == 200
    await mine(rpc)
    done = await settle(tip_api, room, intent["intent_id"])
    assert (done["state"], done["reason"]) == ("failed", "the transaction reverted")
    assert await credited(tip_server.database_url) == []


async def test_transaction_on_another_chain_never_counts(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    other = start_anvil(chain_id=1337)
    try:
        other_rpc = Rpc(other.url)
        # The same contract at the same address on the other chain, paid exactly as asked.
        assert await deploy(other_rpc, "TipJar") is not None
        room = await make_room(tip_api, tip_server.database_url)
        with settings_changed(tip_server, tip_intent_ttl_s=1.0):
            intent = await create_intent(tip_api, room)
            call = intent["call"]
            elsewhere = await send_raw_call(other_rpc, to=call["to"], data=call["data"], value=int(call["value"]))
            assert (await report(tip_api, room.tipper, intent["intent_id"], elsewhere)).status_code == 200
            await mine(rpc)
            done = await settle(tip_api, room, intent["intent_id"], within=6)
        assert (done["state"], done["reason"]) == ("expired", "the transaction never landed")
        # And a watcher pointed at a node of another chain refuses to run at all.
        watcher = ChainWatcher(
            tip_server.rt, rpc_url=other.url, contract=tip_server.rt.settings.tip_contract_address or ""
        )
        with pytest.raises(RuntimeError, match="not CHAIN_ID"):
            await watcher._check_chain()
        await watcher.rpc.close()
        await other_rpc.close()
    finally:
        other.stop()
    assert await credited(tip_server.database_url) == []


async def test_mismatched_amount_token_recipient_and_wallet(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc, deployment: Deployment
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    jar = deployment.jar
    await mint(rpc, deployment.token, TIPPER_WALLET, 10 * ETH)
    await send_ok(rpc, sender=TIPPER_WALLET, to=deployment.token, data=approve_data(spender=jar, amount=10 * ETH))
    expected = {
        "amount": "the amount that arrived",
        "token": "another token",
        "recipient": "another wallet than the recipient's",
        "wallet": "a wallet the tipper has not linked",
    }
    reported: dict[str, str] = {}
    for case in expected:
        intent = await create_intent(tip_api, room, amount="0.5")
        iid = hexbytes(intent["intent_id"])
        if case == "amount":
            tx = await send_raw_call(
                rpc, to=jar, data=tip_native_data(recipient=RECIPIENT_WALLET, intent_id=iid), value=HALF - 1
            )
        elif case == "token":
            data = tip_token_data(token=deployment.token, recipient=RECIPIENT_WALLET, amount=HALF, intent_id=iid)
            tx = await send_raw_call(rpc, to=jar, data=data)
        elif case == "recipient":
            tx = await send_raw_call(
                rpc, to=jar, data=tip_native_data(recipient=OTHER_WALLET, intent_id=iid), value=HALF
            )
        else:
            tx = await pay(rpc, intent, sender=OTHER_WALLET)
        assert (await report(tip_api, room.tipper, intent["intent_id"], tx)).status_code == 200
        reported[case] = intent["intent_id"]
    await mine(rpc)
    for case, intent_id in reported.items():
        done = await settle(tip_api, room, intent_id)
        assert done["state"] == "failed" and expected[case] in done["reason"], (case, done)
    assert await credited(tip_server.database_url) == []


async def test_same_transaction_twice_and_for_two_intents(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    first = await create_intent(tip_api, room)
    second = await create_intent(tip_api, room)
    tx = await pay(rpc, first)
    r1 = await report(tip_api, room.tipper, first["intent_id"], tx)
    r2 = await report(tip_api, room.tipper, first["intent_id"], tx.upper().replace("0X", "0x"))
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    r3 = await report(tip_api, room.tipper, first["intent_id"], "0x" + "11" * 32)
    assert (r3.status_code, r3.json()["code"]) == (409, "tip_already_reported")
    assert (await report(tip_api, room.tipper, second["intent_id"], tx)).status_code == 200
    await mine(rpc)
    assert (await settle(tip_api, room, first["intent_id"]))["state"] == "confirmed"
    assert (await settle(tip_api, room, second["intent_id"]))["state"] == "failed"
    # Reporting again after confirmation changes nothing and credits nothing more.
    assert (await report(tip_api, room.tipper, first["intent_id"], tx)).json()["state"] == "confirmed"
    await mine(rpc)
    await asyncio.sleep(0.3)
    assert await credited(tip_server.database_url) == [first["intent_id"]]


async def test_reorg_turns_a_tip_back_to_pending_then_confirmed_again(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    ws = await Ws.open(tip_server.ws_url, room.recipient)
    snapshot = await rpc.call("evm_snapshot")
    intent = await create_intent(tip_api, room)
    tx = await pay(rpc, intent)
    raw = await rpc.call("eth_getRawTransactionByHash", tx)
    await report(tip_api, room.tipper, intent["intent_id"], tx)
    await mine(rpc)
    await ws.expect(is_event("tip.confirmed", intent_id=intent["intent_id"]), timeout=3)

    assert await rpc.call("evm_revert", snapshot) is True
    await ws.expect(is_event("tip.pending", intent_id=intent["intent_id"], reason=None), timeout=3)  # the report
    back = await ws.expect(is_event("tip.pending", intent_id=intent["intent_id"]), timeout=3)
    assert "reorganised" in back["data"]["reason"]
    assert await credited(tip_server.database_url) == []
    # The wallet's transaction lands again (same hash) in a new block.
    assert await rpc.call("eth_sendRawTransaction", raw) == tx
    await mine(rpc)
    again = await ws.expect(is_event("tip.confirmed", intent_id=intent["intent_id"]), timeout=3)
    assert again["data"]["tx_hash"] == tx
    assert await credited(tip_server.database_url) == [intent["intent_id"]]
    await ws.close()


async def test_reorged_away_for_good_expires(tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    with settings_changed(tip_server, tip_intent_ttl_s=1.0):
        snapshot = await rpc.call("evm_snapshot")
        intent = await create_intent(tip_api, room)
        tx = await pay(rpc, intent)
        await report(tip_api, room.tipper, intent["intent_id"], tx)
        await mine(rpc)
        assert (await settle(tip_api, room, intent["intent_id"]))["state"] == "confirmed"
        await rpc.call("evm_revert", snapshot)
        await mine(rpc)
        # Back to pending at once, then expired once the transaction has not landed in time.
        done = await settle_to(tip_api, room, intent["intent_id"], "expired", within=6)
    assert done["reason"] == "the transaction never landed"
    assert await credited(tip_server.database_url) == []


async def settle_to(api: httpx.AsyncClient, room: Any, intent_id: str, state: str, within: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (current := await state_of(api, room.tipper, intent_id))["state"] != state:
        assert loop.time() < deadline, current
        await asyncio.sleep(0.1)
    return current


async def test_unreported_intent_expires(tip_server: Server, tip_api: httpx.AsyncClient) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    with settings_changed(tip_server, tip_intent_ttl_s=0.3):
        intent = await create_intent(tip_api, room)
    done = await settle_to(tip_api, room, intent["intent_id"], "expired", within=5)
    assert done["reason"] == "no transaction was reported in time"


async def test_one_active_watcher_per_deployment(tip_server: Server) -> None:
    main = tip_server.node.chain_watcher
    assert main is not None
    for _ in range(100):  # it takes the lock just after the server starts
        if main.active:
            break
        await asyncio.sleep(0.05)
    assert main.active
    rt = tip_server.rt
    second = ChainWatcher(rt, rpc_url=rt.settings.chain_rpc_url or "", contract=rt.settings.tip_contract_address or "")
    second.start()
    await asyncio.sleep(0.5)
    assert not second.active and main.active
    await second.stop()


async def test_another_node_takes_over_when_the_active_watcher_stops(tip_server: Server) -> None:
    rt = tip_server.rt
    # A deployment of its own (another contract key), so the server's watcher is left alone.
    other_contract = "0x" + "42" * 20
    nodes = [ChainWatcher(rt, rpc_url=rt.settings.chain_rpc_url or "", contract=other_contract) for _ in range(2)]
    for w in nodes:
        w.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not any(w.active for w in nodes):
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    [active] = [w for w in nodes if w.active]
    [standby] = [w for w in nodes if not w.active]
    await active.stop()
    deadline = loop.time() + 5
    while not standby.active:
        assert loop.time() < deadline, "the standby watcher did not take over"
        await asyncio.sleep(0.05)
    await standby.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A local HTTP endpoint that records webhook deliveries."""
    got: list[tuple[dict[str, str], bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        got.append((headers, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook", got
    server.close()
    await server.wait_closed()


async def test_signed_webhooks(
    tip_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, got = receiver
    secret = "webhook secret for the test"
    room = await make_room(tip_api, tip_server.database_url)
    with settings_changed(tip_server, tip_webhook_url=url, tip_webhook_secret=SecretStr(secret)):
        ok = await create_intent(tip_api, room)
        await report(tip_api, room.tipper, ok["intent_id"], await pay(rpc, ok))
        bad = await create_intent(tip_api, room)
        reverted = await rpc.transact(sender=TIPPER_WALLET, to=bad["call"]["to"], data=bad["call"]["data"], value=0)
        await report(tip_api, room.tipper, bad["intent_id"], reverted["transactionHash"])
        await mine(rpc)
        await settle(tip_api, room, ok["intent_id"])
        await settle(tip_api, room, bad["intent_id"])
        for _ in range(50):
            if len(got) >= 4:
                break
            await asyncio.sleep(0.05)
    seen = []
    for headers, body in got:
        expected = signature(secret.encode(), headers["x-tipline-timestamp"], body)
        assert hmac.compare_digest(headers["x-tipline-signature"], expected)
        payload = orjson.loads(body)
        assert payload["event"] == headers["x-tipline-event"]
        seen.append((payload["event"], payload["tip"]["intent_id"]))
    assert sorted(seen) == sorted(
        [
            ("tip.pending", ok["intent_id"]),
            ("tip.confirmed", ok["intent_id"]),
            ("tip.pending", bad["intent_id"]),
            ("tip.failed", bad["intent_id"]),
        ]
    )
    # A body signed with another key does not verify.
    headers, body = got[0]
    assert signature(b"other", headers["x-tipline-timestamp"], body) != headers["x-tipline-signature"]
