"""Request and response shapes for blocks, reports, slow mode and account administration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.text import StorableStr, check_storable


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlockedUserOut(BaseModel):
    id: int
    handle: str
    display_name: str
    is_bot: bool = False
    blocked_at: datetime


Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), AfterValidator(check_storable)
]


class ReportIn(Strict):
    reason: Reason


class ResolveIn(Strict):
    resolution: Literal["dismissed", "actioned"]
    note: Annotated[StorableStr, StringConstraints(max_length=1000)] = ""


class ReportOut(BaseModel):
    id: int
    message_id: int
    conversation_id: int
    reporter_id: int | None
    reason: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    resolution: str | None
    # The reported message as it stands (empty once deleted), so a handler can judge it.
    message_body: str | None = None
    message_sender_id: int | None = None
    message_deleted: bool | None = None


class SlowModeIn(Strict):
    seconds: Annotated[int, Field(ge=0, le=6 * 3600, description="0 turns slow mode off.")]


class SlowModeOut(BaseModel):
    conversation_id: int
    slow_mode_s: int


class AccountStateOut(BaseModel):
    user_id: int
    is_active: bool
    sessions_revoked: int
