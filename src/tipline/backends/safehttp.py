"""The outbound HTTP guard: every server-side request to a URL a user gave goes through ``fetch``.

A URL someone types (a slash command's, an outgoing webhook's, a link to preview) must not turn
the server into a proxy into its own network. ``fetch``:

* accepts only ``http`` and ``https`` URLs, without user names or passwords in them;
* resolves the host itself and refuses it if **any** address it resolves to is loopback,
  private (RFC 1918, IPv6 ULA), link-local, shared (CGNAT, 100.64.0.0/10), multicast,
  unspecified, reserved, or a cloud metadata address (169.254.169.254, fd00:ec2::254); an IPv6
  address that embeds an IPv4 one (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``) is judged by it;
* connects to the address it checked (the URL's host is replaced by the address; the Host header
  and TLS server name stay the host's, so certificates are verified against the name): there is
  no second lookup an attacker's DNS could answer differently;
* follows redirects itself, at most ``MAX_REDIRECTS``, checking each hop the same way;
* caps the response body (``max_bytes``) and the whole exchange, redirects included
  (``timeout_s``); sends no cookies and keeps none; ignores proxy environment variables.

``OUTBOUND_ALLOW`` (settings) lists host names and networks that are exempt: a test's endpoint on
127.0.0.1, an intranet integration. See docs/security.md ("Outbound requests") and
docs/subsystems/integrations.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from tipline.config import Settings

__all__ = ["MAX_REDIRECTS", "FetchFailed", "RefusedAddress", "SafeResponse", "check_address", "fetch", "parse_allow"]

MAX_REDIRECTS = 3
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchFailed(Exception):
    """The request could not be made or completed; ``reason`` is safe to show to the URL's owner."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RefusedAddress(FetchFailed):
    """The URL (or a redirect) leads to an address the guard refuses."""


@dataclass(frozen=True)
class SafeResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # the URL that answered, after redirects


def parse_allow(entries: Sequence[str]) -> tuple[frozenset[str], tuple[IpNetwork, ...]]:
    """``OUTBOUND_ALLOW`` entries: host names (exact, case-insensitive) and networks (CIDR or one address)."""
    hosts: set[str] = set()
    nets: list[IpNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return frozenset(hosts), tuple(nets)


def _category(address: IpAddress) -> str | None:
    """Why ``address`` is refused (None: it is public)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None
        )
        if embedded is not None:
            return _category(embedded)
    checks = (
        (address in METADATA, "a cloud metadata address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((why for refused, why in checks if refused), None)


def check_address(address: IpAddress, *, host: str, settings: Settings) -> None:
    """Raise ``RefusedAddress`` unless ``address`` (resolved from ``host``) may be reached."""
    hosts, nets = parse_allow(settings.outbound_allow)
    if host.lower() in hosts or any(address in net for net in nets):
        return
    why = _category(address)
    if why is not None:
        raise RefusedAddress(
            f"refused: {host} resolves to {address}, {why} (allow it with OUTBOUND_ALLOW if it is meant to be reached)"
        )


async def _resolve(host: str, port: int, *, settings: Settings) -> IpAddress:
    """The address to connect to: every address of ``host`` checked, the first one used."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FetchFailed(f"{host} does not resolve") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addresses:
            raise FetchFailed(f"{host} does not resolve")
    for address in addresses:  # one bad address refuses the host: DNS may rotate them
        check_address(address, host=host, settings=settings)
    # IPv4 first: many servers have no IPv6 route, and there is one connection attempt.
    return min(addresses, key=lambda a: a.version)


async def _pinned(url: str, *, settings: Settings) -> tuple[str, str, str]:
    """``url`` with its host replaced by the checked address; also the Host header and TLS name."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchFailed("only http and https URLs can be fetched")
    if not parts.hostname:
        raise FetchFailed("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchFailed("URLs with credentials in them are not fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchFailed("the URL's port is invalid") from exc
    host = parts.hostname
    address = await _resolve(host, port, settings=settings)
    shown = f"[{address}]" if address.version == 6 else str(address)
    default_port = parts.port is None
    netloc = shown if default_port else f"{shown}:{port}"
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header, host


async def _one(
    client: httpx.AsyncClient,
    url: str,
    *,
    method: str,
    body: bytes | None,
    headers: Mapping[str, str],
    max_bytes: int,
    settings: Settings,
) -> tuple[httpx.Response, bytes]:
    target, host_header, server_name = await _pinned(url, settings=settings)
    request = client.build_request(
        method,
        target,
        content=body,
        headers={**headers, "Host": host_header},
        extensions={"sni_hostname": server_name},
    )
    response = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        if not response.is_redirect:
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(f"the response is larger than {max_bytes} bytes", status=response.status_code)
                chunks.append(chunk)
    finally:
        await response.aclose()
    return response, b"".join(chunks)


async def fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    timeout_s: float,
    settings: Settings,
) -> SafeResponse:
    """Make one request to a user-given URL through the guard.

    Any status is returned as a ``SafeResponse`` (a 500 is an answer, not an error); raises
    ``RefusedAddress`` for a refused address (the URL's or a redirect's) and ``FetchFailed`` for
    everything else that goes wrong (no answer, timeout, too large, too many redirects, a bad
    URL). The body is not decoded (``Content-Encoding`` is not undone: none is asked for).
    """
    sent = {"User-Agent": "Tipline-Integrations/1", "Accept-Encoding": "identity", **(headers or {})}
    try:
        async with asyncio.timeout(timeout_s):
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=timeout_s, cookies=None
            ) as client:
                for _ in range(MAX_REDIRECTS + 1):
                    response, content = await _one(
                        client, url, method=method, body=body, headers=sent, max_bytes=max_bytes, settings=settings
                    )
                    client.cookies.clear()  # nothing a server sets is sent back, not even to itself
                    location = response.headers.get("location")
                    if not response.is_redirect or location is None:
                        return SafeResponse(
                            status=response.status_code, headers=dict(response.headers), body=content, url=url
                        )
                    url = urljoin(url, location)
                    if response.status_code in (301, 302, 303) and method != "HEAD":
                        method, body = "GET", None
                raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")
    except TimeoutError as exc:
        raise FetchFailed(f"no complete answer within {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"the request failed: {type(exc).__name__}") from exc
