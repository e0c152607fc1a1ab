"""Tip actions: issue an intent, take a reported transaction, settle what the chain watcher
found, and the reads (totals, my tips, CSV, leaderboard). The only code that writes tips.
See docs/subsystems/tipping.md.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, event_frame
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.chain.abi import ZERO_ADDRESS, approve_data, hexbytes, tip_native_data, tip_token_data
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import access_member, require_not_archived
from tipline.domain.messages.access import access_message, require_not_deleted
from tipline.domain.moderation.access import require_not_blocked
from tipline.domain.tips import repository as repo
from tipline.domain.tips import states, webhook
from tipline.domain.tips.access import (
    access_intent,
    access_own_intent,
    recipient_wallet,
    require_member,
    require_not_self,
    tipper_wallets,
)
from tipline.domain.tips.schemas import (
    ContractCall,
    IntentIn,
    IntentOut,
    LeaderboardOut,
    LeaderRow,
    TipCheckOut,
    TipConfigOut,
    TokenOut,
    TotalOut,
    intent_dict,
)
from tipline.domain.tips.tokens import configured_tokens, display, to_base_units
from tipline.errors import Conflict, Forbidden, Invalid, Unavailable
from tipline.runtime import Runtime


def tipping_contract(rt: Runtime) -> str:
    contract = rt.settings.tip_contract_address
    if contract is None:
        raise Unavailable("tipping is not configured on this server", code="tipping_disabled")
    return contract.lower()


def get_config(rt: Runtime) -> TipConfigOut:
    s = rt.settings
    return TipConfigOut(
        enabled=s.tip_contract_address is not None,
        chain_id=s.chain_id,
        contract=None if s.tip_contract_address is None else s.tip_contract_address.lower(),
        confirmations=s.chain_confirmations,
        tokens=[
            TokenOut(symbol=t.symbol, address=t.address, decimals=t.decimals) for t in configured_tokens(s).values()
        ],
        min_amount=str(s.tip_min_amount),
        max_amount=str(s.tip_max_amount),
        explorer_url=s.chain_explorer_url.rstrip("/") if s.chain_explorer_url else None,
    )


def _calls(row: RowMapping) -> dict[str, Any]:
    """The exact transactions the tipper's wallet sends: approve (tokens only), then the tip."""
    iid, amount, chain_id = hexbytes(row["intent_id"]), int(row["amount"]), int(row["chain_id"])
    if row["token"] == ZERO_ADDRESS:
        data = tip_native_data(recipient=row["recipient_address"], intent_id=iid)
        return {"call": ContractCall(chain_id=chain_id, to=row["contract"], data=data, value=str(amount))}
    data = tip_token_data(token=row["token"], recipient=row["recipient_address"], amount=amount, intent_id=iid)
    approve = approve_data(spender=row["contract"], amount=amount)
    return {
        "approve": ContractCall(chain_id=chain_id, to=row["token"], data=approve, value="0"),
        "call": ContractCall(chain_id=chain_id, to=row["contract"], data=data, value="0"),
    }


def _out(row: RowMapping) -> IntentOut:
    extra = _calls(row) if row["state"] == "created" else {}
    return IntentOut(**intent_dict(row), **extra)


async def do_create_intent(rt: Runtime, *, user_id: int, body: IntentIn) -> IntentOut:
    """Issue a tip intent: checks both sides, returns the intent id and the exact contract call."""
    contract = tipping_contract(rt)
    token = configured_tokens(rt.settings).get(body.token)
    if token is None:
        raise Invalid(f"{body.token} cannot be tipped here", code="token_unsupported")
    amount = to_base_units(body.amount, token, rt.settings)
    chain_id = rt.settings.chain_id
    async with rt.engine.begin() as conn:
        recipient_id, address = await _parties(
            conn,
            user_id=user_id,
            conversation_id=body.conversation_id,
            recipient_id=body.recipient_id,
            message_id=body.message_id,
            chain_id=chain_id,
        )
        row = await repo.insert_intent(
            conn,
            values={
                "intent_id": "0x" + os.urandom(32).hex(),
                "conversation_id": body.conversation_id,
                "message_id": body.message_id,
                "tipper_id": user_id,
                "recipient_id": recipient_id,
                "recipient_address": address,
                "chain_id": chain_id,
                "contract": contract,
                "token": token.address,
                "symbol": token.symbol,
                "decimals": token.decimals,
                "amount": amount,
                "expires_at": _expiry(rt),
            },
        )
    return _out(row)


async def _parties(
    conn: AsyncConnection,
    *,
    user_id: int,
    conversation_id: int,
    recipient_id: int | None,
    message_id: int | None,
    chain_id: int,
) -> tuple[int, str]:
    """Who a tip goes to and the wallet it goes to, after every check on both sides."""
    access = await access_member(conn, user_id=user_id, conversation_id=conversation_id)
    require_not_archived(access)
    if message_id is not None:
        msg = await access_message(conn, user_id=user_id, message_id=message_id)
        require_not_deleted(msg)
        if msg.message["conversation_id"] != conversation_id:
            raise Invalid("that message is not in this conversation", code="message_not_in_conversation")
        author = msg.message["sender_id"]
        if recipient_id is not None and recipient_id != author:
            raise Invalid("a tip on a message goes to its author", code="recipient_not_author")
        recipient_id = author
    if recipient_id is None:
        raise Invalid("say who to tip: recipient_id or message_id", code="recipient_missing")
    require_not_self(tipper_id=user_id, recipient_id=recipient_id)
    # A block either way closes tipping too (docs/subsystems/moderation.md).
    await require_not_blocked(conn, user_id, recipient_id)
    await require_member(conn, conversation_id=conversation_id, user_id=recipient_id)
    await tipper_wallets(conn, user_id=user_id, chain_id=chain_id)
    return recipient_id, await recipient_wallet(conn, user_id=recipient_id, chain_id=chain_id)


async def check_tip(rt: Runtime, *, user_id: int, conversation_id: int, recipient_id: int) -> TipCheckOut:
    """Whether the caller can tip ``recipient_id`` in this conversation now, so that a client
    says so when its tip dialog opens rather than after Send. The intent's own checks, in its
    order; a conversation the caller cannot see is still a 404."""
    if rt.settings.tip_contract_address is None:
        return TipCheckOut(can_tip=False, code="tipping_disabled", detail="tipping is not configured on this server")
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        try:
            await _parties(
                conn,
                user_id=user_id,
                conversation_id=conversation_id,
                recipient_id=recipient_id,
                message_id=None,
                chain_id=rt.settings.chain_id,
            )
        except (Invalid, Conflict, Forbidden) as refused:
            return TipCheckOut(can_tip=False, code=refused.code, detail=refused.message)
    return TipCheckOut(can_tip=True, code=None, detail=None)


def _expiry(rt: Runtime) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=rt.settings.tip_intent_ttl_s)


async def do_report_tx(rt: Runtime, *, user_id: int, intent_id: str, tx_hash: str) -> IntentOut:
    """The tipper's client sent the transaction: the tip is pending for everyone at once.

    Nothing here trusts the hash; the watcher checks it on-chain. Reporting the same hash
    again answers the same; a different hash for an intent already reported is refused.
    """
    tx_hash = tx_hash.lower()
    async with unit_of_work(rt.engine, rt.bus) as uow:
        row = await access_own_intent(uow.conn, user_id=user_id, intent_id=intent_id)
        if row["tx_hash"] == tx_hash:
            return _out(row)
        if row["state"] != "created":
            raise Conflict(f"this tip is already {row['state']}", code="tip_already_reported")
        changed = await _settle(
            rt,
            uow,
            row=row,
            from_states=("created",),
            state="pending",
            values={"tx_hash": tx_hash, "expires_at": _expiry(rt)},
        )
        if changed is None:
            # The watcher got there first: it found this very transaction on-chain by its intent
            # id (read committed: this statement sees what it committed). Same hash, same answer.
            again = await access_own_intent(uow.conn, user_id=user_id, intent_id=intent_id)
            if again["tx_hash"] == tx_hash:
                return _out(again)
            raise Conflict("this tip changed meanwhile; read it again", code="tip_changed")
    _notify(rt, changed)
    return _out(changed)


async def do_settle(
    rt: Runtime,
    *,
    intent_pk: int,
    from_states: tuple[str, ...],
    state: str,
    reason: str | None = None,
    values: dict[str, Any] | None = None,
) -> RowMapping | None:
    """Move a tip to ``state`` if it is still in ``from_states`` (the chain watcher's verdicts);
    returns the new row, or None when it had moved on or its credit already exists."""
    try:
        async with unit_of_work(rt.engine, rt.bus) as uow:
            row = {"id": intent_pk}
            changed = await _settle(
                rt, uow, row=row, from_states=from_states, state=state, values={"reason": reason, **(values or {})}
            )
    except IntegrityError:
        # The unique (chain_id, tx_hash, log_index): this log is credited to a tip already.
        return None
    if changed is not None:
        _notify(rt, changed)
    return changed


async def do_mark_verified(rt: Runtime, *, tips: list[tuple[int, str]], head: int) -> None:
    """The chain watcher found these confirmed tips' blocks (id, block hash) still on the chain
    at ``head``. Nothing a member sees changes, so no event."""
    async with rt.engine.begin() as conn:
        await repo.mark_verified(conn, tips=tips, head=head)


async def _settle(
    rt: Runtime,
    uow: UnitOfWork,
    *,
    row: RowMapping | dict[str, Any],
    from_states: tuple[str, ...],
    state: str,
    values: dict[str, Any],
) -> RowMapping | None:
    states.check(from_states, state)
    current = await repo.intent_by_pk(uow.conn, id=row["id"])
    if current is None or current["state"] not in from_states:
        return None
    # The conversation row lock first: it orders this event's seq with every other writer.
    await conv_repo.conversation(uow.conn, conversation_id=current["conversation_id"], for_update=True)
    changed = await repo.transition(uow.conn, id=row["id"], from_states=from_states, values={"state": state, **values})
    if changed is None:
        return None
    data = _jsonable(intent_dict(changed))
    if changed["message_id"] is not None:
        totals = await repo.message_totals(uow.conn, message_ids=[changed["message_id"]])
        data["message_totals"] = [_total(t).model_dump() for t in totals.get(changed["message_id"], [])]
    cid = changed["conversation_id"]
    event = states.EVENT_OF[state]
    seq = await conv_repo.append_event(uow.conn, conversation_id=cid, event=event, data=data)
    uow.outbox.add(topic_conversation(cid), encode_event(event_frame(event, cid, seq, data)))
    return changed


def _notify(rt: Runtime, row: RowMapping) -> None:
    webhook.schedule(rt.settings, states.WEBHOOK_OF[row["state"]], _jsonable(intent_dict(row)))


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return value


def _total(t: dict[str, Any]) -> TotalOut:
    total = int(t["total"])
    return TotalOut(
        symbol=t["symbol"],
        token=t["token"],
        total=str(total),
        total_display=display(total, t["decimals"]),
        count=t["count"],
    )


# --- reads ------------------------------------------------------------------------------------


async def get_intent(rt: Runtime, *, user_id: int, intent_id: str) -> IntentOut:
    async with rt.engine.connect() as conn:
        row = await access_intent(conn, user_id=user_id, intent_id=intent_id)
        return _out(row) if row["tipper_id"] == user_id else IntentOut(**intent_dict(row))


async def message_tip_totals(conn: AsyncConnection, *, message_ids: list[int]) -> dict[int, list[TotalOut]]:
    """Confirmed tips per message, like reactions (the caller has checked access)."""
    totals = await repo.message_totals(conn, message_ids=message_ids)
    return {mid: [_total(t) for t in rows] for mid, rows in totals.items()}


async def get_message_totals(rt: Runtime, *, user_id: int, message_id: int) -> list[TotalOut]:
    async with rt.engine.connect() as conn:
        await access_message(conn, user_id=user_id, message_id=message_id)
        return (await message_tip_totals(conn, message_ids=[message_id])).get(message_id, [])


async def get_my_tips(rt: Runtime, *, user_id: int, direction: str, before: int | None, limit: int) -> list[IntentOut]:
    async with rt.engine.connect() as conn:
        rows = await repo.user_tips(conn, user_id=user_id, direction=direction, before=before, limit=limit)
    return [IntentOut(**intent_dict(r)) for r in rows]


CSV_COLUMNS = (
    "created_at",
    "direction",
    "state",
    "symbol",
    "amount",
    "token",
    "chain_id",
    "tx_hash",
    "conversation_id",
    "message_id",
    "tipper_id",
    "recipient_id",
    "recipient_address",
    "intent_id",
    "confirmed_at",
)


async def export_my_tips_csv(rt: Runtime, *, user_id: int) -> str:
    """Every tip the user sent or received, newest first, as CSV (amounts in whole units)."""
    async with rt.engine.connect() as conn:
        sent = await repo.user_tips(conn, user_id=user_id, direction="sent", before=None, limit=None)
        received = await repo.user_tips(conn, user_id=user_id, direction="received", before=None, limit=None)
    rows = [("sent", r) for r in sent] + [("received", r) for r in received]
    rows.sort(key=lambda item: item[1]["id"], reverse=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for direction, r in rows:
        d = intent_dict(r)
        d["direction"] = direction
        d["amount"] = d["amount_display"]
        # A leading = + - @ would make a spreadsheet evaluate the cell: none of these fields
        # are user text, but keep the export safe by construction anyway.
        writer.writerow(["" if d[c] is None else str(d[c]).lstrip("=+-@") for c in CSV_COLUMNS])
    return out.getvalue()


async def get_leaderboard(rt: Runtime, *, user_id: int, conversation_id: int, limit: int = 20) -> LeaderboardOut:
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        received = await repo.leaderboard(conn, conversation_id=conversation_id, by="recipient", limit=limit)
        sent = await repo.leaderboard(conn, conversation_id=conversation_id, by="tipper", limit=limit)

    def rows(found: list[RowMapping]) -> list[LeaderRow]:
        return [
            LeaderRow(
                user_id=r["user_id"],
                symbol=r["symbol"],
                total=str(int(r["total"])),
                total_display=display(int(r["total"]), r["decimals"]),
                count=r["count"],
            )
            for r in found
        ]

    return LeaderboardOut(conversation_id=conversation_id, received=rows(received), sent=rows(sent))
