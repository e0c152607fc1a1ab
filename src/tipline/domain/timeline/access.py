"""Audited checks for pins (who may pin) on top of the messages' and conversations' checks."""

from __future__ import annotations

from tipline.domain.conversations.access import MANAGERS, ConversationAccess
from tipline.errors import Forbidden

CHANNELS = frozenset({"public", "private"})


def require_may_pin(access: ConversationAccess) -> None:
    """Any member pins in a direct conversation or a group; in a channel, owners and admins."""
    if access.conversation["kind"] not in CHANNELS:
        return
    if access.role in MANAGERS:
        return
    raise Forbidden("only the channel's owners and admins can pin messages", code="not_an_admin")
