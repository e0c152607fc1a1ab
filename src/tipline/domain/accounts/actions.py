"""Account actions: the only code that writes accounts and sessions. See docs/subsystems/accounts.md."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import webauthn
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tipline.backends import oidc
from tipline.bus.base import topic_user
from tipline.bus.envelope import encode_control
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.accounts import repository as repo
from tipline.domain.accounts import secondfactor
from tipline.domain.accounts.schemas import (
    EmailChanged,
    MeOut,
    PasskeyOptions,
    PasskeyOut,
    ProfileOut,
    ProfilePatch,
    ProfileStatusIn,
    ProfileStatusOut,
    RecoveryCodes,
    SecondFactorMethod,
    SecondFactorRequired,
    SessionOut,
    SignUpAccepted,
    SignUpIn,
    TokenPair,
    TotpEnrolment,
    TwoFactorStatus,
)
from tipline.domain.accounts.tokens import (
    check_password_policy,
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from tipline.domain.mail import templates
from tipline.domain.mail.actions import queue_mail
from tipline.domain.serversettings.actions import admit_provider_account, admit_sign_up
from tipline.domain.serversettings.repository import emoji_exists
from tipline.domain.serversettings.schemas import CUSTOM_EMOJI
from tipline.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from tipline.runtime import Runtime

INVALID_CREDENTIALS = "invalid email or password"


def _status(row: RowMapping, now: datetime | None = None) -> ProfileStatusOut | None:
    """The row's status, unless it has none or it has expired (an expired one is never answered)."""
    text, emoji, expires_at = row.get("status_text"), row.get("status_emoji"), row.get("status_expires_at")
    if text is None and emoji is None:
        return None
    if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
        return None
    return ProfileStatusOut(text=text or "", emoji=emoji, expires_at=expires_at)


def _me(row: RowMapping) -> MeOut:
    # Rows without the profile fields (a new account's insert) answer null for status and time zone.
    return MeOut(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        is_bot=row["is_bot"],
        email=row["email"],
        is_admin=row["is_admin"],
        created_at=row["created_at"],
        status=_status(row),
        timezone=row.get("timezone"),
    )


def normalize_email(email: str) -> str | None:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def address_key(email: str) -> str:
    """The key a per-address rate limit counts: spellings of one mailbox count together."""
    return normalize_email(email) or email.strip().lower()


async def open_session(rt: Runtime, *, user: RowMapping, user_agent: str, ip: str) -> TokenPair:
    """A new session and its token pair, for any way of signing in (password, wallet)."""
    token, token_hash = new_refresh_token()
    session_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(seconds=rt.settings.refresh_token_ttl_s)
    async with rt.engine.begin() as conn:
        enrol_only = _must_have_2fa(rt, user) and not _has_second_factor(
            await repo.second_factors(conn, user_id=user["id"])
        )
        await repo.insert_session(
            conn,
            session_id=session_id,
            user_id=user["id"],
            expires_at=expires_at,
            user_agent=user_agent,
            ip=ip,
            token_hash=token_hash,
            enrol_only=enrol_only,
        )
    return TokenPair(
        access_token=issue_access_token(rt.settings, rt.jwt_key, user_id=user["id"], session_id=session_id),
        refresh_token=token,
        expires_in=rt.settings.access_token_ttl_s,
        session_id=session_id,
        user=_me(user),
        enrollment_required=enrol_only,
    )


async def _sign_up_unverified(rt: Runtime, *, data: SignUpIn, email: str, password_hash: str) -> RowMapping:
    """EMAIL_VERIFICATION off: the account is usable at once, and a taken email is said."""
    async with rt.engine.begin() as conn:
        await admit_sign_up(conn, email=email, invite=data.invite)
        user = await repo.insert_user(
            conn, email=email, password_hash=password_hash, handle=data.handle, display_name=data.display_name
        )
        if user is None:
            if await repo.handle_taken(conn, handle=data.handle):
                raise Conflict("this handle is taken", code="handle_taken")
            raise Conflict("an account with this email already exists", code="email_taken")
    return user


async def _sign_up_new(rt: Runtime, conn: AsyncConnection, *, data: SignUpIn, email: str, password_hash: str) -> None:
    """An address with no account yet: create it unverified and mail its link."""
    user = await repo.insert_user(
        conn,
        email=email,
        password_hash=password_hash,
        handle=data.handle,
        display_name=data.display_name,
        verified=False,
    )
    if user is not None:
        await _send_verification(rt, conn, user=user)
    elif await repo.handle_taken(conn, handle=data.handle):  # a concurrent sign-up took it first
        raise Conflict("this handle is taken", code="handle_taken")
    else:  # a concurrent sign-up with this address committed first
        await queue_mail(conn, templates.already_registered(to=email, link=_web_link(rt, "/signin")))


async def do_sign_up(rt: Runtime, *, data: SignUpIn, user_agent: str, ip: str) -> TokenPair | SignUpAccepted:
    """Create an account. With EMAIL_VERIFICATION, answer the same whether or not the email has one.

    See docs/subsystems/accounts.md (Sign-up and email verification).
    """
    email = normalize_email(str(data.email))
    if email is None:
        raise Invalid("this email address cannot be used", code="email_invalid")
    check_password_policy(data.password, email=email, handle=data.handle, min_length=rt.settings.password_min_length)
    # Hash before looking anything up, on every path, so a taken email costs the same time as a new one.
    password_hash = await asyncio.to_thread(hash_password, rt.settings, data.password)
    if not rt.settings.email_verification:
        user = await _sign_up_unverified(rt, data=data, email=email, password_hash=password_hash)
        return await open_session(rt, user=user, user_agent=user_agent, ip=ip)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        conn = uow.conn
        # Server settings (sign-up mode, allowed domains, the invite's use) refuse or admit the
        # same whether or not the email has an account; a refusal below rolls the use back.
        await admit_sign_up(conn, email=email, invite=data.invite)
        # Handles are public, so a taken one may be said; whether the email has an account may not.
        if await repo.handle_taken(conn, handle=data.handle):
            raise Conflict("this handle is taken", code="handle_taken")
        existing = await repo.user_by_email_for_update(conn, email=email)
        if existing is None:
            await _sign_up_new(rt, conn, data=data, email=email, password_hash=password_hash)
        elif (
            existing["email_verified_at"] is None
            and existing["password_hash"] is not None
            and rt.settings.unverified_accounts == "block"
        ):
            # Never verified, so nobody has proved they own the address: the latest sign-up wins,
            # and only its link (mailed to the address) can make the account usable. (With
            # UNVERIFIED_ACCOUNTS=allow the account may be in use: it is left alone, and the
            # address's owner takes it back with a password reset.)
            taken_over = await repo.replace_unverified(
                conn,
                user_id=existing["id"],
                password_hash=password_hash,
                handle=data.handle,
                display_name=data.display_name,
            )
            assert taken_over is not None
            # Sessions it may have from a time UNVERIFIED_ACCOUNTS was `allow` end with the takeover.
            await _revoke_all(uow, user_id=taken_over["id"], reason="account_taken_over")
            await _send_verification(rt, conn, user=taken_over)
        else:
            await queue_mail(conn, templates.already_registered(to=email, link=_web_link(rt, "/signin")))
    return SignUpAccepted()


async def _revoke_all(uow: UnitOfWork, *, user_id: int, reason: str) -> None:
    """Revoke every session of the user; their sockets close once the unit of work commits."""
    for sid in await repo.revoke_sessions(uow.conn, user_id=user_id, session_id=None, reason=reason):
        _publish_revocation(uow.outbox.add, user_id=user_id, session_id=sid, reason=reason)


def _web_link(rt: Runtime, path: str) -> str:
    return rt.settings.public_url.rstrip("/") + path


def _hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class _Link:
    """A new mailed link's secret: the token for the mail, its SHA-256 for the table, its expiry."""

    token: str
    token_hash: bytes
    expires_at: datetime


def _new_link(ttl_s: float) -> _Link:
    token = secrets.token_urlsafe(32)
    return _Link(token, _hash_token(token), datetime.now(UTC) + timedelta(seconds=ttl_s))


async def _send_verification(rt: Runtime, conn: AsyncConnection, *, user: RowMapping) -> None:
    """A new single-use verification link for ``user``, mailed with the caller's transaction."""
    ttl_s = rt.settings.email_verification_ttl_s
    fresh = _new_link(ttl_s)
    await repo.insert_verification(conn, token_hash=fresh.token_hash, user_id=user["id"], expires_at=fresh.expires_at)
    # The token travels in the URL's fragment, which browsers never send: it stays out of
    # server and proxy logs and Referer headers.
    mail = templates.verify_email(
        to=user["email"],
        display_name=user["display_name"],
        handle=user["handle"],
        link=_web_link(rt, f"/verify#token={fresh.token}"),
        ttl_s=ttl_s,
    )
    await queue_mail(conn, mail)


async def do_verify_email(rt: Runtime, *, token: str, user_agent: str, ip: str) -> TokenPair | SecondFactorRequired:
    """Follow a verification link: the address is verified and the account signs in."""
    async with rt.engine.begin() as conn:
        row = await repo.take_verification(conn, token_hash=_hash_token(token))
        if row is None:
            raise DomainError("this link is unknown or was already used", code="verification_invalid")
        if row["expires_at"] <= datetime.now(UTC):
            # Committed: the expired link is gone either way.
            user = None
        else:
            user = await repo.mark_email_verified(conn, user_id=row["user_id"])
    if user is None:
        raise DomainError("this link has expired; ask for a new one", code="verification_expired")
    if not user["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    return await first_factor_passed(rt, user=user, user_agent=user_agent, ip=ip)


async def do_resend_verification(rt: Runtime, *, email: str) -> None:
    """Ask for a new verification link for the address (``settle_address_request`` mails it if the
    address has an unverified account). The caller answers the same either way."""
    await _request_for_address(rt, kind=RESEND_VERIFICATION, email=email)


# --- password reset and email change (docs/subsystems/accounts.md) ------------------------------

PASSWORD_RESET = "password_reset"
EMAIL_CHANGE = "email_change"
RESEND_VERIFICATION = "resend_verification"


async def do_request_password_reset(rt: Runtime, *, email: str) -> None:
    """Ask for a reset link for the address: ``settle_address_request`` mails one to its active
    account, or a "no account here" mail otherwise. See docs/subsystems/accounts.md (Password reset).
    """
    await _request_for_address(rt, kind=PASSWORD_RESET, email=email)


async def _request_for_address(rt: Runtime, *, kind: str, email: str) -> None:
    """Store the request, whatever the address: the same one insert for an address with an account
    and one without, so the caller's answer takes the same time (docs/security.md). Nothing is
    stored for what cannot be an address: its sender knows that already."""
    normalized = normalize_email(email)
    if normalized is None:
        return
    async with rt.engine.begin() as conn:
        await repo.insert_address_request(conn, kind=kind, email=normalized)


async def settle_address_request(rt: Runtime) -> bool:
    """Settle the oldest waiting request for an address, in the transaction that takes it (so it
    is settled exactly once, on one node); False when none waits. Run by ``worker.AddressWorker``."""
    async with rt.engine.begin() as conn:
        request = await repo.take_address_request(conn)
        if request is None:
            return False
        email = request["email"]
        user = await repo.user_by_email_for_update(conn, email=email)
        if request["kind"] == RESEND_VERIFICATION:
            if user is not None and user["email_verified_at"] is None and user["is_active"]:
                await _send_verification(rt, conn, user=user)
        elif user is not None and user["is_active"]:
            await queue_mail(conn, await _reset_link_mail(rt, conn, user=user))
        else:
            await repo.sweep_account_tokens(conn)
            await queue_mail(conn, templates.reset_no_account(to=email, link=_web_link(rt, "/signup")))
    return True


async def _reset_link_mail(rt: Runtime, conn: AsyncConnection, *, user: RowMapping) -> templates.Mail:
    """A new reset link for ``user`` (earlier unused ones stop working) and the mail carrying it."""
    ttl_s = rt.settings.password_reset_ttl_s
    fresh = _new_link(ttl_s)
    await repo.insert_account_token(
        conn, token_hash=fresh.token_hash, user_id=user["id"], purpose=PASSWORD_RESET, expires_at=fresh.expires_at
    )
    return templates.password_reset(
        to=user["email"],
        display_name=user["display_name"],
        handle=user["handle"],
        link=_web_link(rt, f"/reset#token={fresh.token}"),  # the fragment: never sent to a server
        ttl_s=ttl_s,
    )


def _check_link(row: RowMapping | None, *, prefix: str, what: str) -> RowMapping:
    """The link's row if it may be followed now; otherwise the reason, as a 400 with a code."""
    if row is None:
        raise DomainError(f"this {what} link is unknown or was replaced by a newer one", code=f"{prefix}_invalid")
    if row["used_at"] is not None:
        raise DomainError(f"this {what} link was already used", code=f"{prefix}_used")
    if row["expires_at"] <= datetime.now(UTC):
        raise DomainError(f"this {what} link has expired; ask for a new one", code=f"{prefix}_expired")
    if not row["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    return row


async def do_reset_password(
    rt: Runtime, *, token: str, new_password: str, user_agent: str, ip: str
) -> TokenPair | SecondFactorRequired:
    """Follow a reset link: a new password, the address verified, every session of the account
    revoked (their sockets close), and a new session for whoever followed it."""
    token_hash = _hash_token(token)
    async with rt.engine.connect() as conn:
        row = _check_link(
            await repo.account_token(conn, token_hash=token_hash, purpose=PASSWORD_RESET),
            prefix="reset",
            what="password reset",
        )
    check_password_policy(
        new_password, email=row["email"] or "", handle=row["handle"], min_length=rt.settings.password_min_length
    )
    password_hash = await asyncio.to_thread(hash_password, rt.settings, new_password)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        # Again, locked: of two uses racing, one finds the link used.
        row = _check_link(
            await repo.account_token(uow.conn, token_hash=token_hash, purpose=PASSWORD_RESET, for_update=True),
            prefix="reset",
            what="password reset",
        )
        user_id = row["user_id"]
        await repo.use_account_token(uow.conn, token_hash=token_hash)
        # Other reset links and a pending email change (perhaps started by whoever knew the old
        # password) stop working.
        await repo.drop_unused_account_tokens(uow.conn, user_id=user_id)
        user = await repo.reset_password(uow.conn, user_id=user_id, password_hash=password_hash)
        assert user is not None
        await _revoke_all(uow, user_id=user_id, reason="password_reset")
        if user["email"] is not None:
            await queue_mail(
                uow.conn,
                templates.password_changed(
                    to=user["email"],
                    display_name=user["display_name"],
                    handle=user["handle"],
                    link=_web_link(rt, "/forgot"),
                ),
            )
    # A reset link proves the mailbox, not the second factor: that is still asked for.
    return await first_factor_passed(rt, user=user, user_agent=user_agent, ip=ip)


async def do_request_email_change(rt: Runtime, *, user_id: int, new_email: str, password: str) -> None:
    """Mail a confirmation link to the new address and a notice to the old one.

    The address changes only when the link is followed. A new address that already has an
    account gets a mail saying so instead of a link; the caller answers the same either way.
    """
    normalized = normalize_email(new_email)
    if normalized is None:
        raise Invalid("this email address cannot be used", code="email_invalid")
    async with rt.engine.connect() as conn:
        stored = await repo.password_hash_of(conn, user_id=user_id)
    # The password again: a session left open on a shared computer must not be enough to move
    # the account (and its password resets) to another mailbox.
    ok = await asyncio.to_thread(verify_password, rt.settings, stored, password)
    if stored is None:
        raise Forbidden(
            "this account has no password yet: set one with “Forgot password?” first", code="password_not_set"
        )
    if not ok:
        raise Forbidden("the password is not right", code="password_incorrect")
    async with rt.engine.begin() as conn:
        user = await repo.user_by_id(conn, user_id=user_id)
        if user is None:
            raise NotFound("user not found", code="user_not_found")
        if user["email"] == normalized:
            raise Invalid("this is already your email address", code="email_unchanged")
        if await repo.email_taken(conn, email=normalized):
            await queue_mail(conn, templates.email_change_taken(to=normalized, link=_web_link(rt, "/signin")))
        else:
            ttl_s = rt.settings.email_change_ttl_s
            fresh = _new_link(ttl_s)
            await repo.insert_account_token(
                conn,
                token_hash=fresh.token_hash,
                user_id=user_id,
                purpose=EMAIL_CHANGE,
                new_email=normalized,
                expires_at=fresh.expires_at,
            )
            await queue_mail(
                conn,
                templates.email_change_confirm(
                    to=normalized,
                    display_name=user["display_name"],
                    handle=user["handle"],
                    link=_web_link(rt, f"/email/confirm#token={fresh.token}"),
                    ttl_s=ttl_s,
                ),
            )
        if user["email"] is not None:
            await queue_mail(
                conn,
                templates.email_change_notice(
                    to=user["email"],
                    display_name=user["display_name"],
                    handle=user["handle"],
                    new_email=normalized,
                    link=_web_link(rt, "/forgot"),
                ),
            )


async def do_confirm_email_change(rt: Runtime, *, token: str) -> EmailChanged:
    """Follow a new address's confirmation link: the account moves to it, verified."""
    token_hash = _hash_token(token)
    async with rt.engine.begin() as conn:
        row = _check_link(
            await repo.account_token(conn, token_hash=token_hash, purpose=EMAIL_CHANGE, for_update=True),
            prefix="email_change",
            what="email confirmation",
        )
        # Someone took the address since the link was mailed. Only the mailbox's holder reads
        # this answer, and the address is theirs to know about.
        taken = Conflict("this email address already has an account", code="email_taken")
        if await repo.email_taken(conn, email=row["new_email"]):
            raise taken
        try:
            async with conn.begin_nested():
                user = await repo.change_email(conn, user_id=row["user_id"], email=row["new_email"])
        except IntegrityError as exc:  # a sign-up with the address committed in between
            raise taken from exc
        assert user is not None
        await repo.use_account_token(conn, token_hash=token_hash)
    return EmailChanged(email=user["email"])


async def do_sign_in(
    rt: Runtime, *, email: str, password: str, user_agent: str, ip: str
) -> TokenPair | SecondFactorRequired:
    normalized = normalize_email(email) or email.strip().lower()
    async with rt.engine.connect() as conn:
        user = await repo.user_by_email(conn, email=normalized)
    stored = user["password_hash"] if user is not None else None
    # verify_password checks a dummy hash when there is no account: same work, same answer.
    ok = await asyncio.to_thread(verify_password, rt.settings, stored, password)
    if not ok or user is None or not user["is_active"]:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if user["email_verified_at"] is None and rt.settings.unverified_accounts == "block":
        # The same answer as a wrong password. Whoever signs up with someone else's address chose
        # the password: a different answer here would tell them whether the address already had
        # an account (their sign-up made a new one) or not (it changed nothing).
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    return await first_factor_passed(rt, user=user, user_agent=user_agent, ip=ip)


async def do_refresh(rt: Runtime, *, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already rotated revokes its session."""
    old_hash = hash_refresh_token(refresh_token)
    new_token, new_hash = new_refresh_token()
    expires_at = datetime.now(UTC) + timedelta(seconds=rt.settings.refresh_token_ttl_s)
    reused: tuple[int, uuid.UUID] | None = None
    enrol_only = False
    user: RowMapping | None = None
    session_id: uuid.UUID | None = None
    async with unit_of_work(rt.engine, rt.bus) as uow:
        row = await repo.refresh_token_for_update(uow.conn, token_hash=old_hash)
        if row is None:
            raise Unauthorized("invalid refresh token", code="invalid_refresh_token")
        if row["revoked_at"] is not None or not row["is_active"]:
            raise Unauthorized("this session has been signed out", code="session_revoked")
        if row["expires_at"] <= datetime.now(UTC):
            raise Unauthorized("this session has expired", code="session_expired")
        if row["used_at"] is not None:
            # A rotated token came back: someone holds a copy. End the whole family.
            await repo.revoke_sessions(
                uow.conn, user_id=row["user_id"], session_id=row["session_id"], reason="refresh_token_reuse"
            )
            _publish_revocation(
                uow.outbox.add, user_id=row["user_id"], session_id=row["session_id"], reason="refresh_token_reuse"
            )
            reused = (row["user_id"], row["session_id"])
        else:
            await repo.rotate_refresh_token(
                uow.conn, old_hash=old_hash, new_hash=new_hash, session_id=row["session_id"], expires_at=expires_at
            )
            user = await repo.user_by_id(uow.conn, user_id=row["user_id"])
            session_id = row["session_id"]
            enrol_only = bool(row["enrol_only"])
    if reused is not None:
        raise Unauthorized("refresh token reuse detected; the session was revoked", code="refresh_token_reused")
    assert user is not None and session_id is not None
    return TokenPair(
        access_token=issue_access_token(rt.settings, rt.jwt_key, user_id=user["id"], session_id=session_id),
        refresh_token=new_token,
        expires_in=rt.settings.access_token_ttl_s,
        session_id=session_id,
        user=_me(user),
        enrollment_required=enrol_only,
    )


def _publish_revocation(
    add: Callable[[str, bytes], None], *, user_id: int, session_id: uuid.UUID | None, reason: str = "signed_out"
) -> None:
    if session_id is None:
        add(topic_user(user_id), encode_control({"op": "revoke_user", "user_id": user_id, "reason": reason}))
    else:
        add(
            topic_user(user_id),
            encode_control(
                {"op": "revoke_session", "user_id": user_id, "session_id": str(session_id), "reason": reason}
            ),
        )


async def do_sign_out(rt: Runtime, *, user_id: int, session_id: uuid.UUID | None) -> int:
    """End one session (or every session of the user when ``session_id`` is None).

    Live sockets of the ended sessions are closed on every node (close code 4001).
    """
    async with unit_of_work(rt.engine, rt.bus) as uow:
        revoked = await repo.revoke_sessions(uow.conn, user_id=user_id, session_id=session_id, reason="signed_out")
        for sid in revoked:
            _publish_revocation(uow.outbox.add, user_id=user_id, session_id=sid)
    return len(revoked)


# A status lasts at most this long ahead: clients offer "today", "this week" and the like.
STATUS_MAX_AHEAD = timedelta(days=366)
# ASCII letters and digits would make "emoji" free text; keycaps (1️⃣) keep their digit with U+20E3.
_NOT_EMOJI = re.compile(r"[\sA-Za-z]|^[0-9#*]+$")


def _status_values(status: ProfileStatusIn | None, *, now: datetime) -> dict[str, Any]:
    """The users columns for a new status (or for clearing it), refused with a reason when unusable."""
    if status is None:
        return {"status_text": None, "status_emoji": None, "status_expires_at": None}
    if not status.text and status.emoji is None:
        raise Invalid("a status needs some text or an emoji; send null to clear it", code="status_empty")
    expires_at = status.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise Invalid(
                "the status expiry needs a UTC offset, such as 2026-12-08T09:00:00Z", code="status_expiry_invalid"
            )
        if expires_at <= now:
            raise Invalid("the status expiry is in the past", code="status_expiry_past")
        if expires_at > now + STATUS_MAX_AHEAD:
            raise Invalid("a status can last at most a year", code="status_expiry_too_far")
    return {"status_text": status.text, "status_emoji": status.emoji, "status_expires_at": expires_at}


async def _check_status_emoji(conn: AsyncConnection, emoji: str) -> None:
    """The one rule for a status emoji: up to 16 characters of Unicode emoji, or the ``:name:`` of
    a custom emoji this server has."""
    if custom := CUSTOM_EMOJI.fullmatch(emoji):
        if not await emoji_exists(conn, name=custom[1]):
            raise Invalid(f"there is no custom emoji {custom[0]} on this server", code="status_emoji_invalid")
    elif len(emoji) > 16 or _NOT_EMOJI.search(emoji):
        raise Invalid("the status emoji must be an emoji, such as 🌴", code="status_emoji_invalid")


def check_timezone(name: str) -> str:
    """An IANA time zone name the server's tz database knows (``zoneinfo``), e.g. ``Europe/Berlin``."""
    if name not in _time_zones():
        raise Invalid(
            f"unknown time zone {name[:64]!r}: use an IANA name such as Europe/Berlin", code="timezone_invalid"
        )
    return name


@functools.cache
def _time_zones() -> frozenset[str]:
    # available_timezones() reads the tz database from disk: once per process is enough.
    return frozenset(zoneinfo.available_timezones())


async def do_update_profile(rt: Runtime, *, user_id: int, patch: ProfilePatch) -> MeOut:
    """Change my name, @handle, status or time zone (docs/subsystems/accounts.md)."""
    values: dict[str, Any] = patch.model_dump(include={"display_name", "handle"}, exclude_none=True)
    # status and timezone: null clears, absent leaves alone.
    if "status" in patch.model_fields_set:
        values.update(_status_values(patch.status, now=datetime.now(UTC)))
    if "timezone" in patch.model_fields_set:
        values["timezone"] = check_timezone(patch.timezone) if patch.timezone is not None else None
    async with rt.engine.begin() as conn:
        if values.get("status_emoji") is not None:
            await _check_status_emoji(conn, values["status_emoji"])
        if "handle" in values and await repo.handle_taken(conn, handle=values["handle"]):
            current = await repo.user_by_id(conn, user_id=user_id)
            if current is None or current["handle"] != values["handle"]:
                raise Conflict("this handle is taken", code="handle_taken")
        try:
            row = await repo.update_profile(conn, user_id=user_id, values=values) if values else None
        except IntegrityError as exc:  # a concurrent change took the handle first
            raise Conflict("this handle is taken", code="handle_taken") from exc
        if row is None:
            row = await repo.user_by_id(conn, user_id=user_id)
        assert row is not None
    return _me(row)


# --- reads ------------------------------------------------------------------------------------


async def get_me(rt: Runtime, *, user_id: int) -> MeOut:
    async with rt.engine.connect() as conn:
        row = await repo.user_by_id(conn, user_id=user_id)
    if row is None:
        raise NotFound("user not found", code="user_not_found")
    return _me(row)


async def get_user(rt: Runtime, *, user_id: int | None = None, handle: str | None = None) -> ProfileOut:
    """A user's public profile (id, @handle, display name, status unless expired, time zone), by id
    or exact @handle. Any signed-in user may read it, as handles are public."""
    async with rt.engine.connect() as conn:
        if user_id is not None:
            row = await repo.public_profile(conn, user_id=user_id)
        else:
            row = await repo.public_profile(conn, handle=(handle or "").lstrip("@").lower())
    if row is None:
        raise NotFound("user not found", code="user_not_found")
    return ProfileOut(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        is_bot=row["is_bot"],
        status=_status(row),
        timezone=row["timezone"],
    )


async def list_sessions(rt: Runtime, *, user_id: int, current_session_id: str) -> list[SessionOut]:
    async with rt.engine.connect() as conn:
        rows = await repo.list_sessions(conn, user_id=user_id)
    return [
        SessionOut(
            id=r["id"],
            created_at=r["created_at"],
            last_used_at=r["last_used_at"],
            user_agent=r["user_agent"],
            ip=r["ip"],
            current=str(r["id"]) == current_session_id,
        )
        for r in rows
    ]


# --- OIDC sign-in (docs/subsystems/accounts.md) ---------------------------------------------------

HANDOFF_TTL_S = 60


@dataclass(frozen=True)
class OidcStart:
    authorization_url: str
    browser_token: str  # goes in the HttpOnly cookie that binds the sign-in to this browser


async def do_oidc_start(rt: Runtime, *, provider_name: str) -> OidcStart:
    """Begin a sign-in: keep state, nonce and PKCE verifier server-side (single use, short-lived)."""
    provider = rt.oidc.provider(provider_name)
    state, nonce, verifier, browser = (oidc.random_token() for _ in range(4))
    url = await rt.oidc.authorization_url(provider, state=state, nonce=nonce, code_verifier=verifier)
    async with rt.engine.begin() as conn:
        await repo.insert_oidc_state(
            conn,
            state_hash=oidc.sha256(state),
            provider=provider.name,
            nonce=nonce,
            code_verifier=verifier,
            browser_hash=oidc.sha256(browser),
            expires_at=datetime.now(UTC) + timedelta(seconds=rt.settings.oidc_state_ttl_s),
        )
    return OidcStart(authorization_url=url, browser_token=browser)


def _slug(value: str | None) -> str:
    """A handle made from a name or an address's local part ("" when too little is left)."""
    handle = re.sub(r"[^a-z0-9_]+", "_", (value or "").lower()).strip("_")[:24]
    return handle if len(handle) >= 3 else ""


def _handle_candidates(identity: oidc.Identity) -> list[str]:
    raw = [identity.preferred_username, (identity.email or "").split("@")[0], identity.name, "user"]
    return list(dict.fromkeys(h for h in map(_slug, raw) if h))


async def _user_for_identity(uow: UnitOfWork, identity: oidc.Identity) -> RowMapping:
    """The account this identity signs in to: already linked, linked now by verified email, or new."""
    conn = uow.conn
    user = await repo.user_by_identity(conn, provider=identity.provider, subject=identity.subject)
    if user is not None:
        await repo.touch_identity(conn, provider=identity.provider, subject=identity.subject, email=identity.email)
        return user
    # Only an address the provider has verified may claim an existing account; otherwise anyone
    # could register someone else's address at a provider and take over their Tipline account.
    email = normalize_email(identity.email) if identity.email and identity.email_verified else None
    if email is not None:
        user = await repo.user_by_email(conn, email=email)
        if user is not None and user["email_verified_at"] is None:
            # The provider has verified the address; whoever signed it up here has proved nothing,
            # so their password must not open the account its owner now signs in to.
            user = await repo.take_unverified_for_owner(conn, user_id=user["id"])
            assert user is not None
            await _revoke_all(uow, user_id=user["id"], reason="account_taken_over")
    if user is None:
        await admit_provider_account(conn, email=email)  # the server settings' sign-up rules
        display_name = (identity.name or identity.preferred_username or "").strip()[:64]
        for attempt, base in enumerate([*_handle_candidates(identity), *["user"] * 5]):
            handle = base if attempt < 2 else f"{base[:27]}_{secrets.token_hex(2)}"
            user = await repo.insert_user(
                conn, email=email, password_hash=None, handle=handle, display_name=display_name or handle
            )
            if user is not None:
                break
            if email is not None and (existing := await repo.user_by_email(conn, email=email)) is not None:
                user = existing  # a sign-up with this address won the race: link to it
                break
        if user is None:
            raise Conflict("no free handle for this account; try again", code="handle_taken")
    if not await repo.insert_identity(
        conn, provider=identity.provider, subject=identity.subject, user_id=user["id"], email=identity.email
    ):
        raise Conflict("this sign-in is already in progress; try again", code="oidc_identity_race")
    return user


async def do_oidc_callback(rt: Runtime, *, provider_name: str, state: str, code: str, browser_token: str | None) -> str:
    """Finish a sign-in at the provider's redirect; returns a one-time hand-off code for the web client."""
    provider = rt.oidc.provider(provider_name)
    async with rt.engine.begin() as conn:
        started = await repo.take_oidc_state(conn, state_hash=oidc.sha256(state))
    if started is None:
        raise Unauthorized("this sign-in is unknown or was already used; start again", code="oidc_state_invalid")
    if started["expires_at"] <= datetime.now(UTC):
        raise Unauthorized("this sign-in has expired; start again", code="oidc_state_expired")
    if started["provider"] != provider.name:
        raise Unauthorized("this sign-in was started with another provider", code="oidc_state_invalid")
    if browser_token is None or not hmac.compare_digest(started["browser_hash"], oidc.sha256(browser_token)):
        raise Unauthorized("this sign-in was started in another browser", code="oidc_browser_mismatch")
    identity = await rt.oidc.identity(
        provider, code=code, code_verifier=started["code_verifier"], nonce=started["nonce"]
    )
    handoff = oidc.random_token()
    async with unit_of_work(rt.engine, rt.bus) as uow:
        conn = uow.conn
        user = await _user_for_identity(uow, identity)
        if not user["is_active"]:
            raise Unauthorized("this account is disabled", code="account_disabled")
        await repo.insert_handoff(
            conn,
            code_hash=oidc.sha256(handoff),
            user_id=user["id"],
            expires_at=datetime.now(UTC) + timedelta(seconds=HANDOFF_TTL_S),
        )
    return handoff


async def do_oidc_complete(rt: Runtime, *, handoff: str, user_agent: str, ip: str) -> TokenPair | SecondFactorRequired:
    """Exchange the one-time hand-off code for a normal session (the same as a password sign-in's)."""
    async with rt.engine.begin() as conn:
        row = await repo.take_handoff(conn, code_hash=oidc.sha256(handoff))
        user = await repo.user_by_id(conn, user_id=row["user_id"]) if row is not None else None
    if row is None or user is None or row["expires_at"] <= datetime.now(UTC):
        raise Unauthorized("this sign-in hand-off is unknown, used or expired", code="oidc_handoff_invalid")
    if not user["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    # The provider vouches for the identity; the account's own second factor is still asked for.
    return await first_factor_passed(rt, user=user, user_agent=user_agent, ip=ip)


# --- operators ------------------------------------------------------------------------------------


async def do_create_admin(rt: Runtime, *, email: str, password: str | None, handle: str | None) -> tuple[MeOut, bool]:
    """Make ``email``'s account an admin, creating it (with ``password``) when there is none.

    Returns the account and whether it was created. Used by `tipline admin create`.
    """
    normalized = normalize_email(email)
    if normalized is None:
        raise Invalid("this email address cannot be used", code="email_invalid")
    async with rt.engine.begin() as conn:
        existing = await repo.user_by_email(conn, email=normalized)
        if existing is not None:
            row = await repo.set_admin(conn, user_id=existing["id"], is_admin=True)
            assert row is not None
            return _me(row), False
    if password is None:
        raise Invalid("a new admin account needs a password", code="password_required")
    handle = handle or _slug(normalized.split("@")[0]) or "admin"
    check_password_policy(password, email=normalized, handle=handle, min_length=rt.settings.password_min_length)
    password_hash = await asyncio.to_thread(hash_password, rt.settings, password)
    async with rt.engine.begin() as conn:
        user = await repo.insert_user(
            conn, email=normalized, password_hash=password_hash, handle=handle, display_name=handle
        )
        if user is None:
            raise Conflict("this handle is taken; choose another with --handle", code="handle_taken")
        row = await repo.set_admin(conn, user_id=user["id"], is_admin=True)
        assert row is not None
    return _me(row), True


# --- two-factor authentication and passkeys (docs/subsystems/accounts.md) -------------------------

SECOND_FACTOR = "second_factor"
PASSKEY_REGISTER = "passkey_register"
PASSKEY_SIGNIN = "passkey_signin"
# Wrong codes one second step may take before it ends (a new password sign-in starts another);
# the per-account and per-IP rate limits bound the guesses across steps.
CHALLENGE_MAX_FAILURES = 5


def _must_have_2fa(rt: Runtime, user: RowMapping) -> bool:
    mode = rt.settings.require_2fa
    return mode == "everyone" or (mode == "admins" and bool(user["is_admin"]))


def _has_second_factor(factors: RowMapping) -> bool:
    return bool(factors["totp"]) or factors["passkeys"] > 0


def _methods(factors: RowMapping) -> list[SecondFactorMethod]:
    methods: list[SecondFactorMethod] = []
    if factors["totp"]:
        methods.append("totp")
    if factors["recovery_codes_left"] > 0:
        methods.append("recovery")
    if factors["passkeys"] > 0:
        methods.append("passkey")
    return methods


async def first_factor_passed(
    rt: Runtime, *, user: RowMapping, user_agent: str, ip: str
) -> TokenPair | SecondFactorRequired:
    """After a password (or a provider, or a reset or verification link): a session, or, for an
    account with a second factor, a short-lived single-use challenge for ``do_verify_second_factor``."""
    token = secrets.token_urlsafe(32)
    ttl_s = rt.settings.two_factor_challenge_ttl_s
    async with rt.engine.begin() as conn:
        factors = await repo.second_factors(conn, user_id=user["id"])
        if _has_second_factor(factors):
            await repo.insert_challenge(
                conn,
                token_hash=_hash_token(token),
                purpose=SECOND_FACTOR,
                user_id=user["id"],
                expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
            )
            return SecondFactorRequired(challenge=token, methods=_methods(factors), expires_in=ttl_s)
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


def _challenge_refusal(row: RowMapping | None) -> DomainError | None:
    if row is None:
        return Unauthorized("this sign-in step is unknown or was already used; sign in again", code="challenge_invalid")
    if row["expires_at"] <= datetime.now(UTC):
        return Unauthorized("this sign-in step has expired; sign in again", code="challenge_expired")
    return None


async def _check_code(rt: Runtime, conn: AsyncConnection, *, user_id: int, code: str) -> bool:
    """A TOTP code (accepted once: its step is remembered) or an unused recovery code (used up)."""
    compact = code.replace(" ", "")
    if secondfactor.looks_like_totp(compact):
        row = await repo.totp_for_update(conn, user_id=user_id)
        if row is None or row["confirmed_at"] is None:
            return False
        secret = secondfactor.unseal(rt.jwt_key, user_id, row["secret_enc"])
        step = secondfactor.match_totp(secret, compact, last_step=row["last_step"]) if secret else None
        if step is None:
            return False
        await repo.set_totp_step(conn, user_id=user_id, step=step)
        return True
    return await repo.use_recovery_code(
        conn, user_id=user_id, code_hash=secondfactor.hash_recovery_code(rt.jwt_key, code)
    )


async def do_verify_second_factor(
    rt: Runtime,
    *,
    challenge: str,
    code: str | None,
    credential: dict[str, object] | None,
    user_agent: str,
    ip: str,
) -> TokenPair:
    """The second step of a sign-in: a TOTP code, a recovery code or a passkey's answer for the
    challenge. Success uses the challenge up and opens the session; each wrong answer counts, and
    the challenge ends after ``CHALLENGE_MAX_FAILURES``."""
    if (code is None) == (credential is None):
        raise Invalid("send either a code or a passkey credential", code="second_factor_missing")
    token_hash = _hash_token(challenge)
    async with rt.engine.connect() as conn:
        peek = await repo.challenge_for_update(conn, token_hash=token_hash, purpose=SECOND_FACTOR)
    refusal = _challenge_refusal(peek)
    if refusal is not None:
        raise refusal
    assert peek is not None
    await rt.limits.check("twofactor_per_user", str(peek["user_id"]))
    failure: DomainError | None = None
    user: RowMapping | None = None
    async with rt.engine.begin() as conn:
        row = await repo.challenge_for_update(conn, token_hash=token_hash, purpose=SECOND_FACTOR)
        refusal = _challenge_refusal(row)
        if refusal is not None:
            raise refusal  # used or expired meanwhile
        assert row is not None
        user_id = row["user_id"]
        if code is not None:
            ok = await _check_code(rt, conn, user_id=user_id, code=code)
        else:
            assert credential is not None
            key = await _check_passkey(
                rt, conn, credential=credential, challenge=row["webauthn_challenge"], user_id=user_id
            )
            ok = key is not None
        if ok:
            await repo.delete_challenge(conn, token_hash=token_hash)
            user = await repo.user_by_id(conn, user_id=user_id)
        else:
            failures = await repo.count_challenge_failure(conn, token_hash=token_hash)
            if failures >= CHALLENGE_MAX_FAILURES:
                await repo.delete_challenge(conn, token_hash=token_hash)
                failure = Unauthorized("too many wrong codes; sign in again", code="challenge_invalid")
            else:
                failure = Unauthorized("this code is wrong or was already used", code="second_factor_invalid")
    if failure is not None:
        raise failure  # after the commit: the failure counts
    if user is None or not user["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


async def get_two_factor_status(rt: Runtime, *, user_id: int) -> TwoFactorStatus:
    async with rt.engine.connect() as conn:
        factors = await repo.second_factors(conn, user_id=user_id)
        user = await repo.user_by_id(conn, user_id=user_id)
    assert user is not None
    return TwoFactorStatus(
        totp=bool(factors["totp"]),
        recovery_codes_left=factors["recovery_codes_left"],
        passkeys=factors["passkeys"],
        required=_must_have_2fa(rt, user),
    )


async def do_start_totp(rt: Runtime, *, user_id: int) -> TotpEnrolment:
    """A new TOTP secret, kept unconfirmed (and unused) until a first code made from it comes back."""
    secret = secondfactor.new_totp_secret()
    async with rt.engine.begin() as conn:
        existing = await repo.totp_for_update(conn, user_id=user_id)
        if existing is not None and existing["confirmed_at"] is not None:
            raise Conflict("an authenticator app is already set up; turn it off first", code="totp_already_enabled")
        user = await repo.user_by_id(conn, user_id=user_id)
        assert user is not None
        await repo.put_pending_totp(conn, user_id=user_id, secret_enc=secondfactor.seal(rt.jwt_key, user_id, secret))
    uri = secondfactor.otpauth_uri(secret, account=user["email"] or f"@{user['handle']}")
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=secondfactor.qr_svg_data_uri(uri))


async def do_confirm_totp(rt: Runtime, *, user_id: int, code: str) -> RecoveryCodes:
    """The first code from the app turns TOTP on; ten recovery codes are made and shown once."""
    await rt.limits.check("twofactor_per_user", str(user_id))
    codes = secondfactor.new_recovery_codes()
    async with rt.engine.begin() as conn:
        row = await repo.totp_for_update(conn, user_id=user_id)
        if row is None:
            raise Conflict("start enrolment first (POST /me/2fa/totp)", code="totp_not_started")
        if row["confirmed_at"] is not None:
            raise Conflict("the authenticator app is already set up", code="totp_already_enabled")
        secret = secondfactor.unseal(rt.jwt_key, user_id, row["secret_enc"])
        step = secondfactor.match_totp(secret, code.replace(" ", ""), last_step=None) if secret else None
        if step is None:
            raise Forbidden(
                "this code is wrong; check the app's clock and try the next one", code="second_factor_invalid"
            )
        await repo.confirm_totp(conn, user_id=user_id, step=step)
        await repo.replace_recovery_codes(
            conn, user_id=user_id, code_hashes=[secondfactor.hash_recovery_code(rt.jwt_key, c) for c in codes]
        )
        await repo.clear_enrol_only(conn, user_id=user_id)
    return RecoveryCodes(recovery_codes=codes)


async def _reauthenticate(
    rt: Runtime, conn: AsyncConnection, *, user_id: int, password: str | None, code: str | None
) -> None:
    """The password, or a current second-factor code (used up), before a change to the factors."""
    if password is None and code is None:
        raise Invalid("confirm with your password or a code", code="reauth_required")
    if password is not None:
        stored = await repo.password_hash_of(conn, user_id=user_id)
        if stored is None:
            raise Forbidden("this account has no password; confirm with a code", code="password_not_set")
        if not await asyncio.to_thread(verify_password, rt.settings, stored, password):
            raise Forbidden("the password is incorrect", code="password_incorrect")
        return
    assert code is not None
    await rt.limits.check("twofactor_per_user", str(user_id))
    if not await _check_code(rt, conn, user_id=user_id, code=code):
        raise Forbidden("this code is wrong or was already used", code="second_factor_invalid")


# The privacy domain confirms an account's deletion and revokes its sessions exactly as here.
reauthenticate = _reauthenticate
revoke_all_sessions = _revoke_all


async def _keep_required_factor(rt: Runtime, conn: AsyncConnection, *, user_id: int, removing: str) -> None:
    """REQUIRE_2FA: the last second factor of an account that must have one stays."""
    user = await repo.user_by_id(conn, user_id=user_id)
    assert user is not None
    if not _must_have_2fa(rt, user):
        return
    factors = await repo.second_factors(conn, user_id=user_id)
    left = (0 if removing == "totp" else int(bool(factors["totp"]))) + factors["passkeys"] - (removing == "passkey")
    if left < 1:
        raise Conflict(
            "this server requires a second factor: add another before removing this one", code="two_factor_required"
        )


async def do_disable_totp(rt: Runtime, *, user_id: int, password: str | None, code: str | None) -> None:
    """Turn the authenticator app off (its recovery codes go with it), confirmed by password or a code."""
    async with rt.engine.begin() as conn:
        row = await repo.totp_for_update(conn, user_id=user_id)
        if row is None:
            raise NotFound("no authenticator app is set up", code="totp_not_enabled")
        await _reauthenticate(rt, conn, user_id=user_id, password=password, code=code)
        await _keep_required_factor(rt, conn, user_id=user_id, removing="totp")
        await repo.delete_totp(conn, user_id=user_id)


async def do_regenerate_recovery_codes(
    rt: Runtime, *, user_id: int, password: str | None, code: str | None
) -> RecoveryCodes:
    """Ten new recovery codes; the old ones stop working."""
    codes = secondfactor.new_recovery_codes()
    async with rt.engine.begin() as conn:
        row = await repo.totp_for_update(conn, user_id=user_id)
        if row is None or row["confirmed_at"] is None:
            raise NotFound("recovery codes come with an authenticator app; set one up first", code="totp_not_enabled")
        await _reauthenticate(rt, conn, user_id=user_id, password=password, code=code)
        await repo.replace_recovery_codes(
            conn, user_id=user_id, code_hashes=[secondfactor.hash_recovery_code(rt.jwt_key, c) for c in codes]
        )
    return RecoveryCodes(recovery_codes=codes)


# Passkeys (WebAuthn). The user handle is the account id as 8 bytes: stable, and no address or name.


def _user_handle(user_id: int) -> bytes:
    return user_id.to_bytes(8, "big")


def _passkey_out(row: RowMapping) -> PasskeyOut:
    return PasskeyOut(
        id=bytes_to_base64url(row["credential_id"]),
        name=row["name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


async def _new_flow(
    rt: Runtime, conn: AsyncConnection, *, purpose: str, user_id: int | None, webauthn_challenge: bytes
) -> str:
    token = secrets.token_urlsafe(32)
    await repo.insert_challenge(
        conn,
        token_hash=_hash_token(token),
        purpose=purpose,
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=rt.settings.two_factor_challenge_ttl_s),
        webauthn_challenge=webauthn_challenge,
    )
    return token


async def _take_flow(conn: AsyncConnection, *, flow: str, purpose: str) -> RowMapping:
    """A passkey ceremony's challenge, used up whatever the answer (one try per ceremony)."""
    token_hash = _hash_token(flow)
    row = await repo.challenge_for_update(conn, token_hash=token_hash, purpose=purpose)
    refusal = _challenge_refusal(row)
    if row is not None:
        await repo.delete_challenge(conn, token_hash=token_hash)
    if refusal is not None:
        raise refusal
    assert row is not None
    return row


def _timeout_ms(rt: Runtime) -> int:
    return rt.settings.two_factor_challenge_ttl_s * 1000


async def list_passkeys(rt: Runtime, *, user_id: int) -> list[PasskeyOut]:
    async with rt.engine.connect() as conn:
        return [_passkey_out(r) for r in await repo.list_passkeys(conn, user_id=user_id)]


async def do_passkey_register_options(rt: Runtime, *, user_id: int) -> PasskeyOptions:
    rp_id, _ = secondfactor.relying_party(rt.settings)
    async with rt.engine.begin() as conn:
        user = await repo.user_by_id(conn, user_id=user_id)
        assert user is not None
        existing = await repo.list_passkeys(conn, user_id=user_id)
        options = webauthn.generate_registration_options(
            rp_id=rp_id,
            rp_name="Tipline",
            user_id=_user_handle(user_id),
            user_name=user["email"] or f"@{user['handle']}",
            user_display_name=user["display_name"],
            timeout=_timeout_ms(rt),
            # Discoverable, so it can also sign in without an address or a password.
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=r["credential_id"]) for r in existing],
        )
        flow = await _new_flow(
            rt, conn, purpose=PASSKEY_REGISTER, user_id=user_id, webauthn_challenge=options.challenge
        )
    return PasskeyOptions(flow=flow, options=secondfactor.options_dict(options))


async def do_register_passkey(
    rt: Runtime, *, user_id: int, flow: str, credential: dict[str, object], name: str
) -> PasskeyOut:
    rp_id, origin = secondfactor.relying_party(rt.settings)
    async with rt.engine.begin() as conn:
        row = await _take_flow(conn, flow=flow, purpose=PASSKEY_REGISTER)
        if row["user_id"] != user_id:
            raise Unauthorized("this passkey ceremony belongs to another account", code="challenge_invalid")
    # The ceremony is used up (committed above) whatever the answer.
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=row["webauthn_challenge"],
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise Invalid(f"the passkey could not be verified: {exc}", code="passkey_invalid") from exc
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    async with rt.engine.begin() as conn:
        saved = await repo.insert_passkey(
            conn,
            credential_id=verified.credential_id,
            user_id=user_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=name,
            transports=[str(t) for t in transports] if isinstance(transports, list) else [],
        )
        if saved is None:
            raise Conflict("this passkey is already registered", code="passkey_exists")
        await repo.clear_enrol_only(conn, user_id=user_id)
    return _passkey_out(saved)


async def do_delete_passkey(rt: Runtime, *, user_id: int, passkey_id: str) -> None:
    try:
        credential_id = base64url_to_bytes(passkey_id)
    except (ValueError, TypeError) as exc:
        raise NotFound("passkey not found", code="passkey_not_found") from exc
    async with rt.engine.begin() as conn:
        await _keep_required_factor(rt, conn, user_id=user_id, removing="passkey")
        if not await repo.delete_passkey(conn, user_id=user_id, credential_id=credential_id):
            raise NotFound("passkey not found", code="passkey_not_found")


async def _check_passkey(
    rt: Runtime,
    conn: AsyncConnection,
    *,
    credential: dict[str, object],
    challenge: bytes | None,
    user_id: int | None,
    require_user_verification: bool = False,
) -> RowMapping | None:
    """The passkey row if ``credential`` is a valid answer to ``challenge`` by one of ``user_id``'s
    passkeys (any account's with ``user_id`` None); its signature counter is moved on."""
    if challenge is None:
        return None
    rp_id, origin = secondfactor.relying_party(rt.settings)
    try:
        credential_id = base64url_to_bytes(str(credential.get("rawId") or credential.get("id") or ""))
    except (ValueError, TypeError):
        return None
    row = await repo.passkey(conn, credential_id=credential_id) if credential_id else None
    if row is None or (user_id is not None and row["user_id"] != user_id):
        return None
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    try:
        if handle and base64url_to_bytes(str(handle)) != _user_handle(row["user_id"]):
            return None
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=row["public_key"],
            credential_current_sign_count=row["sign_count"],
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        return None
    await repo.use_passkey(conn, credential_id=credential_id, sign_count=verified.new_sign_count)
    return row


async def do_second_factor_passkey_options(rt: Runtime, *, challenge: str) -> PasskeyOptions:
    """Options to answer a sign-in's second step with one of the account's passkeys."""
    rp_id, _ = secondfactor.relying_party(rt.settings)
    token_hash = _hash_token(challenge)
    async with rt.engine.begin() as conn:
        row = await repo.challenge_for_update(conn, token_hash=token_hash, purpose=SECOND_FACTOR)
        refusal = _challenge_refusal(row)
        if refusal is not None:
            raise refusal
        assert row is not None
        keys = await repo.list_passkeys(conn, user_id=row["user_id"])
        if not keys:
            raise Conflict("this account has no passkey", code="passkey_not_found")
        options = webauthn.generate_authentication_options(
            rp_id=rp_id,
            timeout=_timeout_ms(rt),
            allow_credentials=[PublicKeyCredentialDescriptor(id=k["credential_id"]) for k in keys],
            user_verification=UserVerificationRequirement.DISCOURAGED,
        )
        await repo.set_challenge_webauthn(conn, token_hash=token_hash, webauthn_challenge=options.challenge)
    return PasskeyOptions(flow=challenge, options=secondfactor.options_dict(options))


async def do_passkey_signin_options(rt: Runtime) -> PasskeyOptions:
    """Options for a passwordless sign-in: any discoverable passkey of this server."""
    rp_id, _ = secondfactor.relying_party(rt.settings)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, timeout=_timeout_ms(rt), user_verification=UserVerificationRequirement.REQUIRED
    )
    async with rt.engine.begin() as conn:
        flow = await _new_flow(rt, conn, purpose=PASSKEY_SIGNIN, user_id=None, webauthn_challenge=options.challenge)
    return PasskeyOptions(flow=flow, options=secondfactor.options_dict(options))


async def do_passkey_sign_in(
    rt: Runtime, *, flow: str, credential: dict[str, object], user_agent: str, ip: str
) -> TokenPair:
    """A passwordless sign-in: the passkey (something held, unlocked by the device's PIN or
    biometrics, so user verification is required) is both factors."""
    async with rt.engine.begin() as conn:
        row = await _take_flow(conn, flow=flow, purpose=PASSKEY_SIGNIN)
        key = await _check_passkey(
            rt,
            conn,
            credential=credential,
            challenge=row["webauthn_challenge"],
            user_id=None,
            require_user_verification=True,
        )
        user = await repo.user_by_id(conn, user_id=key["user_id"]) if key is not None else None
    if user is None:
        raise Unauthorized("this passkey is not recognised", code="passkey_invalid")
    if not user["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)
