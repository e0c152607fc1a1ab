"""Webhooks and slash commands: the only code here that writes and publishes.

docs/subsystems/integrations.md. Every integration posts as a bot of its own, through the normal
send pipeline (``messages.actions.do_send_message``: seq, idempotent ``client_msg_id``, fan-out
after commit), so an integration's message is like anyone's. Requests to integrations' URLs go
through the outbound guard (``tipline.backends.safehttp``).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import RowMapping, Table, func
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.backends import safehttp
from tipline.bus.on_commit import unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.accounts.schemas import UserOut
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import ConversationAccess
from tipline.domain.conversations.actions import _add_members
from tipline.domain.integrations import repository as repo
from tipline.domain.integrations.access import (
    INCOMING_PREFIX,
    access_command_caller,
    access_hook_for_manager,
    access_hook_manager,
    access_incoming,
    hash_secret,
    require_server_admin,
)
from tipline.domain.integrations.models import incoming_webhooks, outgoing_webhooks, slash_commands
from tipline.domain.integrations.render import render
from tipline.domain.integrations.schemas import (
    CommandResult,
    IncomingPayload,
    IncomingPosted,
    IncomingWebhookCreated,
    IncomingWebhookIn,
    IncomingWebhookOut,
    IntegrationAnswer,
    OutgoingWebhookCreated,
    OutgoingWebhookIn,
    OutgoingWebhookOut,
    RunCommandIn,
    SlashCommandCreated,
    SlashCommandIn,
    SlashCommandOut,
)
from tipline.domain.integrations.signing import new_secret, signed_headers
from tipline.domain.messages import actions as msg_actions
from tipline.domain.messages.routing import SendRouter
from tipline.domain.messages.schemas import Ack, SendRequest
from tipline.domain.tokens import repository as tokens_repo
from tipline.errors import Conflict, DomainError, Invalid, NotFound
from tipline.runtime import Runtime
from tipline.storage.db import read_connection


class IntegrationFailed(DomainError):
    """The integration's URL was refused, did not answer, or answered with an error."""

    status = 502
    code = "integration_failed"


def _bot(row: RowMapping) -> UserOut:
    return UserOut(id=row["bot_id"], handle=row["bot_handle"], display_name=row["bot_display_name"], is_bot=True)


def _incoming_out(row: RowMapping) -> IncomingWebhookOut:
    return IncomingWebhookOut(
        id=row["id"],
        conversation_id=row["conversation_id"],
        name=row["name"],
        bot=_bot(row),
        allow_overrides=row["allow_overrides"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


def _incoming_created(rt: Runtime, row: RowMapping, secret: str) -> IncomingWebhookCreated:
    url = f"{rt.settings.public_url.rstrip('/')}/hooks/incoming/{row['id']}/{secret}"
    return IncomingWebhookCreated(**_incoming_out(row).model_dump(), secret=secret, url=url)


def _outgoing_out(row: RowMapping) -> OutgoingWebhookOut:
    return OutgoingWebhookOut(
        id=row["id"],
        conversation_id=row["conversation_id"],
        name=row["name"],
        url=row["url"],
        trigger_words=list(row["trigger_words"]),
        bot=_bot(row),
        created_by=row["created_by"],
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        failure_count=row["failure_count"],
        last_status=row["last_status"],
        last_error=row["last_error"],
    )


def _command_out(row: RowMapping, *, full: bool) -> SlashCommandOut:
    out = SlashCommandOut(
        id=row["id"], name=row["name"], description=row["description"], usage_hint=row["usage_hint"], bot=_bot(row)
    )
    if full:
        out = out.model_copy(
            update={
                "url": row["url"],
                "failure_count": row["failure_count"],
                "last_status": row["last_status"],
                "last_error": row["last_error"],
                "last_used_at": row["last_used_at"],
                "created_at": row["created_at"],
            }
        )
    return out


async def _new_bot(conn: AsyncConnection, *, kind: str, name: str, owner_id: int, description: str) -> int:
    """The integration's own bot account (owned by its creator): the author of what it posts."""
    for _ in range(5):
        handle = f"{kind}_{secrets.token_hex(5)}"
        row = await tokens_repo.insert_bot(
            conn, handle=handle, display_name=name, description=description, owner_id=owner_id
        )
        if row is not None:
            bot_id: int = row["id"]
            return bot_id
    raise Conflict("could not pick a handle for the integration's bot; try again", code="handle_taken")


async def _retire_bot(conn: AsyncConnection, *, bot_id: int) -> None:
    """The bot of a deleted integration: deactivated (its messages keep their author)."""
    await tokens_repo.deactivate_bot(conn, bot_id=bot_id)


# --- incoming webhooks ------------------------------------------------------------------------


async def do_create_incoming(
    rt: Runtime, *, user_id: int, conversation_id: int, data: IncomingWebhookIn
) -> IncomingWebhookCreated:
    """A new incoming webhook: its bot joins the conversation; the secret is returned once."""
    secret = INCOMING_PREFIX + secrets.token_urlsafe(32)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_hook_manager(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        bot_id = await _new_bot(uow.conn, kind="hook", name=data.name, owner_id=user_id, description="Incoming webhook")
        await _add_members(uow.conn, uow.outbox, conv=access.conversation, user_ids=[bot_id], role="member", by=user_id)
        row = await repo.insert_row(
            uow.conn,
            incoming_webhooks,
            {
                "conversation_id": conversation_id,
                "bot_id": bot_id,
                "created_by": user_id,
                "name": data.name,
                "secret_hash": hash_secret(secret),
                "allow_overrides": data.allow_overrides,
            },
        )
    return _incoming_created(rt, row, secret)


async def list_incoming(rt: Runtime, *, user_id: int, conversation_id: int) -> list[IncomingWebhookOut]:
    async with read_connection(rt.engine) as conn:
        await access_hook_manager(conn, user_id=user_id, conversation_id=conversation_id)
        rows = await repo.rows_of_conversation(conn, incoming_webhooks, conversation_id=conversation_id)
    return [_incoming_out(r) for r in rows]


async def do_rotate_incoming(rt: Runtime, *, user_id: int, hook_id: int) -> IncomingWebhookCreated:
    """A new secret: the old one (and the URL with it) stops working at the commit."""
    secret = INCOMING_PREFIX + secrets.token_urlsafe(32)
    async with rt.engine.begin() as conn:
        hook, _ = await access_hook_for_manager(
            conn, incoming_webhooks, user_id=user_id, hook_id=hook_id, for_update=True
        )
        await repo.update_row(conn, incoming_webhooks, row_id=hook_id, values={"secret_hash": hash_secret(secret)})
    return _incoming_created(rt, hook, secret)


async def do_delete_hook(rt: Runtime, *, user_id: int, hook_id: int, table: Table) -> None:
    """Delete an incoming or outgoing webhook (its pending deliveries with it); its bot is deactivated."""
    async with rt.engine.begin() as conn:
        hook, _ = await access_hook_for_manager(conn, table, user_id=user_id, hook_id=hook_id, for_update=True)
        await repo.delete_row(conn, table, row_id=hook_id)
        await _retire_bot(conn, bot_id=hook["bot_id"])


def _client_msg_id(idempotency_key: str | None) -> str:
    return f"hook:{idempotency_key}" if idempotency_key else f"hook:{uuid.uuid4().hex}"


async def do_post_incoming(
    rt: Runtime,
    sends: SendRouter,
    *,
    hook_id: int,
    secret: str,
    payload: IncomingPayload,
    idempotency_key: str | None,
    ip: str,
) -> IncomingPosted:
    """Post a Slack-compatible payload as the hook's bot, through the send pipeline.

    Answers after the commit (the ack's seq); the same ``Idempotency-Key`` again returns the same message."""
    async with read_connection(rt.engine) as conn:
        hook = await access_incoming(conn, hook_id=hook_id, secret=secret)
    await rt.limits.check("incoming_webhook", str(hook_id))
    username = payload.username if hook["allow_overrides"] else None
    body = render(payload.text, payload.attachments, username=username)
    if not body.strip():
        raise Invalid("the payload has no text and no attachment to show", code="body_empty")
    request = SendRequest(
        user_id=hook["bot_id"],
        conversation_id=hook["conversation_id"],
        client_msg_id=_client_msg_id(idempotency_key),
        body=body,
    )
    ack = await (await msg_actions.do_send_message(rt, sends, request, ip=ip))
    async with rt.engine.begin() as conn:
        await repo.touch_incoming(conn, hook_id=hook_id)
    return IncomingPosted(conversation_id=ack.conversation_id, message_id=ack.message_id, seq=ack.seq)


# --- outgoing webhooks ------------------------------------------------------------------------


async def do_create_outgoing(
    rt: Runtime, *, user_id: int, conversation_id: int, data: OutgoingWebhookIn
) -> OutgoingWebhookCreated:
    """A new outgoing webhook: messages after this point are sent to its URL (none before)."""
    secret = new_secret()
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_hook_manager(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        bot_id = await _new_bot(uow.conn, kind="out", name=data.name, owner_id=user_id, description="Outgoing webhook")
        await _add_members(uow.conn, uow.outbox, conv=access.conversation, user_ids=[bot_id], role="member", by=user_id)
        current = await conv_repo.conversation(uow.conn, conversation_id=conversation_id)
        assert current is not None
        row = await repo.insert_row(
            uow.conn,
            outgoing_webhooks,
            {
                "conversation_id": conversation_id,
                "bot_id": bot_id,
                "created_by": user_id,
                "name": data.name,
                "url": data.url,
                "secret": secret,
                "trigger_words": sorted({w.lower() for w in data.trigger_words}),
                "cursor_seq": current["last_seq"],
            },
        )
    return OutgoingWebhookCreated(**_outgoing_out(row).model_dump(), secret=secret)


async def list_outgoing(rt: Runtime, *, user_id: int, conversation_id: int) -> list[OutgoingWebhookOut]:
    async with read_connection(rt.engine) as conn:
        await access_hook_manager(conn, user_id=user_id, conversation_id=conversation_id)
        rows = await repo.rows_of_conversation(conn, outgoing_webhooks, conversation_id=conversation_id)
    return [_outgoing_out(r) for r in rows]


async def do_rotate_outgoing(rt: Runtime, *, user_id: int, hook_id: int) -> OutgoingWebhookCreated:
    secret = new_secret()
    async with rt.engine.begin() as conn:
        await access_hook_for_manager(conn, outgoing_webhooks, user_id=user_id, hook_id=hook_id, for_update=True)
        await repo.update_row(conn, outgoing_webhooks, row_id=hook_id, values={"secret": secret})
        row = await repo.row_by_id(conn, outgoing_webhooks, row_id=hook_id)
    assert row is not None
    return OutgoingWebhookCreated(**_outgoing_out(row).model_dump(), secret=secret)


# --- slash commands ---------------------------------------------------------------------------


async def do_create_command(rt: Runtime, *, user_id: int, data: SlashCommandIn) -> SlashCommandCreated:
    name = data.name.lstrip("/")
    secret = new_secret()
    async with rt.engine.begin() as conn:
        await require_server_admin(conn, user_id=user_id)
        if await repo.command_name_taken(conn, name=name):
            raise Conflict(f"/{name} is already a command", code="command_taken")
        bot_id = await _new_bot(
            conn, kind="cmd", name=f"/{name}", owner_id=user_id, description=data.description or "Slash command"
        )
        row = await repo.insert_row(
            conn,
            slash_commands,
            {
                "name": name,
                "url": data.url,
                "description": data.description,
                "usage_hint": data.usage_hint,
                "bot_id": bot_id,
                "created_by": user_id,
                "secret": secret,
            },
        )
    return SlashCommandCreated(**_command_out(row, full=True).model_dump(), secret=secret)


async def list_commands(rt: Runtime, *, user_id: int) -> list[SlashCommandOut]:
    """Every command (for the composer's list); administrators also see URLs and failures."""
    async with read_connection(rt.engine) as conn:
        me = await accounts_repo.user_by_id(conn, user_id=user_id)
        full = bool(me is not None and me["is_admin"])
        rows = await repo.all_commands(conn)
    return [_command_out(r, full=full) for r in rows]


async def _admin_command(conn: AsyncConnection, *, user_id: int, command_id: int) -> RowMapping:
    await require_server_admin(conn, user_id=user_id)
    row = await repo.row_by_id(conn, slash_commands, row_id=command_id, for_update=True)
    if row is None:
        raise NotFound("command not found", code="command_not_found")
    return row


async def do_rotate_command(rt: Runtime, *, user_id: int, command_id: int) -> SlashCommandCreated:
    secret = new_secret()
    async with rt.engine.begin() as conn:
        row = await _admin_command(conn, user_id=user_id, command_id=command_id)
        await repo.update_row(conn, slash_commands, row_id=command_id, values={"secret": secret})
    return SlashCommandCreated(**_command_out(row, full=True).model_dump(), secret=secret)


async def do_delete_command(rt: Runtime, *, user_id: int, command_id: int) -> None:
    async with rt.engine.begin() as conn:
        row = await _admin_command(conn, user_id=user_id, command_id=command_id)
        await repo.delete_row(conn, slash_commands, row_id=command_id)
        await _retire_bot(conn, bot_id=row["bot_id"])


# --- calling integrations ---------------------------------------------------------------------


def parse_answer(response: safehttp.SafeResponse) -> IntegrationAnswer:
    """A JSON answer as ``IntegrationAnswer``; a plain-text answer is its ``text``; empty: nothing."""
    if not response.body.strip():
        return IntegrationAnswer()
    if "json" in response.headers.get("content-type", ""):
        try:
            return IntegrationAnswer.model_validate_json(response.body)
        except ValidationError as exc:
            raise IntegrationFailed("the integration answered JSON that is not a valid answer") from exc
    return IntegrationAnswer(text=response.body.decode("utf-8", "replace"))


async def call_integration(
    rt: Runtime, *, url: str, secret: str, payload: dict[str, Any], timeout_s: float
) -> safehttp.SafeResponse:
    """POST a signed payload through the outbound guard; any failure is ``safehttp.FetchFailed``."""
    body = orjson.dumps(payload)
    response = await safehttp.fetch(
        url,
        method="POST",
        body=body,
        headers=signed_headers(secret, body),
        max_bytes=rt.settings.integration_response_max_bytes,
        timeout_s=timeout_s,
        settings=rt.settings,
    )
    if not 200 <= response.status < 300:
        raise safehttp.FetchFailed(f"the integration answered HTTP {response.status}", status=response.status)
    return response


async def record_outcome(
    rt: Runtime, table: Table, *, row_id: int, status: int | None, error: str | None, extra: dict[str, Any]
) -> None:
    """What the integration's managers see: failures in a row, the last status and error."""
    async with rt.engine.begin() as conn:
        await repo.record_outcome(conn, table, row_id=row_id, status=status, error=error, extra=extra)


async def post_as_bot(
    rt: Runtime, sends: SendRouter, *, bot_id: int, conversation_id: int, client_msg_id: str, body: str
) -> Ack:
    """Send as an integration's bot through the pipeline (the server's own send: no session)."""
    request = SendRequest(user_id=bot_id, conversation_id=conversation_id, client_msg_id=client_msg_id, body=body)
    return await (await msg_actions.do_send_message(rt, sends, request, ip=""))


async def _ensure_member(rt: Runtime, *, bot_id: int, access: ConversationAccess, by: int) -> bool:
    """The command's bot joins the conversation before it first speaks there (not in a DM)."""
    if access.conversation["kind"] == "direct":
        return False
    async with unit_of_work(rt.engine, rt.bus) as uow:
        conv_id = access.conversation["id"]
        if await conv_repo.membership(uow.conn, conversation_id=conv_id, user_id=bot_id) is None:
            await _add_members(uow.conn, uow.outbox, conv=access.conversation, user_ids=[bot_id], role="member", by=by)
    return True


def _command_payload(cmd: RowMapping, access: ConversationAccess, caller: RowMapping, text: str) -> dict[str, Any]:
    conv = access.conversation
    return {
        "type": "slash_command",
        "command": f"/{cmd['name']}",
        "text": text,
        "user_id": caller["id"],
        "user_name": caller["handle"],
        "conversation_id": conv["id"],
        "conversation_name": conv["name"],
        "channel_id": conv["id"],
        "channel_name": conv["name"],
    }


async def do_run_command(
    rt: Runtime, sends: SendRouter, *, user_id: int, conversation_id: int, data: RunCommandIn
) -> CommandResult:
    """Run ``/name text`` in a conversation: a signed POST to the command's URL, then its answer:
    ephemeral (returned to the caller only) or in_channel (posted as the command's bot)."""
    await rt.limits.check("slash_command_per_user", str(user_id))
    name = data.command.lstrip("/")
    async with read_connection(rt.engine) as conn:
        access = await access_command_caller(conn, user_id=user_id, conversation_id=conversation_id)
        cmd = await repo.command_by_name(conn, name=name)
        caller = await accounts_repo.public_user(conn, user_id=user_id)
    if cmd is None:
        raise NotFound(f"there is no command /{name}", code="command_not_found")
    assert caller is not None
    payload = _command_payload(cmd, access, caller, data.text)
    used = {"last_used_at": func.now()}
    try:
        response = await call_integration(
            rt, url=cmd["url"], secret=cmd["secret"], payload=payload, timeout_s=rt.settings.slash_command_timeout_s
        )
        answer = parse_answer(response)
    except safehttp.FetchFailed as exc:
        await record_outcome(rt, slash_commands, row_id=cmd["id"], status=exc.status, error=exc.reason, extra=used)
        raise IntegrationFailed(f"/{name} failed: {exc.reason}") from exc
    except IntegrationFailed as exc:
        await record_outcome(
            rt, slash_commands, row_id=cmd["id"], status=response.status, error=exc.message, extra=used
        )
        raise
    await record_outcome(rt, slash_commands, row_id=cmd["id"], status=response.status, error=None, extra=used)
    text = render(answer.text, answer.attachments)
    in_channel = answer.response_type == "in_channel" and bool(text.strip())
    if in_channel and await _ensure_member(rt, bot_id=cmd["bot_id"], access=access, by=user_id):
        ack = await post_as_bot(
            rt,
            sends,
            bot_id=cmd["bot_id"],
            conversation_id=conversation_id,
            client_msg_id=f"cmd:{uuid.uuid4().hex}",
            body=text,
        )
        return CommandResult(response_type="in_channel", text=text, message=ack)
    return CommandResult(response_type="ephemeral", text=text)
