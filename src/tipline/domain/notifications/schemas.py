"""Request and response shapes for notifications (docs/subsystems/notifications.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["all", "mentions", "mute"]

# @here and @channel, as the mention parser reads mentions (messages/schemas.py MENTION_RE).
MENTION_ALL_RE = re.compile(r"(?<![\w@])@(here|channel)(?!\w)", re.IGNORECASE)


def mentions_all(body: str) -> set[str]:
    """Which of @here / @channel a body uses (lower case)."""
    return {m.lower() for m in MENTION_ALL_RE.findall(body)} if "@" in body else set()


class NotificationLevelIn(BaseModel):
    level: Level = Field(description="`all` (default), `mentions` (only mentions, @here and @channel) or `mute`.")


class NotificationLevelOut(BaseModel):
    conversation_id: int
    level: Level


class NotificationSettingsOut(BaseModel):
    email_enabled: bool = Field(description="Mail me DMs and mentions left unread (a digest after a delay).")
    email_delay_s: float = Field(description="How long a DM or mention stays unread before it is mailed.")
    push_available: bool = Field(description="This server sends Web Push (it has VAPID keys).")
    vapid_public_key: str | None = Field(description="The applicationServerKey browsers subscribe with.")
    levels: dict[str, Level] = Field(description="Conversations (by id) whose level is not the default `all`.")


class NotificationSettingsIn(BaseModel):
    email_enabled: bool


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_\-=]+$")
    auth: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-=]+$")


class PushSubscriptionIn(BaseModel):
    """What the browser's ``PushSubscription.toJSON()`` gives, plus a label for the device list."""

    endpoint: str = Field(min_length=8, max_length=2000)
    keys: PushKeys
    label: str = Field("", max_length=200)


class PushSubscriptionOut(BaseModel):
    id: int
    label: str
    endpoint_origin: str = Field(description="Scheme and host of the push service (the full URL stays private).")
    created_at: datetime
    last_push_at: datetime | None
