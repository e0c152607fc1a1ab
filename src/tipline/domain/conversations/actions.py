"""Conversation actions: create, open a DM, rename, topic, archive, join, leave, invite, remove,
change roles, read markers. The only code that writes conversations and members.
See docs/subsystems/conversations.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import RowMapping, func
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.bus.base import TOPIC_ALL, topic_conversation, topic_user
from tipline.bus.envelope import encode_control, encode_event, event_frame
from tipline.bus.on_commit import Outbox, unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.accounts.schemas import UserOut
from tipline.domain.admin.audit import record_audit
from tipline.domain.conversations import repository as repo
from tipline.domain.conversations.access import (
    NOT_FOUND,
    Row,
    access_conversation,
    access_member,
    require_manager,
    require_not_archived,
    require_not_direct,
    require_owner,
)
from tipline.domain.conversations.schemas import (
    ConversationOut,
    CreateConversationIn,
    LastMessage,
    MemberOut,
    PatchConversationIn,
    conversation_event_data,
)
from tipline.domain.moderation import repository as mod_repo
from tipline.domain.moderation.access import hidden_senders, require_not_blocked
from tipline.domain.timeline import repository as timeline_repo
from tipline.domain.timeline.receipts import publish_read
from tipline.errors import Conflict, Forbidden, Invalid, NotFound
from tipline.runtime import Runtime
from tipline.storage.db import read_connection


def _user(row: RowMapping) -> dict[str, Any]:
    return {"id": row["id"], "handle": row["handle"], "display_name": row["display_name"], "is_bot": row["is_bot"]}


def _conversation_out(
    row: Row, *, member_count: int, peer: RowMapping | None = None, blocked: frozenset[int] = frozenset()
) -> ConversationOut:
    last = None
    if row.get("lm_id") is not None:
        deleted = row["lm_deleted_at"] is not None
        hidden = row["lm_sender_id"] in blocked
        last = LastMessage(
            id=row["lm_id"],
            seq=row["lm_seq"],
            sender_id=row["lm_sender_id"],
            body="" if deleted or hidden else row["lm_body"],
            created_at=row["lm_created_at"],
            deleted=deleted,
            hidden=hidden,
        )
    return ConversationOut(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        topic=row["topic"],
        created_at=row["created_at"],
        archived=row["archived_at"] is not None,
        last_seq=row["last_seq"],
        last_message_at=row["last_message_at"],
        member_count=member_count,
        role=row.get("role"),
        last_read_seq=row.get("last_read_seq"),
        unread=row.get("unread"),
        last_message=last,
        peer=UserOut(**_user(peer)) if peer is not None else None,
    )


async def _durable(
    conn: AsyncConnection, outbox: Outbox, *, conversation_id: int, event: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Log a durable conversation event (it takes a seq) and queue its frame for after commit."""
    seq = await repo.append_event(conn, conversation_id=conversation_id, event=event, data=data)
    frame = event_frame(event, conversation_id, seq, data)
    outbox.add(topic_conversation(conversation_id), encode_event(frame))
    return frame


async def _add_members(
    conn: AsyncConnection, outbox: Outbox, *, conv: Row, user_ids: list[int], role: str, by: int
) -> None:
    conversation_id = conv["id"]
    for uid in user_ids:
        user = await accounts_repo.public_user(conn, user_id=uid)
        if user is None:
            raise NotFound("user not found", code="user_not_found")
        current = await repo.conversation(conn, conversation_id=conversation_id)
        assert current is not None
        added = await repo.add_member(
            conn, conversation_id=conversation_id, user_id=uid, role=role, joined_seq=current["last_seq"]
        )
        if not added:
            continue
        await _durable(
            conn,
            outbox,
            conversation_id=conversation_id,
            event="member.joined",
            data={"user": _user(user), "role": role, "by": by},
        )
        fresh = await repo.conversation(conn, conversation_id=conversation_id)
        assert fresh is not None
        # The new member's sockets (on any node) start receiving this conversation.
        outbox.add(
            topic_user(uid),
            encode_control(
                {
                    "op": "subscribe",
                    "conversation_id": conversation_id,
                    "user_id": uid,
                    "frame": event_frame(
                        "conversation.joined",
                        conversation_id,
                        None,
                        {**conversation_event_data(fresh), "last_seq": fresh["last_seq"], "role": role},
                    ),
                }
            ),
        )


async def _remove_member(
    conn: AsyncConnection, outbox: Outbox, *, conversation_id: int, user_id: int, event: str, by: int
) -> None:
    if not await repo.remove_member(conn, conversation_id=conversation_id, user_id=user_id):
        raise NotFound("member not found", code="member_not_found")
    data: dict[str, Any] = {"user_id": user_id, "by": by}
    # Named in the event: once gone, the member is no longer in the list clients name people from.
    if (user := await accounts_repo.public_user(conn, user_id=user_id)) is not None:
        data["user"] = _user(user)
    seq = await repo.append_event(conn, conversation_id=conversation_id, event=event, data=data)
    # Every node delivers the frame to its subscribers (the removed user included, so their
    # client knows), then stops delivering this conversation to that user's sockets.
    outbox.add(
        topic_conversation(conversation_id),
        encode_control(
            {
                "op": "unsubscribe",
                "conversation_id": conversation_id,
                "user_id": user_id,
                "frame": event_frame(event, conversation_id, seq, data),
            }
        ),
    )


async def do_create_conversation(rt: Runtime, *, user_id: int, data: CreateConversationIn) -> ConversationOut:
    invitees = sorted({uid for uid in data.member_ids if uid != user_id})
    async with unit_of_work(rt.engine, rt.bus) as uow:
        found = await repo.existing_user_ids(uow.conn, user_ids=invitees)
        if missing := [uid for uid in invitees if uid not in found]:
            raise NotFound(f"user not found: {missing[0]}", code="user_not_found")
        conv = await repo.insert_conversation(
            uow.conn, kind=data.kind, name=data.name, topic=data.topic, created_by=user_id
        )
        assert conv is not None
        await repo.conversation(uow.conn, conversation_id=conv["id"], for_update=True)
        await _add_members(uow.conn, uow.outbox, conv=conv, user_ids=[user_id], role="owner", by=user_id)
        await _add_members(uow.conn, uow.outbox, conv=conv, user_ids=invitees, role="member", by=user_id)
        return await _get(uow.conn, user_id=user_id, conversation_id=conv["id"])


async def do_open_direct(rt: Runtime, *, user_id: int, peer_id: int) -> ConversationOut:
    """The one DM between two users: created on first use, the same one afterwards."""
    if peer_id == user_id:
        raise Invalid("you cannot open a direct conversation with yourself", code="direct_with_self")
    key = f"{min(user_id, peer_id)}:{max(user_id, peer_id)}"
    async with unit_of_work(rt.engine, rt.bus) as uow:
        if await accounts_repo.public_user(uow.conn, user_id=peer_id) is None:
            raise NotFound("user not found", code="user_not_found")
        await require_not_blocked(uow.conn, user_id, peer_id)
        conv = await repo.insert_conversation(
            uow.conn, kind="direct", name="", topic="", created_by=user_id, direct_key=key
        )
        if conv is None:
            existing = await repo.direct_by_key(uow.conn, direct_key=key)
            assert existing is not None
            return await _get(uow.conn, user_id=user_id, conversation_id=existing["id"])
        await repo.conversation(uow.conn, conversation_id=conv["id"], for_update=True)
        await _add_members(uow.conn, uow.outbox, conv=conv, user_ids=[user_id, peer_id], role="member", by=user_id)
        return await _get(uow.conn, user_id=user_id, conversation_id=conv["id"])


async def do_update_conversation(
    rt: Runtime, *, user_id: int, conversation_id: int, patch: PatchConversationIn
) -> ConversationOut:
    values = patch.model_dump(exclude_none=True)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_manager(access)
        require_not_archived(access)
        if "kind" in values and access.conversation["kind"] not in ("public", "private"):
            raise Conflict("only a channel can be made public or private", code="not_a_channel")
        if values:
            # What changed, for the timeline's line ("renamed", "changed the topic", ...).
            changed = [k for k in ("name", "topic", "kind") if k in values and values[k] != access.conversation[k]]
            row = await repo.update_conversation(uow.conn, conversation_id=conversation_id, values=values)
            await _durable(
                uow.conn,
                uow.outbox,
                conversation_id=conversation_id,
                event="conversation.updated",
                data={**conversation_event_data(row), "by": user_id, "changed": changed},
            )
        return await _get(uow.conn, user_id=user_id, conversation_id=conversation_id)


async def do_set_archived(rt: Runtime, *, user_id: int, conversation_id: int, archived: bool) -> ConversationOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_manager(access)
        if (access.conversation["archived_at"] is not None) != archived:
            row = await repo.update_conversation(
                uow.conn, conversation_id=conversation_id, values={"archived_at": func.now() if archived else None}
            )
            await _durable(
                uow.conn,
                uow.outbox,
                conversation_id=conversation_id,
                event="conversation.archived" if archived else "conversation.unarchived",
                data={**conversation_event_data(row), "by": user_id},
            )
        return await _get(uow.conn, user_id=user_id, conversation_id=conversation_id)


async def do_join(rt: Runtime, *, user_id: int, conversation_id: int) -> ConversationOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_conversation(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        if access.member is None:
            require_not_archived(access)
            # A channel everyone left has no one to manage it: its first new member owns it.
            empty = await repo.member_count(uow.conn, conversation_id=conversation_id) == 0
            await _add_members(
                uow.conn,
                uow.outbox,
                conv=access.conversation,
                user_ids=[user_id],
                role="owner" if empty else "member",
                by=user_id,
            )
        return await _get(uow.conn, user_id=user_id, conversation_id=conversation_id)


async def do_leave(rt: Runtime, *, user_id: int, conversation_id: int) -> None:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        if (
            access.role == "owner"
            and await repo.count_role(uow.conn, conversation_id=conversation_id, role="owner") == 1
        ):
            await _promote_successor(uow.conn, uow.outbox, conversation_id=conversation_id, leaving=user_id)
        await _remove_member(
            uow.conn, uow.outbox, conversation_id=conversation_id, user_id=user_id, event="member.left", by=user_id
        )


async def _promote_successor(conn: AsyncConnection, outbox: Outbox, *, conversation_id: int, leaving: int) -> None:
    """The last owner is leaving: the longest-standing admin (else member) becomes owner."""
    rows = [r for r in await repo.list_members(conn, conversation_id=conversation_id) if r["id"] != leaving]
    if not rows:
        return
    successor = next((r for r in rows if r["role"] == "admin"), rows[0])
    await repo.set_role(conn, conversation_id=conversation_id, user_id=successor["id"], role="owner")
    await _durable(
        conn,
        outbox,
        conversation_id=conversation_id,
        event="member.role_changed",
        data={"user_id": successor["id"], "role": "owner", "by": leaving},
    )


async def do_invite(rt: Runtime, *, user_id: int, conversation_id: int, invitee_id: int) -> MemberOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_manager(access)
        require_not_archived(access)
        if await repo.membership(uow.conn, conversation_id=conversation_id, user_id=invitee_id) is not None:
            raise Conflict("already a member", code="already_member")
        await _add_members(
            uow.conn, uow.outbox, conv=access.conversation, user_ids=[invitee_id], role="member", by=user_id
        )
        return await _member(uow.conn, conversation_id=conversation_id, user_id=invitee_id)


async def do_remove_member(
    rt: Runtime, *, user_id: int, conversation_id: int, target_id: int, ip: str | None = None
) -> None:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_manager(access)
        if target_id == user_id:
            raise Conflict("use leave to remove yourself", code="use_leave")
        target = await repo.membership(uow.conn, conversation_id=conversation_id, user_id=target_id)
        if target is None:
            raise NotFound("member not found", code="member_not_found")
        if target["role"] != "member" and access.role != "owner":
            raise Forbidden("only an owner can remove an owner or an admin", code="not_an_owner")
        await _remove_member(
            uow.conn, uow.outbox, conversation_id=conversation_id, user_id=target_id, event="member.removed", by=user_id
        )
        await record_audit(
            uow.conn,
            actor_id=user_id,
            action="conversation.remove_member",
            target_type="conversation",
            target_id=str(conversation_id),
            ip=ip,
            details={"user_id": target_id, "role": target["role"]},
        )


async def do_change_role(rt: Runtime, *, user_id: int, conversation_id: int, target_id: int, role: str) -> MemberOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_owner(access)
        target = await repo.membership(uow.conn, conversation_id=conversation_id, user_id=target_id)
        if target is None:
            raise NotFound("member not found", code="member_not_found")
        if (
            target_id == user_id
            and role != "owner"
            and await repo.count_role(uow.conn, conversation_id=conversation_id, role="owner") == 1
        ):
            raise Conflict("make someone else an owner first", code="last_owner")
        if target["role"] != role:
            await repo.set_role(uow.conn, conversation_id=conversation_id, user_id=target_id, role=role)
            await _durable(
                uow.conn,
                uow.outbox,
                conversation_id=conversation_id,
                event="member.role_changed",
                data={"user_id": target_id, "role": role, "by": user_id},
            )
        return await _member(uow.conn, conversation_id=conversation_id, user_id=target_id)


async def do_mark_read(rt: Runtime, *, user_id: int, conversation_id: int, seq: int) -> int:
    """Move the caller's read marker; other members and the caller's other tabs see it live."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id)
        marker = await repo.mark_read(uow.conn, conversation_id=conversation_id, user_id=user_id, seq=seq)
        if marker is None:
            raise NotFound("conversation not found")
        # Others see it only if the reader sends receipts and the conversation is small enough
        # (docs/subsystems/messages.md, Read receipts); the reader's own tabs always do.
        private = await timeline_repo.receipts_off(uow.conn, user_id=user_id) or (
            await repo.member_count(uow.conn, conversation_id=conversation_id) > rt.settings.read_receipts_max_members
        )
    await publish_read(rt, user_id=user_id, conversation_id=conversation_id, seq=marker, private=private)
    return marker


# --- ephemeral events: typing and presence (published, never stored) ---------------------------


async def do_typing(rt: Runtime, *, user_id: int, conversation_id: int, subscribed: bool) -> None:
    """Tell a conversation the user is typing, at most once per ``TYPING_THROTTLE_S``, unless it
    has more than ``TYPING_FANOUT_MAX_MEMBERS`` members. See docs/subsystems/presence.md (Typing).

    ``subscribed``: the socket already receives this conversation, which proves membership
    without a query (its subscription follows membership changes live).
    """
    if not subscribed:
        # Answer exactly as the other paths do (404, or 403 for a public channel).
        async with rt.engine.connect() as conn:
            await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        raise NotFound(NOT_FOUND)
    # Bounded like presence: one typist in a 10,000-member channel must not cost 10,000 frames
    # every throttle period. Dropped without an error, as a throttled frame is.
    if await _typing_size(rt, conversation_id) > rt.settings.typing_fanout_max_members:
        return
    if not await rt.presence.typing_allowed(user_id, conversation_id, rt.settings.typing_throttle_s):
        return  # throttled: typing is a hint, dropping it is harmless
    frame = {"type": "typing", "conversation_id": conversation_id, "user_id": user_id}
    await rt.bus.publish(topic_conversation(conversation_id), encode_event(frame))


# Member counts for the typing limit, kept on the runtime (one per node). Nothing keeps a
# conversation's size at hand (no column, and the hub sees only this node's sockets), so it takes
# a query; typing is the busiest client frame, so each node reads a conversation's size about
# once per TYPING_SIZE_TTL_S however many people type there (typists who miss at the same moment
# each count). Until then a conversation that just crossed TYPING_FANOUT_MAX_MEMBERS keeps its
# old behaviour: typing is a hint, so that is harmless.
TYPING_SIZE_TTL_S: Final = 10.0


async def _typing_size(rt: Runtime, conversation_id: int) -> int:
    sizes = rt.typing_sizes
    now = time.monotonic()
    hit = sizes.get(conversation_id)
    if hit is not None and now - hit[0] < TYPING_SIZE_TTL_S:
        return hit[1]
    async with rt.engine.connect() as conn:
        count = await repo.member_count(conn, conversation_id=conversation_id)
    if len(sizes) >= 10_000:
        sizes.clear()  # bounded memory; at worst each conversation is counted once more
    sizes[conversation_id] = (now, count)
    return count


async def do_sync_presence(rt: Runtime, *, user_id: int, local_status: Callable[[int], str | None]) -> None:
    """Record this node's view of the user (``local_status``: from its sockets, the hub's) in
    the presence store; if the user's overall presence changed, tell each user who shares a
    conversation with them, once (user topic). See docs/subsystems/presence.md."""
    lock = rt.presence_locks.setdefault(user_id, asyncio.Lock())
    async with lock:
        # Read the local state under the lock, so the last update to finish is the newest.
        before, after = await rt.presence.set(user_id, rt.node_id, local_status(user_id))
    if not lock.locked() and local_status(user_id) is None:
        rt.presence_locks.pop(user_id, None)
    if before == after:
        return
    async with rt.engine.connect() as conn:
        # Bounded: a join in a 10,000-member channel must not cost 10,000 frames.
        peers = await repo.users_sharing_a_conversation(
            conn, user_id=user_id, others=None, max_members=rt.settings.presence_fanout_max_members
        )
    payload = encode_event({"type": "presence", "user_id": user_id, "status": after})
    await rt.bus.publish_many([(topic_user(uid), payload) for uid in sorted(peers)])


# --- reads ------------------------------------------------------------------------------------


async def _member(conn: AsyncConnection, *, conversation_id: int, user_id: int) -> MemberOut:
    for row in await repo.list_members(conn, conversation_id=conversation_id, user_id=user_id):
        if row["id"] == user_id:
            return MemberOut(
                user=UserOut(**_user(row)),
                role=row["role"],
                joined_at=row["joined_at"],
                last_read_seq=row["last_read_seq"],
            )
    raise NotFound("member not found", code="member_not_found")


async def _get(conn: AsyncConnection, *, user_id: int, conversation_id: int) -> ConversationOut:
    for row in await repo.list_for_user(conn, user_id=user_id, conversation_id=conversation_id):
        if row["id"] == conversation_id:
            peer = None
            if row["kind"] == "direct":
                peers = await repo.direct_peers(conn, user_id=user_id, conversation_ids=[conversation_id])
                peer = peers.get(conversation_id)
            return _conversation_out(row, member_count=row["member_count"], peer=peer)
    # Not a member: only a public channel is visible.
    access = await access_conversation(conn, user_id=user_id, conversation_id=conversation_id)
    count = await repo.member_count(conn, conversation_id=conversation_id)
    return _conversation_out(access.conversation, member_count=count)


async def get_conversation(rt: Runtime, *, user_id: int, conversation_id: int) -> ConversationOut:
    async with rt.engine.connect() as conn:
        await access_conversation(conn, user_id=user_id, conversation_id=conversation_id)
        return await _get(conn, user_id=user_id, conversation_id=conversation_id)


async def list_conversations(rt: Runtime, *, user_id: int) -> list[ConversationOut]:
    async with rt.engine.connect() as conn:
        rows = await repo.list_for_user(conn, user_id=user_id)
        direct = [r["id"] for r in rows if r["kind"] == "direct"]
        peers = await repo.direct_peers(conn, user_id=user_id, conversation_ids=direct)
        blocked = await hidden_senders(conn, viewer_id=user_id)
    return [
        _conversation_out(r, member_count=r["member_count"], peer=peers.get(r["id"]), blocked=blocked) for r in rows
    ]


async def list_public_channels(
    rt: Runtime, *, user_id: int, query: str | None, limit: int, offset: int
) -> list[ConversationOut]:
    async with rt.engine.connect() as conn:
        rows = await repo.list_public(conn, user_id=user_id, query=query, limit=limit, offset=offset)
    return [_conversation_out(r, member_count=r["member_count"]) for r in rows]


async def list_members(rt: Runtime, *, user_id: int, conversation_id: int) -> list[MemberOut]:
    async with rt.engine.connect() as conn:
        await access_conversation(conn, user_id=user_id, conversation_id=conversation_id)
        rows = await repo.list_members(conn, conversation_id=conversation_id)
        # Read positions of people who send no receipts are not shown to others (0: unknown).
        shown = {r["user_id"] for r in await timeline_repo.read_positions(conn, conversation_id=conversation_id)}
    return [
        MemberOut(
            user=UserOut(**_user(r)),
            role=r["role"],
            joined_at=r["joined_at"],
            last_read_seq=r["last_read_seq"] if r["id"] in shown or r["id"] == user_id else 0,
        )
        for r in rows
    ]


async def get_presence(rt: Runtime, *, user_id: int, user_ids: list[int]) -> dict[int, str]:
    """Presence of the given users who share a conversation with the caller (and the caller's)."""
    async with rt.engine.connect() as conn:
        visible = await repo.users_sharing_a_conversation(conn, user_id=user_id, others=user_ids)
    shown = [uid for uid in user_ids if uid in visible or uid == user_id]
    return await rt.presence.get_many(shown)


@dataclass(frozen=True)
class SocketStates:
    """What open sockets may still receive, read from PostgreSQL (the truth, whatever the bus did)."""

    live_sessions: set[uuid.UUID]
    memberships: dict[int, set[int]]  # user id -> conversation ids
    blocked: dict[int, frozenset[int]]  # user id -> the people they blocked


async def read_socket_states(rt: Runtime, *, user_ids: Sequence[int], session_ids: Sequence[uuid.UUID]) -> SocketStates:
    """Sessions, memberships and blocks of the users behind a node's sockets, in three queries.

    A node re-checks its sockets with this after the bus may have lost a revocation, a removal
    or a block (docs/subsystems/messages.md, "Sockets re-checked")."""
    async with read_connection(rt.engine) as conn:
        live = await accounts_repo.live_session_ids(conn, session_ids=session_ids)
        memberships = await repo.memberships_of(conn, user_ids=user_ids)
        blocked = await mod_repo.blocked_by_each(conn, blocker_ids=user_ids)
    return SocketStates(live_sessions=live, memberships=memberships, blocked=blocked)


async def ask_nodes_to_recheck(rt: Runtime) -> None:
    """Tell every other node to re-check and re-sync its sockets: this node was cut off from the
    bus, so the controls it published and the events it committed meanwhile reached no one."""
    await rt.bus.publish(TOPIC_ALL, encode_control({"op": "recheck", "node_id": rt.node_id}))


async def read_last_seqs(rt: Runtime, conversation_ids: Sequence[int]) -> dict[int, int]:
    """Where each of these conversations stands now (for a node telling its sockets: ``sync``)."""
    async with read_connection(rt.engine) as conn:
        return await repo.last_seqs(conn, conversation_ids=conversation_ids)
