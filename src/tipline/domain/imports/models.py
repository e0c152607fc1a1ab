"""Import tables: what each imported user and conversation became (docs/subsystems/import.md).

Messages need no row here: an imported message's ``client_msg_id`` is derived from its source
key, and ``UNIQUE (conversation_id, sender_id, client_msg_id)`` on messages already makes it
the mapping, at no extra write per message.
"""

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, PrimaryKeyConstraint, Table, Text, func

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
