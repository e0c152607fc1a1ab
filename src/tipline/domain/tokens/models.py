"""The token beside its session: a personal access token is a ``sessions`` row of kind "token"."""

from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, Table, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from tipline.storage.meta import metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("session_id", UUID(as_uuid=True), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    # SHA-256 of the secret: the secret is 256 random bits, so a fast hash is enough and a
    # database leak reveals no usable token.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    # Who made it: the user themselves, or the owner of the bot it belongs to.
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)
