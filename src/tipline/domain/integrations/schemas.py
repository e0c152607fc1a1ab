"""Request and response shapes for webhooks and slash commands (docs/subsystems/integrations.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.accounts.schemas import UserOut
from tipline.domain.messages.schemas import Ack
from tipline.domain.text import check_storable

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(check_storable)
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000, pattern=r"^https?://\S+$")]
TriggerWord = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$"),
    AfterValidator(check_storable),
]
CommandName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^/?[A-Za-z0-9_-]+$"),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(check_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- incoming webhooks ------------------------------------------------------------------------


class IncomingWebhookIn(Strict):
    name: Name
    allow_overrides: bool = Field(
        False, description="Posts may set `username` and `icon_url` (shown with the message, marked as the hook's)."
    )


class IncomingWebhookOut(BaseModel):
    id: int
    conversation_id: int
    name: str
    bot: UserOut
    allow_overrides: bool
    created_by: int | None
    created_at: datetime
    last_used_at: datetime | None


class IncomingWebhookCreated(IncomingWebhookOut):
    """The only answers that carry the secret (creation and rotation): it is not stored, only its hash."""

    secret: str = Field(description="`tlh_…`: send as `Authorization: Bearer <secret>`, or use `url`.")
    url: str = Field(description="`POST` here with Slack-compatible JSON; the secret is part of it. Shown once.")


class SlackField(BaseModel):
    title: str = ""
    value: str = ""
    short: bool = False


class SlackAttachment(BaseModel):
    """The parts of a Slack attachment Tipline renders (as Markdown); anything else is ignored."""

    model_config = ConfigDict(extra="ignore")
    fallback: str = ""
    pretext: str = ""
    title: str = ""
    title_link: str = ""
    text: str = ""
    fields: Annotated[list[SlackField], Field(max_length=50)] = []


class IncomingPayload(BaseModel):
    """Slack-compatible incoming webhook JSON; unknown keys (``channel``, ``blocks``…) are ignored."""

    model_config = ConfigDict(extra="ignore")
    text: Annotated[str, Field(max_length=100_000)] = ""
    username: Annotated[str, Field(max_length=64)] | None = None
    icon_url: Annotated[str, Field(max_length=2000)] | None = None
    attachments: Annotated[list[SlackAttachment], Field(max_length=20)] = []


class IncomingPosted(BaseModel):
    ok: Literal[True] = True
    conversation_id: int
    message_id: int
    seq: int


# --- outgoing webhooks ------------------------------------------------------------------------


class OutgoingWebhookIn(Strict):
    name: Name
    url: Url
    trigger_words: Annotated[list[TriggerWord], Field(max_length=20)] = Field(
        default_factory=list,
        description="A message whose first word is one of these (case-insensitive) is sent; empty: every message.",
    )


class Failures(BaseModel):
    """How an integration's requests have been going: shown to the people who manage it."""

    failure_count: int = Field(description="Failed attempts in a row (0 after a success).")
    last_status: int | None = Field(description="HTTP status of the last answer (null: none, or no answer).")
    last_error: str | None = Field(description="Why the last attempt failed (null after a success).")


class OutgoingWebhookOut(Failures):
    id: int
    conversation_id: int
    name: str
    url: str
    trigger_words: list[str]
    bot: UserOut
    created_by: int | None
    created_at: datetime
    last_attempt_at: datetime | None


class OutgoingWebhookCreated(OutgoingWebhookOut):
    secret: str = Field(description="`tls_…`: the HMAC key of `X-Tipline-Signature`. Shown once (rotate to change).")


# --- slash commands ----------------------------------------------------------------------------


class SlashCommandIn(Strict):
    name: CommandName
    url: Url
    description: ShortText = ""
    usage_hint: ShortText = ""


class SlashCommandOut(BaseModel):
    """Everyone sees name, description and usage hint; administrators also the rest."""

    id: int
    name: str = Field(description="Without the slash.")
    description: str
    usage_hint: str
    bot: UserOut
    url: str | None = None
    failure_count: int | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_used_at: datetime | None = None
    created_at: datetime | None = None


class SlashCommandCreated(SlashCommandOut):
    secret: str = Field(description="`tls_…`: the HMAC key of `X-Tipline-Signature`. Shown once (rotate to change).")


class RunCommandIn(Strict):
    command: CommandName
    text: Annotated[str, Field(max_length=4000), AfterValidator(check_storable)] = ""


class CommandResult(BaseModel):
    """The integration's answer. ``ephemeral``: for the caller only (this response is the only place
    it appears; clients show it locally). ``in_channel``: posted as the command's bot (``message``)."""

    response_type: Literal["ephemeral", "in_channel"]
    text: str
    message: Ack | None = None


class IntegrationAnswer(BaseModel):
    """What a slash command's or outgoing webhook's URL may answer (JSON); anything else is ignored."""

    model_config = ConfigDict(extra="ignore")
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    text: Annotated[str, Field(max_length=100_000)] = ""
    attachments: Annotated[list[SlackAttachment], Field(max_length=20)] = []
