"""Request, response and token shapes for accounts."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from tipline.domain.text import check_storable

HANDLE_RE = re.compile(r"^[a-z0-9_]{3,32}$")


def _check_handle(value: str) -> str:
    value = value.strip().lstrip("@").lower()
    if not HANDLE_RE.fullmatch(value):
        raise ValueError("a handle is 3 to 32 characters: letters, digits and underscores")
    return value


Handle = Annotated[str, AfterValidator(_check_handle)]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(check_storable)
]
Password = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(check_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUpIn(Strict):
    email: EmailStr
    password: Password
    handle: Handle
    display_name: DisplayName


class SignInIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(check_storable)]
    password: Password


class VerifyIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class ResendIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(check_storable)]


class SignUpAccepted(BaseModel):
    """Sign-up's answer with email verification on: the same whether or not the email has an account."""

    status: Literal["verification_sent"] = "verification_sent"


class ForgotPasswordIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(check_storable)]


class ResetRequested(BaseModel):
    """``POST /auth/password/forgot``'s answer: the same whether or not the address has an account."""

    status: Literal["reset_requested"] = "reset_requested"


class ResetPasswordIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: Password


class EmailChangeIn(Strict):
    new_email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(check_storable)]
    password: Password


class EmailChangeRequested(BaseModel):
    """``POST /me/email``'s answer: the same whether or not the new address already has an account."""

    status: Literal["confirmation_sent"] = "confirmation_sent"


class EmailConfirmIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class EmailChanged(BaseModel):
    """A confirmed email change: the account's address from now on."""

    email: str


class RefreshIn(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class ProfilePatch(Strict):
    display_name: DisplayName | None = None
    handle: Handle | None = None


class UserOut(BaseModel):
    id: int
    handle: str
    display_name: str


class MeOut(UserOut):
    email: str | None
    is_admin: bool
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    session_id: uuid.UUID
    user: MeOut


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str
    ip: str
    current: bool
