"""Request and response shapes for personal access tokens and bots."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tipline.domain.accounts.schemas import DisplayName, Handle, UserOut
from tipline.domain.text import check_storable
from tipline.domain.tokens.scopes import Scope

TokenName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(check_storable)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(check_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiTokenCreateIn(Strict):
    name: TokenName
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=5)]
    expires_in_days: Annotated[int, Field(ge=1, le=366, description="The token stops working after this many days.")]


class ApiTokenOut(BaseModel):
    """A token as listed: never its secret."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime


class ApiTokenCreated(ApiTokenOut):
    """The only answer that carries the secret: it is not stored and cannot be shown again."""

    token: str = Field(description="`tlp_…`: send as `Authorization: Bearer <token>`. Shown once.")


class BotCreateIn(Strict):
    handle: Handle
    display_name: DisplayName
    description: Description = ""


class BotPatchIn(Strict):
    display_name: DisplayName | None = None
    description: Description | None = None


class BotOut(BaseModel):
    user: UserOut
    description: str
    owner_id: int | None
    created_at: datetime
