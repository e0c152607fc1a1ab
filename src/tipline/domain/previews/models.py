"""Link preview tables: the queue of messages whose links are still to be fetched, and the
previews attached to messages (docs/subsystems/previews.md)."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

from tipline.storage.meta import metadata

# One row per new message with links, made by the worker's scan (never by the send path) and
# deleted once its links were tried. ``lease_until`` is set while a node fetches them: a node
# that dies mid-way leaves the row to be taken again when the lease ends.
link_preview_jobs = Table(
    "link_preview_jobs",
    metadata,
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("conversation_id", BigInteger, nullable=False),
    Column("urls", ARRAY(Text), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A preview shown under a message: what the linked page says about itself, and its image
# stored in Tipline's object store (``image_key``), never the third party's URL.
link_previews = Table(
    "link_previews",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    # The link's place among the message's links: previews show in the order the links were written.
    Column("position", SmallInteger, nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("site_name", Text, nullable=True),
    Column("image_key", Text, nullable=True),
    Column("image_width", Integer, nullable=True),
    Column("image_height", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("message_id", "position"),
    Index("ix_link_previews_message_id", "message_id"),
)
