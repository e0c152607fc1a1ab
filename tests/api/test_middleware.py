"""TrustedHops: the client address behind proxies whose addresses are not fixed (an AWS ALB). The
attack through a real proxy is tests/integration/test_cluster.py; these are the header forms."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from tipline.api.middleware import TrustedHops

PEER = ("10.0.3.7", 41000)  # the load balancer's end of the connection


async def seen(hops: int, *headers: tuple[str, str], kind: str = "http") -> dict[str, Any]:
    got: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.update(client=scope["client"], scheme=scope["scheme"])

    scope = {
        "type": kind,
        "client": PEER,
        "scheme": "http" if kind == "http" else "ws",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        pass

    await TrustedHops(app, hops=hops)(scope, receive, send)
    return got


@pytest.mark.parametrize(
    ("hops", "headers", "client"),
    [
        # What the client wrote comes first; the load balancer's entry is the last.
        (1, [("X-Forwarded-For", "203.0.113.9, 198.51.100.1, 192.0.2.44")], "192.0.2.44"),
        # Several header lines are one list, in order.
        (1, [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "192.0.2.44")], "192.0.2.44"),
        # CloudFront in front of the ALB (Tipline on AWS): two hops, the entry CloudFront appended.
        (2, [("X-Forwarded-For", "203.0.113.9, 192.0.2.44, 198.51.100.1")], "192.0.2.44"),
        (1, [("X-Forwarded-For", "2001:DB8::1")], "2001:db8::1"),
        (1, [("X-Forwarded-For", "[2001:db8::1]:443")], "2001:db8::1"),
        (1, [("X-Forwarded-For", "192.0.2.44:5123")], "192.0.2.44"),
        # Not through every trusted proxy, or not an address: the socket peer stays.
        (2, [("X-Forwarded-For", "203.0.113.9")], PEER[0]),
        (1, [("X-Forwarded-For", "203.0.113.9, unknown")], PEER[0]),
        (1, [], PEER[0]),
    ],
)
async def test_the_client_is_the_entry_the_outermost_trusted_proxy_appended(
    hops: int, headers: list[tuple[str, str]], client: str
) -> None:
    assert (await seen(hops, *headers))["client"][0] == client


async def test_the_scheme_is_the_sockets() -> None:
    # Proxies overwrite X-Forwarded-Proto instead of appending: no hop count can vouch for it.
    assert (await seen(1, ("X-Forwarded-Proto", "https")))["scheme"] == "http"
