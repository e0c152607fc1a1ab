"""What a personal access token's scopes allow: every HTTP route a token may call, and the scope it needs.

A route that is not listed here refuses tokens (403 ``insufficient_scope``): a new route is
closed to tokens until someone decides which scope covers it. Managing tokens, bots, sessions,
passwords, wallets, tips that move money, moderation and administration are never open to a
token. docs/subsystems/integrations.md has this table for people.
"""

from __future__ import annotations

from typing import Final, Literal

Scope = Literal["messages:read", "messages:write", "conversations:read", "conversations:write", "tips:read"]
SCOPES: Final[tuple[Scope, ...]] = (
    "messages:read",
    "messages:write",
    "conversations:read",
    "conversations:write",
    "tips:read",
)
ANY: Final = ""  # any live token may call the route (who am I)

# (method, route path) -> the scope it needs.
ROUTE_SCOPES: Final[dict[tuple[str, str], str]] = {
    ("GET", "/me"): ANY,
    # messages:read: history, single messages, threads, search, attachments, the read marker
    ("GET", "/conversations/{conversation_id}/messages"): "messages:read",
    ("GET", "/conversations/{conversation_id}/events"): "messages:read",
    ("GET", "/messages/{message_id}"): "messages:read",
    ("GET", "/messages/{message_id}/replies"): "messages:read",
    ("GET", "/search/messages"): "messages:read",
    ("GET", "/media/attachments/{upload_id}"): "messages:read",
    ("GET", "/media/attachments/{upload_id}/url"): "messages:read",
    ("POST", "/conversations/{conversation_id}/read"): "messages:read",
    ("GET", "/messages/{message_id}/thread"): "messages:read",
    ("PUT", "/messages/{message_id}/thread/follow"): "messages:read",
    ("DELETE", "/messages/{message_id}/thread/follow"): "messages:read",
    ("POST", "/messages/{message_id}/thread/read"): "messages:read",
    ("GET", "/threads"): "messages:read",
    ("GET", "/messages/{message_id}/revisions"): "messages:read",
    ("GET", "/conversations/{conversation_id}/pins"): "messages:read",
    ("GET", "/conversations/{conversation_id}/receipts"): "messages:read",
    # messages:write: send, edit, delete, react, upload an attachment
    ("POST", "/conversations/{conversation_id}/messages"): "messages:write",
    ("PATCH", "/messages/{message_id}"): "messages:write",
    ("DELETE", "/messages/{message_id}"): "messages:write",
    ("PUT", "/messages/{message_id}/reactions/{emoji}"): "messages:write",
    ("DELETE", "/messages/{message_id}/reactions/{emoji}"): "messages:write",
    ("POST", "/media/uploads"): "messages:write",
    ("POST", "/media/uploads/{upload_id}/complete"): "messages:write",
    ("PUT", "/messages/{message_id}/pin"): "messages:write",
    ("DELETE", "/messages/{message_id}/pin"): "messages:write",
    # conversations:read: conversations, members, people, presence
    ("GET", "/conversations"): "conversations:read",
    ("GET", "/conversations/public"): "conversations:read",
    ("GET", "/conversations/{conversation_id}"): "conversations:read",
    ("GET", "/conversations/{conversation_id}/members"): "conversations:read",
    ("GET", "/search/channels"): "conversations:read",
    ("GET", "/search/users"): "conversations:read",
    ("GET", "/users"): "conversations:read",
    ("GET", "/users/{user_id}"): "conversations:read",
    ("GET", "/users/{user_id}/avatar"): "conversations:read",
    ("GET", "/presence"): "conversations:read",
    # conversations:write: create, rename, archive, join, leave, manage members
    ("POST", "/conversations"): "conversations:write",
    ("POST", "/conversations/direct"): "conversations:write",
    ("PATCH", "/conversations/{conversation_id}"): "conversations:write",
    ("POST", "/conversations/{conversation_id}/archive"): "conversations:write",
    ("POST", "/conversations/{conversation_id}/unarchive"): "conversations:write",
    ("POST", "/conversations/{conversation_id}/join"): "conversations:write",
    ("POST", "/conversations/{conversation_id}/leave"): "conversations:write",
    ("POST", "/conversations/{conversation_id}/members"): "conversations:write",
    ("DELETE", "/conversations/{conversation_id}/members/{user_id}"): "conversations:write",
    ("PATCH", "/conversations/{conversation_id}/members/{user_id}"): "conversations:write",
    # tips:read: tips received and sent, per message and per conversation
    ("GET", "/tips/config"): "tips:read",
    ("GET", "/tips/intents/{intent_id}"): "tips:read",
    ("GET", "/tips/mine"): "tips:read",
    ("GET", "/tips/mine.csv"): "tips:read",
    ("GET", "/messages/{message_id}/tips"): "tips:read",
    ("GET", "/conversations/{conversation_id}/tips/leaderboard"): "tips:read",
    ("GET", "/conversations/{conversation_id}/tips/recipients/{user_id}"): "tips:read",
}

# Over the WebSocket: opening a socket (and so receiving events, replays and the read marker)
# needs messages:read; the frames that act (send, typing) need messages:write.
WS_CONNECT: Final = "messages:read"
WS_SEND: Final = "messages:write"
