"""The mail outbox: every mail Tipline sends, written in the transaction of the action that causes it."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB

from tipline.storage.meta import metadata

# A row is sent at least once: the worker leases it (next_attempt_at moves past the send's
# timeout) before talking to the SMTP server, so a node that dies mid-send leaves it due again.
# sent_at is set once the server has taken it; next_attempt_at NULL with no sent_at means the
# server refused it for good (last_error says why).
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("to", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    # Extra headers, e.g. List-Unsubscribe on notification digests (docs/subsystems/notifications.md).
    Column("headers", JSONB, nullable=True),
    Index(
        "ix_mail_outbox_due",
        "next_attempt_at",
        postgresql_where=text("sent_at IS NULL AND next_attempt_at IS NOT NULL"),
    ),
)
