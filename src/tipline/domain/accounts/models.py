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
    LargeBinary,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

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
