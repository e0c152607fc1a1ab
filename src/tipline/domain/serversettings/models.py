"""Server settings tables: the one row of runtime settings, invite links and custom emoji.

See docs/subsystems/admin.md (Server settings)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from tipline.storage.meta import metadata

# Exactly one row (id 1), made by the migration. NULL retention means "forever"; a NULL upload
# limit means "the environment's ceiling" (docs/subsystems/admin.md, Which setting wins).
server_settings = Table(
    "server_settings",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("signup_mode", Text, nullable=False, server_default="open"),
    Column("allowed_email_domains", ARRAY(Text), nullable=False, server_default="{}"),
    Column("retention_direct_days", Integer, nullable=True),
    Column("retention_group_days", Integer, nullable=True),
    Column("retention_public_days", Integer, nullable=True),
    Column("retention_private_days", Integer, nullable=True),
    Column("upload_max_bytes", BigInteger, nullable=True),
    Column("upload_allowed_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    CheckConstraint("id = 1", name="one_row"),
    CheckConstraint("signup_mode IN ('open','invite_only','closed')", name="signup_mode"),
)

# An invite's code is 128 random bits shown once; only its SHA-256 is kept (and a short hint
# so admins can tell invites apart). ``uses`` only grows, in the sign-up's own transaction.
invites = Table(
    "invites",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("code_hash", LargeBinary, nullable=False, unique=True),
    Column("hint", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("max_uses", Integer, nullable=True),
    Column("uses", Integer, nullable=False, server_default=text("0")),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("max_uses IS NULL OR max_uses >= 1", name="max_uses"),
    CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses"),
)

custom_emoji = Table(
    "custom_emoji",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("key", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
