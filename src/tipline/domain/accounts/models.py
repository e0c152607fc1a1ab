"""Account tables: users, sessions (one per signed-in device) and their refresh tokens."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from tipline.storage.meta import metadata

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # Stored lower-cased; the unique index makes sign-up race-free.
    Column("email", Text, nullable=True, unique=True),
    Column("password_hash", Text, nullable=True),
    Column("handle", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # NULL while a password sign-up waits for its verification link (EMAIL_VERIFICATION);
    # such an account cannot sign in.
    Column("email_verified_at", DateTime(timezone=True), nullable=True),
    # Bot accounts (migration 0016, docs/subsystems/integrations.md): no password, owned by a person.
    Column("is_bot", Boolean, nullable=False, server_default=text("false")),
    Column("owner_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("bot_description", Text, nullable=False, server_default=""),
    # The profile card's status and local time (migration 0026): an expired status is never answered.
    Column("status_text", Text, nullable=True),
    Column("status_emoji", Text, nullable=True),
    Column("status_expires_at", DateTime(timezone=True), nullable=True),
    Column("timezone", Text, nullable=True),  # an IANA name checked against zoneinfo
    CheckConstraint("is_bot OR owner_id IS NULL", name="bot_owner"),
    Index("ix_users_owner_id", "owner_id", postgresql_where=text("owner_id IS NOT NULL")),
)

# A verification link's token, stored as its SHA-256: single use (deleted when taken) and expiring.
email_verifications = Table(
    "email_verifications",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_email_verifications_user_id", "user_id"),
)

# A password reset link or a new address's confirmation link (migration 0013): stored as its
# SHA-256, expiring, and marked used rather than deleted, so a second use is told apart from a
# made-up token. ``new_email`` is the address an email change moves to.
account_tokens = Table(
    "account_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("new_email", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "(purpose = 'password_reset' AND new_email IS NULL) OR (purpose = 'email_change' AND new_email IS NOT NULL)",
        name="purpose",  # ck_account_tokens_purpose, by the naming convention (storage/meta.py)
    ),
    Index("ix_account_tokens_user_id", "user_id"),
)

# A password reset or verification resend asked for an address (migration 0027): stored and
# answered the same for every address, and settled by the accounts worker (accounts/worker.py),
# so the answer's time tells nothing about the address.
address_requests = Table(
    "address_requests",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('password_reset', 'resend_verification')", name="kind"),
)

# A session is a refresh-token family: rotating its token keeps the session; reusing an
# already-rotated token revokes the whole session (the family).
sessions = Table(
    "sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Column("user_agent", Text, nullable=False, server_default=""),
    Column("ip", Text, nullable=False, server_default=""),
    # REQUIRE_2FA (migration 0015): a session of an account that must have a second factor and has
    # none may only enrol one (and read /me, sign out); cleared for the account once it has one.
    Column("enrol_only", Boolean, nullable=False, server_default=text("false")),
    # "token": a personal access token (api_tokens, migration 0016), a session so that revocation,
    # expiry and every session check apply to it unchanged.
    Column("kind", Text, nullable=False, server_default="session"),
    CheckConstraint("kind IN ('session','token')", name="kind"),
    Index("ix_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    # SHA-256 of the token: a database leak reveals no usable token.
    Column("token_hash", LargeBinary, primary_key=True),
    Column("session_id", UUID(as_uuid=True), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Index("ix_refresh_tokens_session_id", "session_id"),
)

# --- OIDC sign-in -------------------------------------------------------------------------------

# A started sign-in: single use (deleted when the callback claims it), short-lived, and bound to
# the browser that started it by a cookie whose hash is kept here.
oidc_login_states = Table(
    "oidc_login_states",
    metadata,
    Column("state_hash", LargeBinary, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("browser_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_oidc_login_states_expires_at", "expires_at"),
)

# Who a provider says a user is: (provider, subject) is stable, an email address is not.
oidc_identities = Table(
    "oidc_identities",
    metadata,
    Column("provider", Text, primary_key=True),
    Column("subject", Text, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("email", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_oidc_identities_user_id", "user_id"),
)

# The hand-off from the callback to the web client: a one-time code (hashed here) carried by an
# HttpOnly cookie and exchanged once, by POST, for a normal session.
oidc_handoffs = Table(
    "oidc_handoffs",
    metadata,
    Column("code_hash", LargeBinary, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# --- two-factor authentication and passkeys (migration 0015) --------------------------------------

# A TOTP secret, AES-GCM encrypted with a key derived from JWT_SECRET (a database leak alone does
# not reveal it). ``confirmed_at`` is NULL while enrolment waits for a first code; ``last_step`` is
# the last 30-second step accepted, so a code is accepted at most once.
totp_secrets = Table(
    "totp_secrets",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("last_step", BigInteger, nullable=True),
)

# Single-use recovery codes, stored as HMAC-SHA256 under a key derived from JWT_SECRET.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", LargeBinary, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

# A WebAuthn credential (passkey): its id, COSE public key and signature counter.
passkeys = Table(
    "passkeys",
    metadata,
    Column("credential_id", LargeBinary, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False, server_default=text("0")),
    Column("name", Text, nullable=False),
    Column("transports", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Index("ix_passkeys_user_id", "user_id"),
)

# A short-lived, single-use challenge: the second step of a sign-in (``second_factor``, with its
# failed ``attempts`` counted), or a passkey ceremony (``passkey_register``, ``passkey_signin``)
# with the WebAuthn challenge bytes the browser must sign. Only the token's SHA-256 is stored.
auth_challenges = Table(
    "auth_challenges",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("purpose", Text, nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("webauthn_challenge", LargeBinary, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("purpose IN ('second_factor','passkey_register','passkey_signin')", name="purpose"),
    Index("ix_auth_challenges_expires_at", "expires_at"),
)
