"""The rules a send must pass inside its group commit, one small function each.

The batcher reads everything a batch needs in a few queries (``BatchContext``, built by
``prefetch`` with the conversations already locked), then asks these functions about each send in
order. Each returns the error that refuses the send, or None; each mirrors the single-send check
named in its docstring, so HTTP, the WebSocket and a forwarded send get the same answers.
See docs/subsystems/messages.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.access import session_refusal
from tipline.domain.conversations.access import MANAGERS
from tipline.domain.media import repository as media_repo
from tipline.domain.media.access import require_attachable
from tipline.domain.messages import repository as repo
from tipline.domain.messages.schemas import SendRequest, mentioned_handles
from tipline.domain.moderation import repository as mod_repo
from tipline.domain.moderation.access import BLOCKED
from tipline.domain.notifications import access as notify_access
from tipline.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited

# A forwarded send whose predecessor (``SendRequest.after``) is not stored: never shown to a
# client; the origin node commits the send itself, after the predecessor (routing.py).
OUT_OF_ORDER = "out_of_order"


class OutOfOrder(Conflict):
    code = OUT_OF_ORDER


@dataclass
class BatchContext:
    """What one batch's rules read, fetched once with the batch's conversations locked."""

    locked: dict[int, RowMapping]
    sessions: Mapping[uuid.UUID, Mapping[Any, Any]]
    existing: Mapping[tuple[int, int, str], Mapping[Any, Any]]
    member_pairs: set[tuple[int, int]]
    reply_convs: dict[int, int]
    mentions: dict[tuple[int, str], int]
    mention_blocks: set[tuple[int, int]]
    files: dict[uuid.UUID, RowMapping]
    blocked_dm: set[tuple[int, int]]
    slow: dict[tuple[int, int], RowMapping]
    slow_pairs: set[tuple[int, int]]
    now: datetime | None
    handles: list[set[str]] = field(default_factory=list)
    # Sends refused for their @here / @channel (notifications.access.mention_all_refusal).
    mention_all: dict[tuple[int, int, str], DomainError] = field(default_factory=dict)


async def prefetch(conn: AsyncConnection, batch: Sequence[SendRequest], *, mention_all_max: int = 0) -> BatchContext:
    """Lock the batch's conversations (in id order) and read what its rules need: the senders'
    sessions after their revocation locks, then the rest."""
    locked = await repo.lock_for_send(
        conn, conversation_ids=list({s.conversation_id for s in batch}), user_ids=[s.user_id for s in batch]
    )
    # The keys of earlier sends that forwarded sends must follow are looked up with the batch's own.
    keys = {s.key for s in batch} | {(s.conversation_id, s.user_id, s.after) for s in batch if s.after is not None}
    state = await repo.send_state(
        conn,
        session_ids=[s.session_id for s in batch if s.session_id is not None],
        pairs={(s.conversation_id, s.user_id) for s in batch if s.conversation_id in locked},
        keys=keys,
    )
    sessions, existing, member_pairs = state.sessions, state.existing, state.member_pairs
    reply_ids = {s.reply_to for s in batch if s.reply_to is not None}
    reply_convs = await repo.message_conversations(conn, message_ids=reply_ids) if reply_ids else {}
    handles = [mentioned_handles(s.body) for s in batch]
    all_handles = set().union(*handles)
    mentions = (
        await repo.resolve_mentions(conn, conversation_ids={s.conversation_id for s in batch}, handles=all_handles)
        if all_handles
        else {}
    )
    mentioned = set(mentions.values())
    mention_blocks = (
        await mod_repo.blocks_among(conn, user_ids={s.user_id for s in batch} | mentioned) if mentioned else set()
    )
    wanted = [a for s in batch for a in s.attachment_ids]
    files = await media_repo.uploads_for_update(conn, upload_ids=wanted) if wanted else {}
    # Moderation: a block closes a DM both ways; slow mode spaces a member's messages. Each
    # costs a query only when it can apply.
    members = [s for s in batch if (s.conversation_id, s.user_id) in member_pairs]
    direct = {(s.conversation_id, s.user_id) for s in members if locked[s.conversation_id]["kind"] == "direct"}
    blocked_dm = await mod_repo.blocked_direct_senders(conn, pairs=direct)
    slow_pairs = {(s.conversation_id, s.user_id) for s in members if locked[s.conversation_id]["slow_mode_s"]}
    slow = await mod_repo.slow_mode_state(conn, pairs=slow_pairs) if slow_pairs else {}
    now = await mod_repo.now(conn) if slow_pairs else None
    mention_all = await notify_access.mention_all_refusals(conn, members, limit=mention_all_max)
    return BatchContext(
        locked=locked,
        sessions=sessions,
        existing=existing,
        member_pairs=member_pairs,
        reply_convs=reply_convs,
        mentions=mentions,
        mention_blocks=mention_blocks,
        files=files,
        blocked_dm=blocked_dm,
        slow=slow,
        slow_pairs=slow_pairs,
        now=now,
        handles=handles,
        mention_all=mention_all,
    )


def session_ended(send: SendRequest, sessions: Mapping[uuid.UUID, Mapping[Any, Any]]) -> DomainError | None:
    """``accounts.access.access_session``, read in the commit's own transaction."""
    if send.session_id is None:
        return None  # a send the server makes itself, with no session behind it
    return session_refusal(sessions.get(send.session_id), user_id=send.user_id)


def not_member(send: SendRequest, ctx: BatchContext) -> DomainError | None:
    """``conversations.access.access_member``: the same answers (404 unless a public channel)."""
    conv = ctx.locked.get(send.conversation_id)
    if conv is not None and (send.conversation_id, send.user_id) in ctx.member_pairs:
        return None
    if conv is not None and conv["kind"] == "public":
        return Forbidden("join this channel first", code="not_a_member")
    return NotFound("conversation not found")


def archived(conv: Mapping[Any, Any]) -> DomainError | None:
    """``conversations.access.require_not_archived``."""
    if conv["archived_at"] is not None:
        return Conflict("this conversation is archived", code="conversation_archived")
    return None


def blocked_direct(send: SendRequest, blocked_dm: set[tuple[int, int]]) -> DomainError | None:
    """``moderation.access.require_not_blocked`` for a direct conversation (a block closes it both ways)."""
    if (send.conversation_id, send.user_id) in blocked_dm:
        return Forbidden(BLOCKED, code="blocked")
    return None


def slow_mode_wait(
    state: Mapping[Any, Any] | None, conv: Mapping[Any, Any], now: datetime | None, *, again: bool
) -> RateLimited | None:
    """Slow mode: the wait before this member may send here again (owners and admins of the
    conversation and server admins are exempt). ``again``: a second send of the member's in
    this very batch."""
    if state is None or state["role"] in MANAGERS or state["is_admin"]:
        return None
    interval = float(conv["slow_mode_s"])
    if again:
        waited = 0.0
    elif state["last_sent_at"] is None or now is None:
        return None
    else:
        waited = (now - state["last_sent_at"]).total_seconds()
    if waited >= interval:
        return None
    error = RateLimited(
        f"slow mode: one message every {int(interval)} seconds in this conversation", retry_after=interval - waited
    )
    error.code = "slow_mode"
    return error


def reply_elsewhere(send: SendRequest, reply_convs: Mapping[int, int]) -> DomainError | None:
    """The message replied to must be in the same conversation."""
    if send.reply_to is not None and reply_convs.get(send.reply_to) != send.conversation_id:
        return NotFound("the message replied to is not in this conversation", code="reply_not_found")
    return None


def attachments_refused(
    send: SendRequest, files: dict[uuid.UUID, RowMapping], claimed: set[uuid.UUID]
) -> DomainError | None:
    """``media.access.require_attachable``, plus: no upload on two sends of the same batch."""
    if not send.attachment_ids:
        return None
    try:
        require_attachable(
            files, upload_ids=send.attachment_ids, user_id=send.user_id, conversation_id=send.conversation_id
        )
    except DomainError as exc:
        return exc
    if claimed.intersection(send.attachment_ids):
        return Conflict("an attachment is already on a message", code="attachment_used")
    return None


def out_of_order(
    send: SendRequest, existing: Mapping[tuple[int, int, str], Any], stored_in_batch: Mapping[tuple[int, int, str], int]
) -> OutOfOrder | None:
    """A forwarded send comes after ``send.after``: that one must be stored already (before this
    transaction or earlier in this batch), or this one would be stored before it."""
    if send.after is None:
        return None
    key = (send.conversation_id, send.user_id, send.after)
    if key in existing or key in stored_in_batch:
        return None
    return OutOfOrder("an earlier send of this sender is not stored yet")


def visible_mentions(
    send: SendRequest,
    handles: set[str],
    mentions: Mapping[tuple[int, str], int],
    mention_blocks: set[tuple[int, int]],
) -> list[int]:
    """``moderation.access.unblocked_mentions``: members mentioned, unless a block stands between."""
    return sorted(
        {
            uid
            for h in handles
            if (uid := mentions.get((send.conversation_id, h))) is not None
            and (send.user_id, uid) not in mention_blocks
            and (uid, send.user_id) not in mention_blocks
        }
    )
