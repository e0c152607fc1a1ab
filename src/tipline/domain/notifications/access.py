"""The audited checks of notifications: who may use @here / @channel, which push endpoints the
server will call, and the one-click unsubscribe token. See docs/subsystems/notifications.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.access import MANAGERS
from tipline.domain.messages.schemas import SendRequest
from tipline.domain.notifications import repository as repo
from tipline.domain.notifications.schemas import mentions_all
from tipline.errors import DomainError, Forbidden, Invalid

UNSUBSCRIBE_PURPOSE = b"tipline/notifications/unsubscribe-email/v1:"


def mention_all_refusal(
    used: set[str], *, member_count: int, role: str | None, is_admin: bool, limit: int
) -> DomainError | None:
    """@here / @channel: any member up to ``limit`` members; above, the conversation's owners and
    admins (and server admins) only."""
    if not used:
        return None
    if member_count <= limit:
        return None
    if role in MANAGERS or is_admin:
        return None
    which = " and ".join(f"@{w}" for w in sorted(used))
    return Forbidden(
        f"{which} notifies everyone: in conversations of more than {limit} members only their owners and "
        "admins may use it",
        code="mention_all_forbidden",
    )


async def mention_all_refusals(
    conn: AsyncConnection, sends: Sequence[SendRequest], *, limit: int
) -> dict[tuple[int, int, str], DomainError]:
    """For a send batch (its members' sends): the sends whose @here / @channel is refused.
    Costs a query only when a send uses one."""
    using = [(s, used) for s in sends if (used := mentions_all(s.body))]
    if not using:
        return {}
    facts = await repo.mention_all_facts(conn, pairs={(s.conversation_id, s.user_id) for s, _ in using})
    out: dict[tuple[int, int, str], DomainError] = {}
    for send, used in using:
        count, role, is_admin = facts.get((send.conversation_id, send.user_id), (0, None, False))
        refusal = mention_all_refusal(used, member_count=count, role=role, is_admin=is_admin, limit=limit)
        if refusal is not None:
            out[send.key] = refusal
    return out


def check_endpoint_url(endpoint: str, *, allowed_private: list[str]) -> str:
    """A push endpoint must be an https URL with a host and no credentials (checked on subscribe);
    plain http only for an allow-listed host (a test's local push service)."""
    parts = urlsplit(endpoint)
    scheme_ok = parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in allowed_private)
    if not scheme_ok or not parts.hostname or parts.username or parts.password:
        raise Invalid("a push endpoint is an https URL of a push service", code="bad_push_endpoint")
    return endpoint


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


def endpoint_refusal(endpoint: str, *, allowed_private: list[str]) -> str | None:
    """Why the server will not call this endpoint now, or None.

    Every address the host resolves to must be public unless the host is allow-listed
    (PUSH_ALLOWED_PRIVATE_HOSTS, for tests): push endpoints are browser vendors' services, never
    something inside our network. Blocking; call it in a thread.
    """
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and host not in allowed_private:
        return "not https"
    if host in allowed_private:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    if not infos or any(_private(str(info[4][0])) for info in infos):
        return f"{host} resolves to a private or loopback address"
    return None


def unsubscribe_token(key: bytes, user_id: int) -> str:
    """A value that can do one thing: turn off email notifications for this user. Derived from the
    server's key with a purpose prefix, so it is useless as (and cannot be made from) any other token."""
    mac = hmac.new(key, UNSUBSCRIBE_PURPOSE + str(user_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def check_unsubscribe_token(key: bytes, user_id: int, token: str) -> None:
    if not hmac.compare_digest(unsubscribe_token(key, user_id), token):
        raise Forbidden("this unsubscribe link is not valid", code="bad_unsubscribe_link")
