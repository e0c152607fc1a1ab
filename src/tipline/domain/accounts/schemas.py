"""Request, response and token shapes for accounts."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

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
    invite: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="An invite's code, needed when sign-up is invite-only (docs/subsystems/accounts.md)."
    )


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


StatusText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(check_storable)]
# Up to 16 characters of Unicode emoji, or a custom emoji's ":name:" (a name is 2-32 characters).
StatusEmoji = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=34), AfterValidator(check_storable)
]
TimeZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ProfileStatusIn(Strict):
    """A status as a person sets it: some text, an emoji, or both, until an optional time."""

    text: StatusText = ""
    emoji: StatusEmoji | None = None
    expires_at: datetime | None = Field(
        None, description="When the status disappears (with a UTC offset; in the future, within a year)."
    )


class ProfilePatch(Strict):
    display_name: DisplayName | None = None
    handle: Handle | None = None
    status: ProfileStatusIn | None = Field(None, description="Set my status; `null` clears it (absent: unchanged).")
    timezone: TimeZoneName | None = Field(
        None, description="An IANA time zone name such as `Europe/Berlin`; `null` clears it (absent: unchanged)."
    )


class ProfileStatusOut(BaseModel):
    text: str
    emoji: str | None
    expires_at: datetime | None


class UserOut(BaseModel):
    id: int
    handle: str
    display_name: str
    # A bot account (docs/subsystems/integrations.md): clients mark it as one wherever it appears.
    is_bot: bool = False


class ProfileOut(UserOut):
    """A person's profile card: the public shape, their status (never an expired one) and time zone."""

    status: ProfileStatusOut | None = None
    timezone: str | None = None


class MeOut(ProfileOut):
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
    # REQUIRE_2FA: this session may only enrol a second factor until the account has one.
    enrollment_required: bool = False
    # Sign-In with Ethereum only: this sign-in made a new account for the wallet (docs/subsystems/wallets.md).
    account_created: bool = False


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str
    ip: str
    current: bool


# --- two-factor authentication and passkeys -------------------------------------------------------

SecondFactorMethod = Literal["totp", "recovery", "passkey"]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
ChallengeToken = Annotated[str, Field(min_length=1, max_length=200)]
# A WebAuthn credential as the browser's PublicKeyCredential.toJSON() gives it.
Credential = dict[str, Any]


class SecondFactorRequired(BaseModel):
    """A first factor (password, provider, reset link) was right, but the account has a second one:
    no session yet. Send ``challenge`` with a code (or a passkey's answer) to ``POST /auth/2fa/verify``."""

    second_factor_required: Literal[True] = True
    challenge: str
    methods: list[SecondFactorMethod]
    expires_in: int


class SecondFactorVerifyIn(Strict):
    challenge: ChallengeToken
    code: Code | None = None
    credential: Credential | None = None


class TwoFactorStatus(BaseModel):
    totp: bool
    recovery_codes_left: int
    passkeys: int
    required: bool  # REQUIRE_2FA applies to this account


class TotpEnrolment(BaseModel):
    """A new secret, not in use until ``POST /me/2fa/totp/confirm`` gets a code made from it."""

    secret: str
    otpauth_uri: str
    qr_svg: str  # a data: URI of an SVG QR code of otpauth_uri


class TotpConfirmIn(Strict):
    code: Code


class RecoveryCodes(BaseModel):
    """Shown once: only keyed hashes are kept."""

    recovery_codes: list[str]


class ReauthIn(Strict):
    """Proof it is the account's owner at the keyboard: the password, or a current second-factor code."""

    password: Password | None = None
    code: Code | None = None


class PasskeyOptions(BaseModel):
    """A WebAuthn ceremony: ``options`` go to navigator.credentials (create or get); ``flow`` comes
    back with the answer."""

    flow: str
    options: dict[str, Any]


class PasskeyRegisterIn(Strict):
    flow: ChallengeToken
    credential: Credential
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = "Passkey"


class PasskeySignInIn(Strict):
    flow: ChallengeToken
    credential: Credential


class SecondFactorPasskeyIn(Strict):
    challenge: ChallengeToken


class PasskeyOut(BaseModel):
    id: str  # the credential id, base64url
    name: str
    created_at: datetime
    last_used_at: datetime | None
