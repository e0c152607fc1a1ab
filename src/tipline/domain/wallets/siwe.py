"""Sign-In with Ethereum (EIP-4361) messages: a strict parser and the matching formatter.

The parser follows the EIP's ABNF line by line: fixed field order, one LF between lines,
an EIP-55 checksummed address, an RFC 3339 time with its offset, an alphanumeric nonce of at
least 8 characters. Anything else is refused as malformed, never guessed at. (The `siwe`
package would pull in web3.py, which pins an older `websockets` than the gateway's.)
See docs/subsystems/wallets.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from eth_utils.address import is_checksum_address

from tipline.errors import Invalid

PREAMBLE = " wants you to sign in with your Ethereum account:"
# host[:port] (an RFC 3986 authority without userinfo: credentials never belong in a sign-in request).
_DOMAIN_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}(?::[0-9]{1,5})?$|"
    r"^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$"
)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_ADDRESS_RE = re.compile(r"^0x[0-9A-Fa-f]{40}$")
_NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,}$")
_CHAIN_ID_RE = re.compile(r"^[1-9][0-9]{0,19}$")
# RFC 3339 date-time (with a mandatory offset), as EIP-4361 requires.
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
# EIP-4361: statement = *( reserved / unreserved / " " ), i.e. printable ASCII without LF.
_STATEMENT_RE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= %]+$")
_URI_CHARS_RE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=% ]*$")

MAX_MESSAGE_CHARS = 4096


def malformed(reason: str) -> Invalid:
    return Invalid(f"malformed sign-in message: {reason}", code="siwe_malformed")


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    scheme: str | None = None
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()

    def to_text(self) -> str:
        """The exact text a wallet shows and signs (the inverse of :func:`parse_message`)."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [head + PREAMBLE, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_fmt_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_fmt_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_fmt_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _fmt_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_time(value: str, field: str) -> datetime:
    if not _TIME_RE.fullmatch(value):
        raise malformed(f"{field} is not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise malformed(f"{field} is not a valid date-time") from exc


def _check_uri(value: str, field: str) -> str:
    parts = urlsplit(value)
    if not _URI_CHARS_RE.fullmatch(value) or not parts.scheme or not _SCHEME_RE.fullmatch(parts.scheme):
        raise malformed(f"{field} is not an absolute URI")
    return value


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def peek(self) -> str | None:
        return self.lines[self.i] if self.i < len(self.lines) else None

    def take(self) -> str:
        line = self.peek()
        if line is None:
            raise malformed("the message ends too early")
        self.i += 1
        return line

    def field(self, tag: str, *, optional: bool = False) -> str | None:
        line = self.peek()
        if line is None or not line.startswith(f"{tag}: "):
            if optional:
                return None
            raise malformed(f"expected the `{tag}:` line")
        self.i += 1
        return line[len(tag) + 2 :]


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message exactly; raise ``Invalid(code="siwe_malformed")`` otherwise."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise malformed("the message is too long")
    if "\r" in text or not text.isascii():
        raise malformed("only ASCII text with LF line ends is allowed")
    lines = _Lines(text.split("\n"))
    scheme, authority = _preamble(lines.take())
    address = lines.take()
    if not _ADDRESS_RE.fullmatch(address) or not is_checksum_address(address):
        raise malformed("the address must be a 0x address in EIP-55 checksum case")
    if lines.take() != "":
        raise malformed("expected an empty line after the address")
    statement = _statement(lines)
    fields = _fields(lines)
    if lines.peek() is not None:
        raise malformed(f"unexpected line {lines.i + 1}")
    return SiweMessage(scheme=scheme, domain=authority, address=address, statement=statement, **fields)


def _preamble(head: str) -> tuple[str | None, str]:
    """``[scheme://]domain`` from the first line."""
    if not head.endswith(PREAMBLE):
        raise malformed("the first line must be `<domain> wants you to sign in with your Ethereum account:`")
    authority = head[: -len(PREAMBLE)]
    scheme: str | None = None
    if "://" in authority:
        scheme, authority = authority.split("://", 1)
        if not _SCHEME_RE.fullmatch(scheme):
            raise malformed("bad scheme")
    if not _DOMAIN_RE.fullmatch(authority):
        raise malformed("bad domain")
    return scheme, authority


def _statement(lines: _Lines) -> str | None:
    """``[ statement LF ] LF``: either an empty line, or a statement line then an empty line."""
    line = lines.take()
    if line == "":
        return None
    if not _STATEMENT_RE.fullmatch(line):
        raise malformed("the statement has characters EIP-4361 does not allow")
    if lines.take() != "":
        raise malformed("expected an empty line after the statement")
    return line


def _fields(lines: _Lines) -> dict[str, Any]:
    """The ``Name: value`` lines, in the order EIP-4361 fixes, and the resources."""
    uri = _check_uri(lines.field("URI") or "", "URI")
    version = lines.field("Version")
    if version != "1":
        raise malformed("Version must be 1")
    chain_text = lines.field("Chain ID") or ""
    if not _CHAIN_ID_RE.fullmatch(chain_text):
        raise malformed("Chain ID must be a positive decimal integer")
    nonce = lines.field("Nonce") or ""
    if not _NONCE_RE.fullmatch(nonce):
        raise malformed("Nonce must be at least 8 letters or digits")
    issued_at = _parse_time(lines.field("Issued At") or "", "Issued At")
    expiration = lines.field("Expiration Time", optional=True)
    not_before = lines.field("Not Before", optional=True)
    request_id = lines.field("Request ID", optional=True)
    if request_id is not None and not _REQUEST_ID_RE.fullmatch(request_id):
        raise malformed("bad Request ID")
    resources: list[str] = []
    if lines.peek() == "Resources:":
        lines.take()
        while (item := lines.peek()) is not None and item.startswith("- "):
            resources.append(_check_uri(lines.take()[2:], "a resource"))
    return {
        "uri": uri,
        "version": version,
        "chain_id": int(chain_text),
        "nonce": nonce,
        "issued_at": issued_at,
        "expiration_time": _parse_time(expiration, "Expiration Time") if expiration is not None else None,
        "not_before": _parse_time(not_before, "Not Before") if not_before is not None else None,
        "request_id": request_id,
        "resources": tuple(resources),
    }
