"""Request and response shapes of the admin console's API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.text import StorableStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- users ---------------------------------------------------------------------------------------

UserState = Literal["all", "active", "deactivated", "admins", "bots"]


class AdminUserOut(BaseModel):
    id: int
    handle: str
    display_name: str
    email: str | None
    is_active: bool
    is_admin: bool
    is_bot: bool
    created_at: datetime
    email_verified: bool


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    total: int = Field(description="How many accounts match the search and filter.")
    offset: int
    limit: int


class SecondFactorsOut(BaseModel):
    totp: bool
    recovery_codes_left: int
    passkeys: int


class AdminSessionOut(BaseModel):
    id: uuid.UUID
    kind: Literal["session", "token"]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str


class AdminUserDetail(AdminUserOut):
    second_factors: SecondFactorsOut
    sessions: list[AdminSessionOut]
    open_reports_against: int = Field(description="Open reports of messages this account sent.")


class AdminFlagIn(Strict):
    is_admin: bool


class TwoFactorResetOut(BaseModel):
    user_id: int
    totp_removed: bool
    recovery_codes_removed: int
    passkeys_removed: int


class SessionsRevokedOut(BaseModel):
    user_id: int
    sessions_revoked: int


# --- reports -------------------------------------------------------------------------------------

ReportState = Literal["open", "resolved", "all"]
ReportAction = Literal["dismiss", "delete_message", "deactivate_sender"]


class PersonRef(BaseModel):
    id: int
    handle: str
    display_name: str


class AdminReportOut(BaseModel):
    id: int
    message_id: int
    conversation_id: int
    conversation_name: str | None
    conversation_kind: str
    reason: str
    created_at: datetime
    reporter: PersonRef | None
    sender: PersonRef | None
    message_body: str = Field(description="The reported message as it stands (empty once deleted).")
    message_deleted: bool
    resolved_at: datetime | None
    resolved_by: PersonRef | None
    resolution: str | None


class ReportActionIn(Strict):
    action: ReportAction
    note: Annotated[StorableStr, StringConstraints(strip_whitespace=True, max_length=1000)] = ""


class ReportDetail(AdminReportOut):
    history: list[AuditEntryOut] = Field(description="Audit entries about this report, oldest first.")


# --- audit log -----------------------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_handle: str | None
    action: str
    target_type: str
    target_id: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end.")


# --- status --------------------------------------------------------------------------------------


class NodeOut(BaseModel):
    id: str
    this_node: bool
    connections: int | None = Field(description="Open sockets: known for the node that answered only.")
    users: int | None


class CheckOut(BaseModel):
    configured: bool
    reachable: bool
    latency_ms: float | None
    error: str | None = None


class WatcherOut(BaseModel):
    configured: bool
    active_here: bool = Field(description="Whether the node that answered holds the watcher lock.")
    head: int | None = None
    scanned: int | None = None
    lag_blocks: int | None = None
    last_pass_at: datetime | None = None
    pending_tips: int = 0
    oldest_pending_s: float | None = None


class QueueOut(BaseModel):
    name: str
    pending: int
    oldest_pending_s: float | None
    failed: int | None = None
    done_last_hour: int | None = None


class MailOutboxOut(BaseModel):
    pending: int
    retrying: int = Field(description="Pending mails that failed at least once and wait for a retry.")
    failed: int = Field(description="Mails the server refused for good.")
    sent_last_hour: int
    sent_last_day: int
    oldest_pending_s: float | None
    worker_enabled: bool


class StatusOut(BaseModel):
    checked_at: datetime
    node_id: str
    nodes: list[NodeOut]
    database: CheckOut
    redis: CheckOut
    bus_healthy: bool
    watcher: WatcherOut
    mail: MailOutboxOut
    queues: list[QueueOut]


ReportDetail.model_rebuild()
