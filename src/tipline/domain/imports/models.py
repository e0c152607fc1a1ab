"""Import tables: what each imported user and conversation became (docs/subsystems/import.md).

Messages need no row here: an imported message's ``client_msg_id`` is derived from its source
key, and ``UNIQUE (conversation_id, sender_id, client_msg_id)`` on messages already makes it
the mapping, at no extra write per message.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from tipline.storage.meta import metadata

# (source, kind, key) -> Tipline id. ``key`` is the export's own identifier (a Slack user or
# channel id; a Mattermost username, "team/channel", or the sorted members of a direct channel).
# A row is written in the transaction that creates (or matches) its target, so a crash leaves
# either both or neither, and the next run finds where it stopped.
import_map = Table(
    "import_map",
    metadata,
    Column("source", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("target_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("source", "kind", "key"),
    CheckConstraint("source IN ('slack','mattermost')", name="source"),
    CheckConstraint("kind IN ('user','conversation')", name="kind"),
)

# One row per `tipline import` run, for the admin console's progress view. Written in short
# transactions of their own (at the start, after users and conversations, after each batch of
# messages, at the end), never in the batches' transactions: a failed batch still leaves its run.
import_runs = Table(
    "import_runs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="running"),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    # Messages read from the export so far, and how many it holds (null until validated).
    Column("processed", BigInteger, nullable=False, server_default="0"),
    Column("total", BigInteger),
    # Summary.as_dict(): {"created": {kind: n}, "matched": {...}, "skipped": {reason: n}, "notes": {...}}
    Column("counts", JSONB, nullable=False, server_default="{}"),
    Column("last_error", Text),
    CheckConstraint("source IN ('slack','mattermost')", name="source"),
    CheckConstraint("state IN ('running','done','failed')", name="state"),
    Index("ix_import_runs_started_at", "started_at"),
)
