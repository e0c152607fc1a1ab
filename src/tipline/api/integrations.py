"""HTTP routes for webhooks and slash commands (docs/subsystems/integrations.md)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Path, Request, status
from pydantic import ValidationError

from tipline.api.deps import CurrentCaller, IdPath, Rt, Sends, client_ip
from tipline.domain.integrations import actions
from tipline.domain.integrations.models import incoming_webhooks, outgoing_webhooks
from tipline.domain.integrations.schemas import (
    CommandResult,
    IncomingPayload,
    IncomingPosted,
    IncomingWebhookCreated,
    IncomingWebhookIn,
    IncomingWebhookOut,
    OutgoingWebhookCreated,
    OutgoingWebhookIn,
    OutgoingWebhookOut,
    RunCommandIn,
    SlashCommandCreated,
    SlashCommandIn,
    SlashCommandOut,
)
from tipline.errors import Invalid, NotFound

router = APIRouter(tags=["integrations"])
IDEMPOTENCY_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,48}$")

# --- incoming webhooks: management ------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/webhooks/incoming",
    status_code=status.HTTP_201_CREATED,
    response_model=IncomingWebhookCreated,
)
async def create_incoming(
    conversation_id: IdPath, body: IncomingWebhookIn, rt: Rt, caller: CurrentCaller
) -> IncomingWebhookCreated:
    """Create an incoming webhook (conversation owners and admins, server administrators who are
    members). Its bot joins the conversation. The answer carries the secret and URL once."""
    return await actions.do_create_incoming(rt, user_id=caller.user_id, conversation_id=conversation_id, data=body)


@router.get("/conversations/{conversation_id}/webhooks/incoming", response_model=list[IncomingWebhookOut])
async def list_incoming(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[IncomingWebhookOut]:
    return await actions.list_incoming(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.post("/webhooks/incoming/{hook_id}/rotate", response_model=IncomingWebhookCreated)
async def rotate_incoming(hook_id: IdPath, rt: Rt, caller: CurrentCaller) -> IncomingWebhookCreated:
    """A new secret (and URL); the old one stops working at once."""
    return await actions.do_rotate_incoming(rt, user_id=caller.user_id, hook_id=hook_id)


@router.delete("/webhooks/incoming/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_incoming(hook_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    await actions.do_delete_hook(rt, user_id=caller.user_id, hook_id=hook_id, table=incoming_webhooks)


# --- incoming webhooks: posting -----------------------------------------------------------------


def _payload(raw: bytes, content_type: str) -> IncomingPayload:
    """JSON, or a form with a ``payload`` field holding the JSON (both are what such tools send)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(raw.decode("utf-8", "replace")).get("payload")
        if not values:
            raise Invalid("a form post carries the JSON in its `payload` field", code="invalid_payload")
        raw = values[0].encode()
    try:
        return IncomingPayload.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid("the body is not a valid webhook payload (JSON with `text`)", code="invalid_payload") from exc


async def _post(request: Request, rt: Rt, sends: Sends, hook_id: int, secret: str, key: str | None) -> IncomingPosted:
    if key is not None and not IDEMPOTENCY_RE.fullmatch(key):
        raise Invalid("Idempotency-Key is 1 to 48 of A-Z a-z 0-9 _ - : .", code="invalid_idempotency_key")
    payload = _payload(await request.body(), request.headers.get("content-type", ""))
    return await actions.do_post_incoming(
        rt, sends, hook_id=hook_id, secret=secret, payload=payload, idempotency_key=key, ip=client_ip(request)
    )


_POST_DOC = {
    "responses": {
        404: {"description": "no such webhook, or a wrong secret (the same answer)"},
        429: {"description": "this webhook's rate limit; see Retry-After"},
    },
}


@router.post("/hooks/incoming/{hook_id}", response_model=IncomingPosted, **_POST_DOC)  # type: ignore[arg-type]
async def post_incoming(
    hook_id: IdPath,
    request: Request,
    rt: Rt,
    sends: Sends,
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> IncomingPosted:
    """Post to an incoming webhook with its secret in `Authorization: Bearer <secret>`.

    Slack-compatible JSON: `text`, `attachments` (rendered as Markdown), `username`/`icon_url` when
    the hook allows overrides. Answers after the commit; an `Idempotency-Key` header makes a retry
    return the same message."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise NotFound("webhook not found", code="webhook_not_found")
    return await _post(request, rt, sends, hook_id, secret.strip(), idempotency_key)


@router.post("/hooks/incoming/{hook_id}/{secret}", response_model=IncomingPosted, **_POST_DOC)  # type: ignore[arg-type]
async def post_incoming_url(
    hook_id: IdPath,
    secret: Annotated[str, Path(max_length=100)],
    request: Request,
    rt: Rt,
    sends: Sends,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> IncomingPosted:
    """The same, with the secret in the URL, for tools that can only be given a URL. This path is
    redacted in Tipline's access log and traces (docs/security.md)."""
    return await _post(request, rt, sends, hook_id, secret, idempotency_key)


# --- outgoing webhooks --------------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/webhooks/outgoing",
    status_code=status.HTTP_201_CREATED,
    response_model=OutgoingWebhookCreated,
)
async def create_outgoing(
    conversation_id: IdPath, body: OutgoingWebhookIn, rt: Rt, caller: CurrentCaller
) -> OutgoingWebhookCreated:
    """Create an outgoing webhook: new messages (on trigger words, or all) are POSTed, signed, to
    its URL. The answer carries the signing secret once."""
    return await actions.do_create_outgoing(rt, user_id=caller.user_id, conversation_id=conversation_id, data=body)


@router.get("/conversations/{conversation_id}/webhooks/outgoing", response_model=list[OutgoingWebhookOut])
async def list_outgoing(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[OutgoingWebhookOut]:
    """The conversation's outgoing webhooks with how their deliveries are going (failures, last error)."""
    return await actions.list_outgoing(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.post("/webhooks/outgoing/{hook_id}/rotate", response_model=OutgoingWebhookCreated)
async def rotate_outgoing(hook_id: IdPath, rt: Rt, caller: CurrentCaller) -> OutgoingWebhookCreated:
    return await actions.do_rotate_outgoing(rt, user_id=caller.user_id, hook_id=hook_id)


@router.delete("/webhooks/outgoing/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_outgoing(hook_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    await actions.do_delete_hook(rt, user_id=caller.user_id, hook_id=hook_id, table=outgoing_webhooks)


# --- slash commands -----------------------------------------------------------------------------


@router.post("/commands", status_code=status.HTTP_201_CREATED, response_model=SlashCommandCreated)
async def create_command(body: SlashCommandIn, rt: Rt, caller: CurrentCaller) -> SlashCommandCreated:
    """Register a slash command (server administrators). The answer carries the signing secret once."""
    return await actions.do_create_command(rt, user_id=caller.user_id, data=body)


@router.get("/commands", response_model=list[SlashCommandOut])
async def list_commands(rt: Rt, caller: CurrentCaller) -> list[SlashCommandOut]:
    """Every slash command; administrators also see each one's URL and failures."""
    return await actions.list_commands(rt, user_id=caller.user_id)


@router.post("/commands/{command_id}/rotate", response_model=SlashCommandCreated)
async def rotate_command(command_id: IdPath, rt: Rt, caller: CurrentCaller) -> SlashCommandCreated:
    return await actions.do_rotate_command(rt, user_id=caller.user_id, command_id=command_id)


@router.delete("/commands/{command_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_command(command_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    await actions.do_delete_command(rt, user_id=caller.user_id, command_id=command_id)


@router.post(
    "/conversations/{conversation_id}/commands",
    response_model=CommandResult,
    responses={502: {"description": "the command's URL was refused, failed or timed out (`detail` says why)"}},
)
async def run_command(
    conversation_id: IdPath, body: RunCommandIn, rt: Rt, sends: Sends, caller: CurrentCaller
) -> CommandResult:
    """Run `/command text` here. An `ephemeral` answer is in this response only (for the caller);
    an `in_channel` one is posted as the command's bot (`message` is its ack)."""
    return await actions.do_run_command(rt, sends, user_id=caller.user_id, conversation_id=conversation_id, data=body)
