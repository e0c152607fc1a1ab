"""The chain watcher against two attacks, on a real anvil node, one watcher pass at a time: a
stranger's TipJar call carrying someone else's intent id, and a reorg that happened while the
watcher was stopped or behind, buried under more than CHAIN_REORG_DEPTH blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.chain.node import send_ok
from tests.chain.tipping import RECIPIENT_WALLET, create_intent, make_room, pay, report, state_of
from tests.conftest import Server
from tipline.chain.abi import hexbytes, tip_native_data
from tipline.chain.anvil import DEV_ACCOUNTS
from tipline.chain.rpc import Rpc
from tipline.domain.tips import repository as tips_repo
from tipline.watcher import ChainWatcher

STRANGER = DEV_ACCOUNTS[6]


@pytest.fixture(scope="module")
async def paused_server(tip_server: Server) -> Server:
    """The server without its own watcher: each test runs the watcher's passes itself, so that
    what the watcher sees between two passes is decided by the test."""
    node = tip_server.node
    if node.chain_watcher is not None:
        await node.chain_watcher.stop()
        node.chain_watcher = None
    return tip_server


@pytest.fixture
async def new_watcher(paused_server: Server) -> AsyncIterator[Callable[[], ChainWatcher]]:
    made: list[ChainWatcher] = []

    def make() -> ChainWatcher:
        rt = paused_server.rt
        watcher = ChainWatcher(
            rt, rpc_url=rt.settings.chain_rpc_url or "", contract=rt.settings.tip_contract_address or ""
        )
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        await watcher.stop()


async def mine(rpc: Rpc, blocks: int) -> None:
    await rpc.call("anvil_mine", hex(blocks))


async def tip_events(api: httpx.AsyncClient, room: Any, intent_id: str) -> list[dict[str, Any]]:
    r = await api.get(f"/conversations/{room.conversation_id}/events?since=0", headers=room.recipient.headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["event"].startswith("tip.") and e["data"]["intent_id"] == intent_id]


async def credited(server: Server) -> list[tuple[str, str]]:
    async with server.rt.engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT intent_id, tx_hash FROM tip_intents WHERE state = 'confirmed' AND log_index IS NOT NULL ORDER BY id"
        )
        return [(str(r["intent_id"]), str(r["tx_hash"])) for r in rows.mappings()]


@pytest.mark.parametrize("between", ["a pass between", "no pass between"])
@pytest.mark.parametrize("reported", ["reported at once", "reported at the end"])
@pytest.mark.parametrize("order", ["stranger first", "stranger after"])
@pytest.mark.parametrize("paid", ["1 wei", "the full amount"])
async def test_a_strangers_call_with_the_intent_id_changes_nothing(
    paused_server: Server,
    tip_api: httpx.AsyncClient,
    rpc: Rpc,
    new_watcher: Callable[[], ChainWatcher],
    order: str,
    reported: str,
    between: str,
    paid: str,
) -> None:
    """Anyone who sees an intent id can call TipJar with it, from a wallet of their own: 1 wei,
    or even the full amount to the right recipient. The real tip is confirmed, its tipper's
    report is accepted, and no event ever names the stranger's transaction."""
    server, watcher = paused_server, new_watcher()
    room = await make_room(tip_api, server.database_url)
    intent = await create_intent(tip_api, room, amount="0.5")
    iid = intent["intent_id"]
    stranger_call = tip_native_data(recipient=RECIPIENT_WALLET, intent_id=hexbytes(iid))
    jar = intent["call"]["to"]
    value = 1 if paid == "1 wei" else int(intent["amount"])

    async def stranger() -> str:
        return str((await send_ok(rpc, sender=STRANGER, to=jar, data=stranger_call, value=value))["transactionHash"])

    async def tipper() -> str:
        tx = await pay(rpc, intent)
        if reported == "reported at once":
            r = await report(tip_api, room.tipper, iid, tx)
            assert r.status_code == 200, r.text
        return tx

    first, second = (stranger, tipper) if order == "stranger first" else (tipper, stranger)
    done_first = await first()
    if between == "a pass between":
        await watcher.tick()
    done_second = await second()
    real, fake = (done_second, done_first) if order == "stranger first" else (done_first, done_second)
    await watcher.tick()
    await mine(rpc, 2)
    await watcher.tick()

    tip = await state_of(tip_api, room.tipper, iid)
    assert (tip["state"], tip["tx_hash"], tip["reason"]) == ("confirmed", real, None), tip
    r = await report(tip_api, room.tipper, iid, real)
    assert r.status_code == 200 and r.json()["state"] == "confirmed", r.text
    events = await tip_events(tip_api, room, iid)
    assert [(e["event"], e["data"]["tx_hash"]) for e in events] == [("tip.pending", real), ("tip.confirmed", real)]
    assert fake not in str(events)
    assert await credited(server) == [(iid, real)]


@pytest.mark.parametrize("resumed_by", ["the same watcher", "a watcher just started"])
async def test_a_reorg_while_the_watcher_was_behind_is_seen_however_deep(
    paused_server: Server,
    tip_api: httpx.AsyncClient,
    rpc: Rpc,
    new_watcher: Callable[[], ChainWatcher],
    resumed_by: str,
) -> None:
    """A confirmed tip; the watcher stops; a 2-block reorg removes the tip's block and the chain
    grows 100 blocks (more than CHAIN_REORG_DEPTH). The watcher's next pass puts the tip back to
    pending; it is confirmed again only when its transaction lands again."""
    server, watcher = paused_server, new_watcher()
    depth = server.rt.settings.chain_reorg_depth
    room = await make_room(tip_api, server.database_url)
    intent = await create_intent(tip_api, room)
    iid = intent["intent_id"]
    tx = await pay(rpc, intent)
    raw = await rpc.call("eth_getRawTransactionByHash", tx)
    assert (await report(tip_api, room.tipper, iid, tx)).status_code == 200
    await mine(rpc, 1)
    await watcher.tick()
    assert (await state_of(tip_api, room.tipper, iid))["state"] == "confirmed"
    assert await credited(server) == [(iid, tx)]

    tip_block = int((await rpc.receipt(tx) or {})["blockNumber"], 16)
    await rpc.call("anvil_reorg", 2, [])
    assert await rpc.receipt(tx) is None
    await mine(rpc, 100)
    assert await rpc.block_number() - tip_block > depth
    if resumed_by == "a watcher just started":
        watcher = new_watcher()
    await watcher.tick()

    back = await state_of(tip_api, room.tipper, iid)
    assert back["state"] == "pending" and "reorganised" in back["reason"], back
    assert await credited(server) == []
    await watcher.tick()  # nothing lands: it stays pending (and would expire in time)
    assert (await state_of(tip_api, room.tipper, iid))["state"] == "pending"

    # The wallet re-broadcasts the same transaction; it lands in a new block.
    assert await rpc.call("eth_sendRawTransaction", raw) == tx
    await mine(rpc, 1)
    await watcher.tick()
    again = await state_of(tip_api, room.tipper, iid)
    assert (again["state"], again["tx_hash"]) == ("confirmed", tx), again
    assert await credited(server) == [(iid, tx)]
    events = [e["event"] for e in await tip_events(tip_api, room, iid)]
    assert events == ["tip.pending", "tip.confirmed", "tip.pending", "tip.confirmed"]


async def test_a_tip_seen_on_the_chain_that_deep_is_no_longer_asked(
    paused_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc, new_watcher: Callable[[], ChainWatcher]
) -> None:
    """Re-checking ends once the watcher has found the tip's block on the chain at a head
    CHAIN_REORG_DEPTH past it, so the work per pass does not grow with every tip ever made; a
    long pause without a reorg leaves the tip confirmed."""
    server, watcher = paused_server, new_watcher()
    settings = server.rt.settings
    room = await make_room(tip_api, server.database_url)
    intent = await create_intent(tip_api, room)
    iid = intent["intent_id"]
    tx = await pay(rpc, intent)
    assert (await report(tip_api, room.tipper, iid, tx)).status_code == 200
    await mine(rpc, 1)
    await watcher.tick()
    assert (await state_of(tip_api, room.tipper, iid))["state"] == "confirmed"

    assert iid in await watched(server, watcher, rpc)
    await mine(rpc, settings.chain_reorg_depth + 5)
    await watcher.tick()
    assert (await state_of(tip_api, room.tipper, iid))["state"] == "confirmed"
    assert iid not in await watched(server, watcher, rpc)


async def test_a_chain_shorter_than_where_a_tip_was_verified_puts_it_in_question(
    paused_server: Server, tip_api: httpx.AsyncClient, rpc: Rpc, new_watcher: Callable[[], ChainWatcher]
) -> None:
    """A tip verified deep enough to be left alone, then a chain whose head is below where it
    was verified (here the node rolled back; in `tipline dev`, a new local chain): the tip is
    checked again and, its block gone, goes back to pending."""
    server, watcher = paused_server, new_watcher()
    snapshot = await rpc.call("evm_snapshot")
    room = await make_room(tip_api, server.database_url)
    intent = await create_intent(tip_api, room)
    iid = intent["intent_id"]
    tx = await pay(rpc, intent)
    assert (await report(tip_api, room.tipper, iid, tx)).status_code == 200
    await mine(rpc, 1)
    await watcher.tick()
    await mine(rpc, server.rt.settings.chain_reorg_depth + 5)
    await watcher.tick()
    assert iid not in await watched(server, watcher, rpc)

    assert await rpc.call("evm_revert", snapshot) is True
    await mine(rpc, 3)
    assert iid in await watched(server, watcher, rpc)
    await watcher.tick()
    back = await state_of(tip_api, room.tipper, iid)
    assert back["state"] == "pending" and "reorganised" in back["reason"], back
    assert await credited(server) == []


async def watched(server: Server, watcher: ChainWatcher, rpc: Rpc) -> list[str]:
    """The intents the watcher's next pass looks at."""
    settings = server.rt.settings
    async with server.rt.engine.connect() as conn:
        rows = await tips_repo.watch_list(
            conn,
            chain_id=settings.chain_id,
            contract=watcher.contract,
            reorg_depth=settings.chain_reorg_depth,
            head=await rpc.block_number(),
        )
    return [str(r["intent_id"]) for r in rows]
