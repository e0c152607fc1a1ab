"""Account actions: the only code that writes accounts and sessions. See docs/subsystems/accounts.md."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.backends import oidc
from tipline.bus.base import topic_user
from tipline.bus.envelope import encode_control
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.accounts import repository as repo
from tipline.domain.accounts.schemas import (
    EmailChanged,
    MeOut,
    ProfilePatch,
    SessionOut,
    SignUpAccepted,
    SignUpIn,
    TokenPair,
    UserOut,
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
from tipline.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from tipline.runtime import Runtime

INVALID_CREDENTIALS = "invalid email or password"


def _me(row: RowMapping) -> MeOut:
    return MeOut(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        email=row["email"],
        is_admin=row["is_admin"],
        created_at=row["created_at"],
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
        await repo.insert_session(
            conn,
            session_id=session_id,
            user_id=user["id"],
            expires_at=expires_at,
            user_agent=user_agent,
            ip=ip,
            token_hash=token_hash,
        )
    return TokenPair(
        access_token=issue_access_token(rt.settings, rt.jwt_key, user_id=user["id"], session_id=session_id),
        refresh_token=token,
        expires_in=rt.settings.access_token_ttl_s,
        session_id=session_id,
        user=_me(user),
    )


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
        async with rt.engine.begin() as conn:
            user = await repo.insert_user(
                conn, email=email, password_hash=password_hash, handle=data.handle, display_name=data.display_name
            )
            if user is None:
                if await repo.handle_taken(conn, handle=data.handle):
                    raise Conflict("this handle is taken", code="handle_taken")
                raise Conflict("an account with this email already exists", code="email_taken")
        return await open_session(rt, user=user, user_agent=user_agent, ip=ip)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        conn = uow.conn
        # Handles are public, so a taken one may be said; whether the email has an account may not.
        if await repo.handle_taken(conn, handle=data.handle):
            raise Conflict("this handle is taken", code="handle_taken")
        existing = await repo.user_by_email_for_update(conn, email=email)
        if existing is None:
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
        elif (
            existing["email_verified_at"] is None
            and existing["password_hash"] is not None
            and rt.settings.unverified_accounts == "block"
        ):
            # Never verified, so nobody has proved they own the address: the latest sign-up wins,
            # and only its link (mailed to the address) can make the account usable. (With
            # UNVERIFIED_ACCOUNTS=allow the account may be in use: it is left alone, and the
            # address's owner takes it back with a password reset.)
            user = await repo.replace_unverified(
                conn,
                user_id=existing["id"],
                password_hash=password_hash,
                handle=data.handle,
                display_name=data.display_name,
            )
            assert user is not None
            # Sessions it may have from a time UNVERIFIED_ACCOUNTS was `allow` end with the takeover.
            await _revoke_all(uow, user_id=user["id"], reason="account_taken_over")
            await _send_verification(rt, conn, user=user)
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


async def _send_verification(rt: Runtime, conn: AsyncConnection, *, user: RowMapping) -> None:
    """A new single-use verification link for ``user``, mailed with the caller's transaction."""
    token = secrets.token_urlsafe(32)
    ttl_s = rt.settings.email_verification_ttl_s
    await repo.insert_verification(
        conn,
        token_hash=_hash_token(token),
        user_id=user["id"],
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
    )
    # The token travels in the URL's fragment, which browsers never send: it stays out of
    # server and proxy logs and Referer headers.
    mail = templates.verify_email(
        to=user["email"],
        display_name=user["display_name"],
        handle=user["handle"],
        link=_web_link(rt, f"/verify#token={token}"),
        ttl_s=ttl_s,
    )
    await queue_mail(conn, mail)


async def do_verify_email(rt: Runtime, *, token: str, user_agent: str, ip: str) -> TokenPair:
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
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


async def do_resend_verification(rt: Runtime, *, email: str) -> None:
    """Mail a new verification link if the address has an unverified account; nothing otherwise.

    The caller answers the same either way.
    """
    normalized = normalize_email(email)
    if normalized is None:
        return
    async with rt.engine.begin() as conn:
        user = await repo.user_by_email_for_update(conn, email=normalized)
        if user is not None and user["email_verified_at"] is None and user["is_active"]:
            await _send_verification(rt, conn, user=user)


# --- password reset and email change (docs/subsystems/accounts.md) ------------------------------

PASSWORD_RESET = "password_reset"
EMAIL_CHANGE = "email_change"


async def do_request_password_reset(rt: Runtime, *, email: str) -> None:
    """Mail a reset link to the address's active account, or a "no account here" mail otherwise.

    Both paths run the same statements in one write transaction (a locked read of the address,
    a sweep of old links, which for an account also stores the new one, and one mail queued), so
    the answer (the caller sends the same 202 either way) takes about the same time. See
    docs/subsystems/accounts.md (Password reset).
    """
    normalized = normalize_email(email)
    if normalized is None:
        return
    async with rt.engine.begin() as conn:
        user = await repo.user_by_email_for_update(conn, email=normalized)
        if user is not None and user["is_active"]:
            token = secrets.token_urlsafe(32)
            ttl_s = rt.settings.password_reset_ttl_s
            await repo.insert_account_token(
                conn,
                token_hash=_hash_token(token),
                user_id=user["id"],
                purpose=PASSWORD_RESET,
                expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
            )
            mail = templates.password_reset(
                to=normalized,
                display_name=user["display_name"],
                handle=user["handle"],
                link=_web_link(rt, f"/reset#token={token}"),  # the fragment: never sent to a server
                ttl_s=ttl_s,
            )
        else:
            # The statement the other path runs with its insert: the same round trips either way.
            await repo.sweep_account_tokens(conn)
            mail = templates.reset_no_account(to=normalized, link=_web_link(rt, "/signup"))
        await queue_mail(conn, mail)


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


async def do_reset_password(rt: Runtime, *, token: str, new_password: str, user_agent: str, ip: str) -> TokenPair:
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
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


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
            token = secrets.token_urlsafe(32)
            ttl_s = rt.settings.email_change_ttl_s
            await repo.insert_account_token(
                conn,
                token_hash=_hash_token(token),
                user_id=user_id,
                purpose=EMAIL_CHANGE,
                new_email=normalized,
                expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
            )
            await queue_mail(
                conn,
                templates.email_change_confirm(
                    to=normalized,
                    display_name=user["display_name"],
                    handle=user["handle"],
                    link=_web_link(rt, f"/email/confirm#token={token}"),
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


async def do_sign_in(rt: Runtime, *, email: str, password: str, user_agent: str, ip: str) -> TokenPair:
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
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


async def do_refresh(rt: Runtime, *, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already rotated revokes its session."""
    old_hash = hash_refresh_token(refresh_token)
    new_token, new_hash = new_refresh_token()
    expires_at = datetime.now(UTC) + timedelta(seconds=rt.settings.refresh_token_ttl_s)
    reused: tuple[int, uuid.UUID] | None = None
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
    if reused is not None:
        raise Unauthorized("refresh token reuse detected; the session was revoked", code="refresh_token_reused")
    assert user is not None and session_id is not None
    return TokenPair(
        access_token=issue_access_token(rt.settings, rt.jwt_key, user_id=user["id"], session_id=session_id),
        refresh_token=new_token,
        expires_in=rt.settings.access_token_ttl_s,
        session_id=session_id,
        user=_me(user),
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


async def do_update_profile(rt: Runtime, *, user_id: int, patch: ProfilePatch) -> MeOut:
    values = patch.model_dump(exclude_none=True)
    async with rt.engine.begin() as conn:
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


async def get_user(rt: Runtime, *, user_id: int | None = None, handle: str | None = None) -> UserOut:
    """A user's public profile (id, @handle, display name), by id or exact @handle."""
    async with rt.engine.connect() as conn:
        if user_id is not None:
            row = await repo.public_user(conn, user_id=user_id)
        else:
            row = await repo.public_user_by_handle(conn, handle=(handle or "").lstrip("@").lower())
    if row is None:
        raise NotFound("user not found", code="user_not_found")
    return UserOut(**row)


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


async def do_oidc_complete(rt: Runtime, *, handoff: str, user_agent: str, ip: str) -> TokenPair:
    """Exchange the one-time hand-off code for a normal session (the same as a password sign-in's)."""
    async with rt.engine.begin() as conn:
        row = await repo.take_handoff(conn, code_hash=oidc.sha256(handoff))
        user = await repo.user_by_id(conn, user_id=row["user_id"]) if row is not None else None
    if row is None or user is None or row["expires_at"] <= datetime.now(UTC):
        raise Unauthorized("this sign-in hand-off is unknown, used or expired", code="oidc_handoff_invalid")
    if not user["is_active"]:
        raise Unauthorized("this account is disabled", code="account_disabled")
    return await open_session(rt, user=user, user_agent=user_agent, ip=ip)


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
