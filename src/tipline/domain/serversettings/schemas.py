"""Request and response shapes for server settings, invites and custom emoji."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.text import check_storable

SignupMode = Literal["open", "invite_only", "closed"]
ConversationKind = Literal["direct", "group", "public", "private"]
KINDS: tuple[ConversationKind, ...] = ("direct", "group", "public", "private")

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/([a-z0-9][a-z0-9!#$&^_.+-]{0,126}|\*)$")
EMOJI_NAME = re.compile(r"^[a-z0-9_+-]{2,32}$")
# A custom emoji where an emoji goes (a reaction, a status): its name between colons.
CUSTOM_EMOJI = re.compile(r":([a-z0-9_+-]{2,32}):")


def _domain(value: str) -> str:
    value = value.strip().lower().removeprefix("@")
    if not _DOMAIN.match(value):
        raise ValueError(f"not a domain name: {value[:64]!r}")
    return value


def _mime(value: str) -> str:
    value = value.strip().lower()
    if not _MIME.match(value):
        raise ValueError(f"not a media type (type/subtype or type/*): {value[:64]!r}")
    return value


def _emoji_name(value: str) -> str:
    value = value.strip().lower().strip(":")
    if not EMOJI_NAME.match(value):
        raise ValueError("a custom emoji's name is 2-32 of a-z 0-9 _ + - (written :name: in messages)")
    return value


Domain = Annotated[str, AfterValidator(_domain)]
MediaType = Annotated[str, AfterValidator(_mime)]
EmojiName = Annotated[str, Field(min_length=2, max_length=36), AfterValidator(_emoji_name)]
RetentionDays = Annotated[int, Field(ge=1, le=36500)]
InviteNote = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(check_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Retention(BaseModel):
    """Days a message is kept, per conversation kind; null keeps it forever."""

    direct: RetentionDays | None = None
    group: RetentionDays | None = None
    public: RetentionDays | None = None
    private: RetentionDays | None = None


class UploadLimits(BaseModel):
    max_bytes: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Largest attachment in bytes; null: the environment's MEDIA_MAX_*_BYTES. Never above them."
    )
    allowed_types: Annotated[list[MediaType], Field(max_length=100)] = Field(
        default_factory=list, description="Media types (`image/png`, `image/*`) an attachment may have; empty: any."
    )


class ServerSettingsOut(BaseModel):
    signup_mode: SignupMode
    allowed_email_domains: list[str]
    retention: Retention
    uploads: UploadLimits
    effective_upload_max_bytes: int = Field(description="The largest attachment actually accepted now.")
    updated_at: datetime
    updated_by: int | None


class ServerSettingsPatch(Strict):
    """Only the fields given change."""

    signup_mode: SignupMode | None = None
    allowed_email_domains: Annotated[list[Domain], Field(max_length=200)] | None = None
    retention: Retention | None = None
    uploads: UploadLimits | None = None


class InviteCreateIn(Strict):
    expires_in_hours: Annotated[int, Field(ge=1, le=24 * 365)] | None = Field(
        168, description="The invite stops working after this many hours; null: never."
    )
    max_uses: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        1, description="How many sign-ups it allows; null: unlimited."
    )
    note: InviteNote = ""


class InviteOut(BaseModel):
    """An invite as listed: never its code."""

    id: uuid.UUID
    hint: str = Field(description="The code's first characters, to tell invites apart.")
    note: str
    created_by: int | None
    created_at: datetime
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool
    usable: bool


class InviteCreated(InviteOut):
    """The only answer that carries the code: only its hash is kept."""

    code: str
    link: str = Field(description="PUBLIC_URL/signup#invite=<code>: the code in the fragment, never sent to a server.")


class EmojiOut(BaseModel):
    name: str
    url: str
    content_type: str
    created_at: datetime


class EmojiAdminOut(EmojiOut):
    id: int
    size: int
    created_by: int | None


class SignupInfo(BaseModel):
    """What the sign-up page shows before anyone signs up (public)."""

    signup_mode: SignupMode
    allowed_email_domains: list[str]
