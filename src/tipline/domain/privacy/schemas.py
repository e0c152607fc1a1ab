"""Request and response shapes of data exports and account deletion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from tipline.domain.accounts.schemas import Code, Handle, Password, Strict

ExportState = Literal["queued", "running", "ready", "failed", "expired"]


class ExportOut(BaseModel):
    """A data export: ``progress`` (0-100) while it is built; downloadable while ``ready``, until ``expires_at``."""

    id: uuid.UUID
    user_id: int
    state: ExportState
    progress: int
    size: int | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    error: str | None


class DeleteAccountIn(Strict):
    """Proof it is the account's owner: the password, or a current second-factor code. An account
    with neither (signed up through a sign-in provider, no second factor) confirms with its handle."""

    password: Password | None = None
    code: Code | None = None
    handle: Handle | None = None


class AccountDeleted(BaseModel):
    user_id: int
    messages: Literal["erase", "keep"]
    messages_affected: int
    attachments_purged: int
    bots_deleted: int
