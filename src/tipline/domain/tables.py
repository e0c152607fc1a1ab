"""Imports every domain's tables so the shared MetaData is complete (for Alembic and tests)."""

from tipline.domain.accounts.models import refresh_tokens, sessions, users
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.media.models import avatars, uploads
from tipline.domain.messages.models import messages, reactions

__all__ = [
    "avatars",
    "conversation_events",
    "conversations",
    "members",
    "messages",
    "reactions",
    "refresh_tokens",
    "sessions",
    "uploads",
    "users",
]
