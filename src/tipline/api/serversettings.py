"""HTTP routes for server settings, invites and custom emoji (docs/subsystems/admin.md, Server settings).

`/admin/*` routes are for admins only (403 `not_a_server_admin` otherwise, checked by the action)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response, UploadFile, status
from pydantic import TypeAdapter, ValidationError

from tipline.api.deps import CurrentCaller, Rt, client_ip
from tipline.domain.serversettings import actions
from tipline.domain.serversettings.schemas import (
    EmojiAdminOut,
    EmojiName,
    EmojiOut,
    InviteCreated,
    InviteCreateIn,
    InviteOut,
    ServerSettingsOut,
    ServerSettingsPatch,
    SignupInfo,
)
from tipline.errors import Invalid, TooLarge

router = APIRouter(tags=["server settings"])
EmojiPath = Annotated[str, Path(pattern=r"^:?[a-z0-9_+-]{2,32}:?$")]
OBJECT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}


@router.get("/admin/settings", response_model=ServerSettingsOut)
async def get_settings(rt: Rt, caller: CurrentCaller) -> ServerSettingsOut:
    return await actions.get_settings(rt, user_id=caller.user_id)


@router.patch("/admin/settings", response_model=ServerSettingsOut)
async def update_settings(
    body: ServerSettingsPatch, rt: Rt, caller: CurrentCaller, request: Request
) -> ServerSettingsOut:
    """Change sign-up, retention or upload limits; only the fields given change."""
    return await actions.do_update_settings(rt, user_id=caller.user_id, patch=body, ip=client_ip(request))


@router.get("/auth/signup-info", response_model=SignupInfo)
async def signup_info(rt: Rt) -> SignupInfo:
    """Public: whether sign-up is open, needs an invite or is closed, and which email domains may sign up."""
    return await actions.get_signup_info(rt)


@router.post("/admin/invites", status_code=status.HTTP_201_CREATED, response_model=InviteCreated)
async def create_invite(body: InviteCreateIn, rt: Rt, caller: CurrentCaller, request: Request) -> InviteCreated:
    """A new invite link. The answer carries its code once; only its hash is kept."""
    return await actions.do_create_invite(rt, user_id=caller.user_id, data=body, ip=client_ip(request))


@router.get("/admin/invites", response_model=list[InviteOut])
async def list_invites(rt: Rt, caller: CurrentCaller) -> list[InviteOut]:
    return await actions.list_invites(rt, user_id=caller.user_id)


@router.delete("/admin/invites/{invite_id}", response_model=InviteOut)
async def revoke_invite(invite_id: uuid.UUID, rt: Rt, caller: CurrentCaller, request: Request) -> InviteOut:
    return await actions.do_revoke_invite(rt, user_id=caller.user_id, invite_id=invite_id, ip=client_ip(request))


@router.get("/emoji", response_model=list[EmojiOut])
async def list_emoji(rt: Rt, caller: CurrentCaller) -> list[EmojiOut]:
    """The server's custom emoji, written `:name:` in messages and reactions."""
    return await actions.list_emoji(rt)


@router.get("/admin/emoji", response_model=list[EmojiAdminOut])
async def list_emoji_admin(rt: Rt, caller: CurrentCaller) -> list[EmojiAdminOut]:
    return await actions.list_emoji_admin(rt, user_id=caller.user_id)


@router.post("/admin/emoji", status_code=status.HTTP_201_CREATED, response_model=EmojiAdminOut)
async def create_emoji(
    name: Annotated[str, Form(min_length=2, max_length=36)],
    file: UploadFile,
    rt: Rt,
    caller: CurrentCaller,
    request: Request,
) -> EmojiAdminOut:
    """Upload a custom emoji (multipart: `name`, `file`: PNG, GIF or WebP, CUSTOM_EMOJI_MAX_BYTES at most)."""
    checked = _name(name)
    limit = rt.settings.custom_emoji_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"a custom emoji is at most {limit} bytes", code="emoji_too_large")
    return await actions.do_create_emoji(rt, user_id=caller.user_id, name=checked, data=data, ip=client_ip(request))


@router.delete("/admin/emoji/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_emoji(name: EmojiPath, rt: Rt, caller: CurrentCaller, request: Request) -> None:
    await actions.do_delete_emoji(rt, user_id=caller.user_id, name=_name(name), ip=client_ip(request))


@router.get(actions.EMOJI_PATH + "{name}", response_class=Response, include_in_schema=False)
async def emoji_image(name: Annotated[str, Path(pattern=r"^[0-9a-f]{32}\.(png|gif|webp)$")], rt: Rt) -> Response:
    # Public like avatars (an <img> sends no token), and immutable: a new emoji gets a new name.
    data, content_type = await actions.read_emoji(rt, name=name)
    headers = {**OBJECT_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return Response(data, media_type=content_type, headers=headers)


_EMOJI_NAME: TypeAdapter[str] = TypeAdapter(EmojiName)


def _name(value: str) -> str:
    try:
        return _EMOJI_NAME.validate_python(value)
    except ValidationError:
        raise Invalid(
            "a custom emoji's name is 2-32 of a-z 0-9 _ + - (written :name: in messages)", code="emoji_name_invalid"
        ) from None
