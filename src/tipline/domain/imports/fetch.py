"""Downloading an export's files by URL, refusing what an import must not reach.

A Slack export names each file by a URL. Fetching is off unless asked for
(`tipline import slack --fetch-files`), and then only http(s) URLs whose host resolves to
public addresses are fetched: loopback, private ranges, link-local (the cloud metadata address
169.254.169.254 among them), multicast and reserved addresses are refused unless the operator
allow-lists them (`--allow-host`). Redirects are followed by hand, each hop checked the same
way. Bodies are capped at the attachment limit. URLs are never logged (Slack puts a token in them).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from tipline.domain.imports.schemas import FileSkipped

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(entries: Sequence[str]) -> tuple[frozenset[str], tuple[IpNetwork, ...]]:
    """``--allow-host`` values: host names (exact, lower-case) and IP networks (CIDR or single address)."""
    hosts: set[str] = set()
    nets: list[IpNetwork] = []
    for entry in entries:
        entry = entry.strip().lower()
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return frozenset(hosts), tuple(nets)


@dataclass
class Fetcher:
    allow_hosts: frozenset[str] = frozenset()
    allow_nets: tuple[IpNetwork, ...] = ()
    timeout_s: float = 30.0
    max_redirects: int = 3
    _client: httpx.Client | None = field(default=None, repr=False)

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FileSkipped("its URL is not http(s)")
        host = parts.hostname.lower()
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError) as exc:
            raise FileSkipped("its host does not resolve") from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if host in self.allow_hosts or any(address in net for net in self.allow_nets):
                continue
            if not address.is_global or address.is_multicast:
                raise FileSkipped(f"its host resolves to a non-public address ({address}); allow it with --allow-host")

    def get(self, url: str, *, limit: int) -> bytes:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        for _ in range(self.max_redirects + 1):
            self._check(url)
            try:
                with self._client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise FileSkipped(f"its URL answered HTTP {response.status_code}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise FileSkipped(f"larger than {limit} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                # The exception's text may quote the URL (and its token): only its kind is kept.
                raise FileSkipped(f"its URL cannot be fetched ({type(exc).__name__})") from None
        raise FileSkipped("too many redirects")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
