"""The tipper's report racing the chain watcher: the watcher may find the transaction on-chain
(by its intent id) and move the tip on between the report reading the intent and updating it.
The interleaving is forced here: the watcher's move commits right inside the report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.chain.tipping import create_intent, make_room, report
from tests.conftest import Server
from tipline.domain.tips import actions

TX = "0x" + "ab" * 32
OTHER_TX = "0x" + "cd" * 32


def watcher_moves_first(monkeypatch: pytest.MonkeyPatch, server: Server, watcher_tx: str) -> list[Any]:
    """Before the report's own conditional update, the watcher moves the tip to pending with
    ``watcher_tx`` in a transaction of its own, which commits first."""
    original = actions._settle
    moved: list[Any] = []
    started: list[bool] = []

    async def settle(rt: Any, uow: Any, **kw: Any) -> Any:
        # Once, for the report (the watcher's own do_settle comes through here too).
        if not started and kw.get("state") == "pending":
            started.append(True)
            moved.append(
                await actions.do_settle(
                    server.rt,
                    intent_pk=kw["row"]["id"],
                    from_states=("created",),
                    state="pending",
                    values={"tx_hash": watcher_tx},
                )
            )
        return await original(rt, uow, **kw)

    monkeypatch.setattr(actions, "_settle", settle)
    return moved


async def test_report_after_the_watcher_found_the_same_transaction_answers_pending(
    tip_server: Server, tip_api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    intent = await create_intent(tip_api, room, amount="0.01")
    moved = watcher_moves_first(monkeypatch, tip_server, TX)

    r = await report(tip_api, room.tipper, intent["intent_id"], TX)

    assert moved and moved[0] is not None, "the watcher's move did not happen first"
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending" and r.json()["tx_hash"] == TX


async def test_report_of_another_transaction_than_the_watcher_found_is_refused(
    tip_server: Server, tip_api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await make_room(tip_api, tip_server.database_url)
    intent = await create_intent(tip_api, room, amount="0.01")
    moved = watcher_moves_first(monkeypatch, tip_server, OTHER_TX)

    r = await report(tip_api, room.tipper, intent["intent_id"], TX)

    assert moved and moved[0] is not None
    assert r.status_code == 409 and r.json()["code"] == "tip_changed", r.text
    # What the chain said stands: the tip keeps the watcher's transaction.
    mine = await tip_api.get(f"/tips/intents/{intent['intent_id']}", headers=room.tipper.headers)
    assert mine.json()["state"] == "pending" and mine.json()["tx_hash"] == OTHER_TX
