"""SQL for accounts. Every function takes the connection explicitly; no HTTP, no bus."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import (
    account_tokens,
    address_requests,
    auth_challenges,
    email_verifications,
    oidc_handoffs,
    oidc_identities,
    oidc_login_states,
    passkeys,
    recovery_codes,
    refresh_tokens,
    sessions,
    totp_secrets,
    users,
)

USER_PUBLIC = (users.c.id, users.c.handle, users.c.display_name, users.c.is_bot)
USER_ME = (*USER_PUBLIC, users.c.email, users.c.is_admin, users.c.created_at, users.c.is_active)
# What a profile card shows beyond the public user shape (docs/subsystems/accounts.md, "Status and local time").
USER_PROFILE = (users.c.status_text, users.c.status_emoji, users.c.status_expires_at, users.c.timezone)


async def insert_user(
    conn: AsyncConnection,
    *,
    email: str | None,
    password_hash: str | None,
    handle: str,
    display_name: str,
    verified: bool = True,
) -> RowMapping | None:
    """Insert a user; None when the email or handle is taken (the caller tells which).

    ``verified`` False leaves the email unverified: the account cannot sign in until it is.
    """
    stmt = (
        pg_insert(users)
        .values(
            email=email,
            password_hash=password_hash,
            handle=handle,
            display_name=display_name,
            email_verified_at=func.now() if verified else None,
        )
        .on_conflict_do_nothing()
        .returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


async def handle_taken(conn: AsyncConnection, *, handle: str) -> bool:
    return (await conn.execute(select(users.c.id).where(users.c.handle == handle))).first() is not None


async def user_by_email(conn: AsyncConnection, *, email: str) -> RowMapping | None:
    stmt = select(*USER_ME, users.c.password_hash, users.c.email_verified_at).where(users.c.email == email)
    return (await conn.execute(stmt)).mappings().first()


async def user_by_email_for_update(conn: AsyncConnection, *, email: str) -> RowMapping | None:
    """The account of an address, locked: concurrent sign-ups with one address go one at a time."""
    stmt = (
        select(*USER_ME, users.c.password_hash, users.c.email_verified_at)
        .where(users.c.email == email)
        .with_for_update()
    )
    return (await conn.execute(stmt)).mappings().first()


async def replace_unverified(
    conn: AsyncConnection, *, user_id: int, password_hash: str, handle: str, display_name: str
) -> RowMapping | None:
    """A new sign-up for an address whose account was never verified takes that account over."""
    stmt = (
        update(users)
        .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
        .values(password_hash=password_hash, handle=handle, display_name=display_name)
        .returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


async def take_unverified_for_owner(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    """The address's owner proved it another way (OIDC): the account is verified, and the password
    and links set by whoever signed it up unproven stop working."""
    await conn.execute(delete(email_verifications).where(email_verifications.c.user_id == user_id))
    stmt = (
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=None, email_verified_at=func.now())
        .returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


async def insert_verification(conn: AsyncConnection, *, token_hash: bytes, user_id: int, expires_at: datetime) -> None:
    """A new verification link for the user; every earlier one stops working."""
    await conn.execute(
        delete(email_verifications).where(
            (email_verifications.c.user_id == user_id) | (email_verifications.c.expires_at < func.now())
        )
    )
    await conn.execute(
        insert(email_verifications).values(token_hash=token_hash, user_id=user_id, expires_at=expires_at)
    )


async def take_verification(conn: AsyncConnection, *, token_hash: bytes) -> RowMapping | None:
    """Claim a verification link: deleted in the same statement, so a link works once."""
    stmt = (
        delete(email_verifications).where(email_verifications.c.token_hash == token_hash).returning(email_verifications)
    )
    return (await conn.execute(stmt)).mappings().first()


async def mark_email_verified(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    stmt = (
        update(users)
        .where(users.c.id == user_id)
        .values(email_verified_at=func.coalesce(users.c.email_verified_at, func.now()))
        .returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


# --- password reset and email change links (account_tokens) ---------------------------------------


# One statement: the sweep of old links and the insert of the new one cost one round trip.
_INSERT_ACCOUNT_TOKEN = text(
    """
    WITH gone AS (
        DELETE FROM account_tokens
        WHERE (user_id = :user_id AND purpose = :purpose AND used_at IS NULL)
           OR expires_at < now() - interval '1 day'
    )
    INSERT INTO account_tokens (token_hash, user_id, purpose, new_email, expires_at)
    VALUES (:token_hash, :user_id, :purpose, :new_email, :expires_at)
    """
)


async def insert_address_request(conn: AsyncConnection, *, kind: str, email: str) -> None:
    await conn.execute(insert(address_requests).values(kind=kind, email=email))


# The oldest request no other node holds, deleted: it is settled in the same transaction, so a
# node that dies midway rolls the delete back and the request waits for the next turn.
_TAKE_ADDRESS_REQUEST = text(
    """
    DELETE FROM address_requests
    WHERE id = (SELECT id FROM address_requests ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING kind, email
    """
)


async def take_address_request(conn: AsyncConnection) -> RowMapping | None:
    return (await conn.execute(_TAKE_ADDRESS_REQUEST)).mappings().first()


async def insert_account_token(
    conn: AsyncConnection,
    *,
    token_hash: bytes,
    user_id: int,
    purpose: str,
    expires_at: datetime,
    new_email: str | None = None,
) -> None:
    """A new link of ``purpose`` for the user: earlier unused ones of that purpose stop working.

    Rows past their expiry by a day are swept on the way; until then a used one still answers
    "already used" rather than "unknown".
    """
    await conn.execute(
        _INSERT_ACCOUNT_TOKEN,
        {
            "token_hash": token_hash,
            "user_id": user_id,
            "purpose": purpose,
            "new_email": new_email,
            "expires_at": expires_at,
        },
    )


async def sweep_account_tokens(conn: AsyncConnection) -> None:
    """Delete links a day past their expiry (``insert_account_token`` does this too)."""
    await conn.execute(
        delete(account_tokens).where(account_tokens.c.expires_at < func.now() - text("interval '1 day'"))
    )


async def account_token(
    conn: AsyncConnection, *, token_hash: bytes, purpose: str, for_update: bool = False
) -> RowMapping | None:
    """A link of ``purpose`` with its account's identity (locked with ``for_update``: one use wins)."""
    stmt = (
        select(
            account_tokens,
            users.c.email,
            users.c.handle,
            users.c.display_name,
            users.c.is_active,
        )
        .join(users, users.c.id == account_tokens.c.user_id)
        .where(account_tokens.c.token_hash == token_hash, account_tokens.c.purpose == purpose)
    )
    if for_update:
        stmt = stmt.with_for_update(of=account_tokens)
    return (await conn.execute(stmt)).mappings().first()


async def use_account_token(conn: AsyncConnection, *, token_hash: bytes) -> None:
    await conn.execute(
        update(account_tokens).where(account_tokens.c.token_hash == token_hash).values(used_at=func.now())
    )


async def drop_unused_account_tokens(conn: AsyncConnection, *, user_id: int) -> None:
    """Every link of the user not yet followed stops working (a password reset ends them all)."""
    await conn.execute(
        delete(account_tokens).where(account_tokens.c.user_id == user_id, account_tokens.c.used_at.is_(None))
    )


async def password_hash_of(conn: AsyncConnection, *, user_id: int) -> str | None:
    stmt = select(users.c.password_hash).where(users.c.id == user_id)
    value: str | None = (await conn.execute(stmt)).scalar_one_or_none()
    return value


async def reset_password(conn: AsyncConnection, *, user_id: int, password_hash: str) -> RowMapping | None:
    """The new password, and the address verified: whoever followed the mailed link owns it."""
    await conn.execute(delete(email_verifications).where(email_verifications.c.user_id == user_id))
    stmt = (
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, email_verified_at=func.coalesce(users.c.email_verified_at, func.now()))
        .returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


async def change_email(conn: AsyncConnection, *, user_id: int, email: str) -> RowMapping | None:
    """Move the account to ``email``, verified (its link was followed). IntegrityError if taken."""
    await conn.execute(delete(email_verifications).where(email_verifications.c.user_id == user_id))
    stmt = (
        update(users).where(users.c.id == user_id).values(email=email, email_verified_at=func.now()).returning(*USER_ME)
    )
    return (await conn.execute(stmt)).mappings().first()


async def email_taken(conn: AsyncConnection, *, email: str) -> bool:
    return (await conn.execute(select(users.c.id).where(users.c.email == email))).first() is not None


async def user_by_id(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    """The account's row, with the profile card's fields (so every MeOut, sign-ins' too, is whole)."""
    stmt = select(*USER_ME, *USER_PROFILE).where(users.c.id == user_id)
    return (await conn.execute(stmt)).mappings().first()


async def public_user(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    stmt = select(*USER_PUBLIC).where(users.c.id == user_id, users.c.is_active)
    return (await conn.execute(stmt)).mappings().first()


async def public_profile(
    conn: AsyncConnection, *, user_id: int | None = None, handle: str | None = None
) -> RowMapping | None:
    """A profile card's row (the public shape, status and time zone), by id or exact handle."""
    key = users.c.id == user_id if user_id is not None else users.c.handle == handle
    stmt = select(*USER_PUBLIC, *USER_PROFILE).where(key, users.c.is_active)
    return (await conn.execute(stmt)).mappings().first()


async def public_user_by_handle(conn: AsyncConnection, *, handle: str) -> RowMapping | None:
    stmt = select(*USER_PUBLIC).where(users.c.handle == handle, users.c.is_active)
    return (await conn.execute(stmt)).mappings().first()


async def update_profile(conn: AsyncConnection, *, user_id: int, values: dict[str, Any]) -> RowMapping | None:
    stmt = update(users).where(users.c.id == user_id).values(**values).returning(*USER_ME, *USER_PROFILE)
    return (await conn.execute(stmt)).mappings().first()


async def insert_session(
    conn: AsyncConnection,
    *,
    session_id: uuid.UUID,
    user_id: int,
    expires_at: datetime,
    user_agent: str,
    ip: str,
    token_hash: bytes,
    enrol_only: bool = False,
) -> None:
    await conn.execute(
        insert(sessions).values(
            id=session_id,
            user_id=user_id,
            expires_at=expires_at,
            user_agent=user_agent[:256],
            ip=ip,
            enrol_only=enrol_only,
        )
    )
    await conn.execute(insert(refresh_tokens).values(token_hash=token_hash, session_id=session_id))


async def refresh_token_for_update(conn: AsyncConnection, *, token_hash: bytes) -> RowMapping | None:
    stmt = (
        select(
            refresh_tokens.c.session_id,
            refresh_tokens.c.used_at,
            sessions.c.user_id,
            sessions.c.revoked_at,
            sessions.c.expires_at,
            sessions.c.enrol_only,
            users.c.is_active,
        )
        .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
        .join(users, users.c.id == sessions.c.user_id)
        .where(refresh_tokens.c.token_hash == token_hash)
        .with_for_update(of=refresh_tokens)
    )
    return (await conn.execute(stmt)).mappings().first()


async def rotate_refresh_token(
    conn: AsyncConnection, *, old_hash: bytes, new_hash: bytes, session_id: uuid.UUID, expires_at: datetime
) -> None:
    await conn.execute(update(refresh_tokens).where(refresh_tokens.c.token_hash == old_hash).values(used_at=func.now()))
    await conn.execute(insert(refresh_tokens).values(token_hash=new_hash, session_id=session_id))
    await conn.execute(
        update(sessions).where(sessions.c.id == session_id).values(last_used_at=func.now(), expires_at=expires_at)
    )


async def revoke_sessions(
    conn: AsyncConnection, *, user_id: int, session_id: uuid.UUID | None, reason: str
) -> list[uuid.UUID]:
    """Revoke one session of the user (or all when ``session_id`` is None); return those revoked.

    Takes the user's revocation lock first (held until commit), so a send batch reading the
    session either saw it live and commits first, or sees it revoked. A transaction that calls
    this must not take conversation locks after it (a batch holds those while it waits here)."""
    await conn.execute(_LOCK, {"id": user_id})
    stmt = (
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
        .returning(sessions.c.id)
    )
    if session_id is not None:
        stmt = stmt.where(sessions.c.id == session_id)
    return [row[0] for row in await conn.execute(stmt)]


# What access.check_session reads of a session (also read with a history page's own check).
SESSION_STATE = (
    sessions.c.user_id,
    sessions.c.revoked_at,
    sessions.c.expires_at,
    users.c.is_active,
    sessions.c.enrol_only,
)


async def session_state(conn: AsyncConnection, *, session_id: uuid.UUID) -> RowMapping | None:
    stmt = select(*SESSION_STATE).join(users, users.c.id == sessions.c.user_id).where(sessions.c.id == session_id)
    return (await conn.execute(stmt)).mappings().first()


# Sends and revocations of one user are ordered by a transaction-level advisory lock on the user
# (in memory: no row is written, unlike FOR SHARE, which cost a send batch a WAL record per session).
# Two int4 keys: the class 24149 (0x5E55), and the user id folded into int4 (a collision only
# orders two users' sends and revocations needlessly).
def revocation_lock_shared(user_id_sql: str) -> str:
    """The SQL expression that takes one user's revocation lock shared (a send batch folds it
    into its first statement: messages.repository.lock_for_send)."""
    return f"pg_advisory_xact_lock_shared(24149, (({user_id_sql}) % 2147483647)::int)"


_LOCK = text("SELECT pg_advisory_xact_lock(24149, (CAST(:id AS bigint) % 2147483647)::int)")


async def live_session_ids(conn: AsyncConnection, *, session_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these sessions that are live: not revoked, not expired, their account active."""
    stmt = (
        select(sessions.c.id)
        .join(users, users.c.id == sessions.c.user_id)
        .where(
            sessions.c.id == func.any(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > func.now(),
            users.c.is_active,
        )
    )
    return {row[0] for row in await conn.execute(stmt, {"ids": sorted(session_ids)})}


async def list_sessions(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    stmt = (
        select(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > func.now())
        # Personal access tokens are sessions too, listed apart (GET /me/tokens), not as devices.
        .where(sessions.c.kind == "session")
        .order_by(sessions.c.last_used_at.desc())
    )
    return list((await conn.execute(stmt)).mappings())


# --- OIDC sign-in -------------------------------------------------------------------------------


async def insert_oidc_state(
    conn: AsyncConnection,
    *,
    state_hash: bytes,
    provider: str,
    nonce: str,
    code_verifier: str,
    browser_hash: bytes,
    expires_at: datetime,
) -> None:
    # Started sign-ins that were never finished are swept on the way: the table stays small.
    await conn.execute(delete(oidc_login_states).where(oidc_login_states.c.expires_at < func.now()))
    await conn.execute(
        insert(oidc_login_states).values(
            state_hash=state_hash,
            provider=provider,
            nonce=nonce,
            code_verifier=code_verifier,
            browser_hash=browser_hash,
            expires_at=expires_at,
        )
    )


async def take_oidc_state(conn: AsyncConnection, *, state_hash: bytes) -> RowMapping | None:
    """Claim a started sign-in: deleted in the same statement, so a state works once."""
    stmt = delete(oidc_login_states).where(oidc_login_states.c.state_hash == state_hash).returning(oidc_login_states)
    return (await conn.execute(stmt)).mappings().first()


async def user_by_identity(conn: AsyncConnection, *, provider: str, subject: str) -> RowMapping | None:
    stmt = (
        select(*USER_ME)
        .join(oidc_identities, oidc_identities.c.user_id == users.c.id)
        .where(oidc_identities.c.provider == provider, oidc_identities.c.subject == subject)
    )
    return (await conn.execute(stmt)).mappings().first()


async def touch_identity(conn: AsyncConnection, *, provider: str, subject: str, email: str | None) -> None:
    await conn.execute(
        update(oidc_identities)
        .where(oidc_identities.c.provider == provider, oidc_identities.c.subject == subject)
        .values(last_sign_in_at=func.now(), email=email)
    )


async def insert_identity(
    conn: AsyncConnection, *, provider: str, subject: str, user_id: int, email: str | None
) -> bool:
    """Link (provider, subject) to a user; False when a concurrent sign-in linked it first."""
    stmt = (
        pg_insert(oidc_identities)
        .values(provider=provider, subject=subject, user_id=user_id, email=email)
        .on_conflict_do_nothing()
        .returning(oidc_identities.c.user_id)
    )
    return (await conn.execute(stmt)).first() is not None


async def insert_handoff(conn: AsyncConnection, *, code_hash: bytes, user_id: int, expires_at: datetime) -> None:
    await conn.execute(delete(oidc_handoffs).where(oidc_handoffs.c.expires_at < func.now()))
    await conn.execute(insert(oidc_handoffs).values(code_hash=code_hash, user_id=user_id, expires_at=expires_at))


async def take_handoff(conn: AsyncConnection, *, code_hash: bytes) -> RowMapping | None:
    stmt = delete(oidc_handoffs).where(oidc_handoffs.c.code_hash == code_hash).returning(oidc_handoffs)
    return (await conn.execute(stmt)).mappings().first()


async def set_admin(conn: AsyncConnection, *, user_id: int, is_admin: bool) -> RowMapping | None:
    stmt = update(users).where(users.c.id == user_id).values(is_admin=is_admin).returning(*USER_ME)
    return (await conn.execute(stmt)).mappings().first()


# --- two-factor authentication and passkeys -------------------------------------------------------


async def second_factors(conn: AsyncConnection, *, user_id: int) -> RowMapping:
    """Whether the user has a confirmed TOTP, how many unused recovery codes and how many passkeys."""
    stmt = select(
        select(totp_secrets.c.user_id)
        .where(totp_secrets.c.user_id == user_id, totp_secrets.c.confirmed_at.is_not(None))
        .exists()
        .label("totp"),
        select(func.count())
        .select_from(recovery_codes)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        .scalar_subquery()
        .label("recovery_codes_left"),
        select(func.count())
        .select_from(passkeys)
        .where(passkeys.c.user_id == user_id)
        .scalar_subquery()
        .label("passkeys"),
    )
    row = (await conn.execute(stmt)).mappings().first()
    assert row is not None
    return row


async def totp_for_update(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    stmt = select(totp_secrets).where(totp_secrets.c.user_id == user_id).with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def put_pending_totp(conn: AsyncConnection, *, user_id: int, secret_enc: bytes) -> None:
    """A new unconfirmed secret, replacing an unconfirmed one (never a confirmed one)."""
    stmt = pg_insert(totp_secrets).values(user_id=user_id, secret_enc=secret_enc)
    stmt = stmt.on_conflict_do_update(
        index_elements=[totp_secrets.c.user_id],
        set_={"secret_enc": secret_enc, "created_at": func.now(), "last_step": None},
        where=totp_secrets.c.confirmed_at.is_(None),
    )
    await conn.execute(stmt)


async def confirm_totp(conn: AsyncConnection, *, user_id: int, step: int) -> None:
    await conn.execute(
        update(totp_secrets).where(totp_secrets.c.user_id == user_id).values(confirmed_at=func.now(), last_step=step)
    )


async def set_totp_step(conn: AsyncConnection, *, user_id: int, step: int) -> None:
    await conn.execute(update(totp_secrets).where(totp_secrets.c.user_id == user_id).values(last_step=step))


async def delete_totp(conn: AsyncConnection, *, user_id: int) -> None:
    await conn.execute(delete(totp_secrets).where(totp_secrets.c.user_id == user_id))
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


async def replace_recovery_codes(conn: AsyncConnection, *, user_id: int, code_hashes: Sequence[bytes]) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await conn.execute(insert(recovery_codes), [{"user_id": user_id, "code_hash": h} for h in code_hashes])


async def use_recovery_code(conn: AsyncConnection, *, user_id: int, code_hash: bytes) -> bool:
    """Mark an unused code used; False when it is unknown or was used already (atomic)."""
    stmt = (
        update(recovery_codes)
        .where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(recovery_codes.c.user_id)
    )
    return (await conn.execute(stmt)).first() is not None


async def clear_enrol_only(conn: AsyncConnection, *, user_id: int) -> None:
    await conn.execute(
        update(sessions).where(sessions.c.user_id == user_id, sessions.c.enrol_only).values(enrol_only=False)
    )


async def insert_challenge(
    conn: AsyncConnection,
    *,
    token_hash: bytes,
    purpose: str,
    user_id: int | None,
    expires_at: datetime,
    webauthn_challenge: bytes | None = None,
) -> None:
    await conn.execute(delete(auth_challenges).where(auth_challenges.c.expires_at < func.now()))
    await conn.execute(
        insert(auth_challenges).values(
            token_hash=token_hash,
            purpose=purpose,
            user_id=user_id,
            expires_at=expires_at,
            webauthn_challenge=webauthn_challenge,
        )
    )


async def challenge_for_update(conn: AsyncConnection, *, token_hash: bytes, purpose: str) -> RowMapping | None:
    stmt = (
        select(auth_challenges)
        .where(auth_challenges.c.token_hash == token_hash, auth_challenges.c.purpose == purpose)
        .with_for_update()
    )
    return (await conn.execute(stmt)).mappings().first()


async def set_challenge_webauthn(conn: AsyncConnection, *, token_hash: bytes, webauthn_challenge: bytes) -> None:
    await conn.execute(
        update(auth_challenges)
        .where(auth_challenges.c.token_hash == token_hash)
        .values(webauthn_challenge=webauthn_challenge)
    )


async def count_challenge_failure(conn: AsyncConnection, *, token_hash: bytes) -> int:
    stmt = (
        update(auth_challenges)
        .where(auth_challenges.c.token_hash == token_hash)
        .values(attempts=auth_challenges.c.attempts + 1)
        .returning(auth_challenges.c.attempts)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def delete_challenge(conn: AsyncConnection, *, token_hash: bytes) -> None:
    await conn.execute(delete(auth_challenges).where(auth_challenges.c.token_hash == token_hash))


async def list_passkeys(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    stmt = select(passkeys).where(passkeys.c.user_id == user_id).order_by(passkeys.c.created_at)
    return list((await conn.execute(stmt)).mappings())


async def passkey(conn: AsyncConnection, *, credential_id: bytes) -> RowMapping | None:
    stmt = select(passkeys).where(passkeys.c.credential_id == credential_id).with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def insert_passkey(
    conn: AsyncConnection,
    *,
    credential_id: bytes,
    user_id: int,
    public_key: bytes,
    sign_count: int,
    name: str,
    transports: Sequence[str],
) -> RowMapping | None:
    stmt = (
        pg_insert(passkeys)
        .values(
            credential_id=credential_id,
            user_id=user_id,
            public_key=public_key,
            sign_count=sign_count,
            name=name,
            transports=list(transports),
        )
        .on_conflict_do_nothing()
        .returning(*passkeys.c)
    )
    return (await conn.execute(stmt)).mappings().first()


async def use_passkey(conn: AsyncConnection, *, credential_id: bytes, sign_count: int) -> None:
    await conn.execute(
        update(passkeys)
        .where(passkeys.c.credential_id == credential_id)
        .values(sign_count=sign_count, last_used_at=func.now())
    )


async def delete_passkey(conn: AsyncConnection, *, user_id: int, credential_id: bytes) -> bool:
    stmt = (
        delete(passkeys)
        .where(passkeys.c.user_id == user_id, passkeys.c.credential_id == credential_id)
        .returning(passkeys.c.credential_id)
    )
    return (await conn.execute(stmt)).first() is not None
