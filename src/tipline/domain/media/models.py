"""Media tables: uploads (attachments, and avatar sources while they are processed) and avatars."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from tipline.storage.meta import metadata

# One row per object a user asked to upload. It is `pending` until the object exists and
# matched what was declared, `ready` after, and `deleted` while its objects are being removed
# (the cleaner retries those), so storage and this table never silently drift apart.
# `key` is where the browser uploads (a presigned POST names it, and stays valid for a while);
# `object_key` is the copy Tipline checked, under a key no upload policy covers: the only one
# served, so no later POST can change what members download.
uploads = Table(
    "uploads",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    Column("position", Integer, nullable=False, server_default=text("0")),
    Column("key", Text, nullable=False, unique=True),
    # Recorded before the copy is made, so that removing the row removes it whatever happened.
    Column("object_key", Text, nullable=True),
    Column("filename", Text, nullable=False),
    Column("declared_type", Text, nullable=False),
    Column("declared_size", BigInteger, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    # Known once completed: the type sniffed from the bytes, the stored size, what it is.
    Column("content_type", Text, nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("kind", Text, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("thumb_key", Text, nullable=True),
    Column("thumb_width", Integer, nullable=True),
    Column("thumb_height", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("purpose IN ('attachment','avatar')", name="purpose"),
    CheckConstraint("status IN ('pending','ready','deleted')", name="status"),
    CheckConstraint("kind IN ('image','audio','video','file')", name="kind"),
    Index("ix_uploads_message_id", "message_id"),
    Index("ix_uploads_orphans", "created_at", postgresql_where=text("message_id IS NULL")),
)

avatars = Table(
    "avatars",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
