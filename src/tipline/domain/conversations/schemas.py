"""Request and response shapes for conversations and members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.accounts.schemas import UserOut
from tipline.domain.text import check_storable

Kind = Literal["direct", "group", "public", "private"]
Role = Literal["owner", "admin", "member"]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), AfterValidator(check_storable)
]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, max_length=250), AfterValidator(check_storable)]
UserId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateConversationIn(Strict):
    kind: Literal["group", "public", "private"]
    name: Name
    topic: Topic = ""
    member_ids: Annotated[list[UserId], Field(max_length=500)] = []


class OpenDirectIn(Strict):
    user_id: UserId


class PatchConversationIn(Strict):
    name: Name | None = None
    topic: Topic | None = None
    kind: Literal["public", "private"] | None = Field(
        default=None, description="Make a channel public or private (channels only)."
    )


class InviteIn(Strict):
    user_id: UserId


class RoleIn(Strict):
    role: Role


class LastMessage(BaseModel):
    id: int
    seq: int
    sender_id: int | None
    body: str
    created_at: datetime
    deleted: bool
    # From someone the viewer blocked: the body is left out, as everywhere else their messages show.
    hidden: bool = False


class ConversationOut(BaseModel):
    id: int
    kind: Kind
    name: str
    topic: str
    created_at: datetime
    archived: bool
    last_seq: int
    last_message_at: datetime | None
    member_count: int
    # Caller-specific fields: absent (None) for a public channel the caller has not joined.
    role: Role | None = None
    last_read_seq: int | None = None
    unread: int | None = None
    last_message: LastMessage | None = None
    peer: UserOut | None = None


class ConversationPage(BaseModel):
    conversations: list[ConversationOut]


class MemberOut(BaseModel):
    user: UserOut
    role: Role
    joined_at: datetime
    last_read_seq: int


class MemberPage(BaseModel):
    members: list[MemberOut]


def conversation_event_data(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "name": row["name"],
        "topic": row["topic"],
        "archived": row["archived_at"] is not None,
    }
