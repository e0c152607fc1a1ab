"""Imports every domain's tables so the shared MetaData is complete (for Alembic and tests)."""

from tipline.domain.accounts.models import refresh_tokens, sessions, users
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks, reports

__all__ = [
    "blocks",
    "conversation_events",
    "conversations",
    "members",
    "messages",
    "reactions",
    "refresh_tokens",
    "reports",
    "sessions",
    "users",
]
