"""The EIP-4361 parser: what it accepts, and that everything off the grammar is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from tipline.domain.wallets.siwe import SiweMessage, parse_message
from tipline.errors import Invalid

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own example

SPEC_EXAMPLE = (
    "service.org wants you to sign in with your Ethereum account:\n"
    f"{ADDRESS}\n"
    "\n"
    "I accept the ServiceOrg Terms of Service: https://service.org/tos\n"
    "\n"
    "URI: https://service.org/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json"
)


def test_parses_the_eip_example_and_formats_it_back() -> None:
    msg = parse_message(SPEC_EXAMPLE)
    assert msg.domain == "service.org" and msg.scheme is None
    assert msg.address == ADDRESS and msg.chain_id == 1 and msg.nonce == "32891756"
    assert msg.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert msg.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert len(msg.resources) == 2
    assert msg.to_text() == SPEC_EXAMPLE


def test_optional_fields_and_no_statement_round_trip() -> None:
    msg = SiweMessage(
        scheme="https",
        domain="chat.example:8443",
        address=ADDRESS,
        uri="https://chat.example:8443",
        version="1",
        chain_id=31337,
        nonce="abcdef0123456789",
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
        expiration_time=datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        request_id="req-1",
    )
    text = msg.to_text()
    # No statement: the address is followed by three line feeds, as the ABNF says.
    assert f"{ADDRESS}\n\n\nURI:" in text
    assert text.startswith("https://chat.example:8443 wants you")
    assert parse_message(text) == msg


def test_fractional_seconds_and_offsets_are_read() -> None:
    text = SPEC_EXAMPLE.replace("2021-09-30T16:25:24Z", "2021-09-30T18:25:24.123+02:00")
    assert parse_message(text).issued_at == datetime(2021, 9, 30, 16, 25, 24, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (ADDRESS, ADDRESS.lower().replace("0x5a", "0x5A")),  # broken EIP-55 checksum
        (ADDRESS, ADDRESS[:-1]),  # short address
        ("service.org wants", "service.org asks"),  # wrong preamble
        ("service.org wants", "user@service.org wants"),  # userinfo in the domain
        ("Version: 1", "Version: 2"),
        ("Chain ID: 1", "Chain ID: 0x1"),
        ("Chain ID: 1", "Chain ID: 01"),
        ("Nonce: 32891756", "Nonce: 1234567"),  # shorter than 8
        ("Nonce: 32891756", "Nonce: 3289-1756"),
        ("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30 16:25:24"),  # no offset, no T
        ("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-02-30T16:25:24Z"),  # no such day
        ("URI: https://service.org/login", "URI: service.org/login"),  # not absolute
        ("URI: https://service.org/login\nVersion: 1", "Version: 1\nURI: https://service.org/login"),  # order
        ("Nonce: 32891756\n", "Nonce: 32891756\nNonce: 32891757\n"),  # duplicated field
        ("- https://example.com/my-web2-claim.json", "- https://example.com/a\nExtra: line"),
        ("\n\nURI:", "\nURI:"),  # the empty line after the statement is missing
        ("Terms of Service", "Terms\tof Service"),  # control character in the statement
        ("\n", "\r\n"),
        ("ServiceOrg", "ServiceÖrg"),
    ],
)
def test_malformed_messages_are_refused(old: str, new: str) -> None:
    assert old in SPEC_EXAMPLE
    with pytest.raises(Invalid) as err:
        parse_message(SPEC_EXAMPLE.replace(old, new, 1))
    assert err.value.code == "siwe_malformed"


@pytest.mark.parametrize("text", ["", "\n", SPEC_EXAMPLE + "\n", SPEC_EXAMPLE.split("\nURI:")[0], "x" * 5000])
def test_truncated_padded_or_huge_messages_are_refused(text: str) -> None:
    with pytest.raises(Invalid) as err:
        parse_message(text)
    assert err.value.code == "siwe_malformed"


# Made by viem's createSiweMessage and signed by viem's local account (what the web client
# uses): the server reads it and recovers the same address.
VIEM_MESSAGE = {
    "message": (
        "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
        "0x6F87D1D8C54E9Bb49a6b01029aCc1D68486510Df\n"
        "\n"
        "\n"
        "URI: http://127.0.0.1:8000\n"
        "Version: 1\n"
        "Chain ID: 31337\n"
        "Nonce: 0123456789abcdef0123456789abcdef\n"
        "Issued At: 2026-12-01T13:03:40.751Z\n"
        "Expiration Time: 2026-12-01T13:08:40.751Z"
    ),
    "signature": (
        "0xef1cadf778b170463df664e503f7a2782e671cbef9874664308beb679fd4e6d0"
        "651276d074075932c90ef17f25b9136b91197842edfb73082bf705a2e4be42601b"
    ),
}


def test_reads_and_verifies_a_message_made_by_the_web_clients_library() -> None:
    msg = parse_message(VIEM_MESSAGE["message"])
    assert msg.statement is None and msg.chain_id == 31337 and msg.expiration_time is not None
    signer = Account.recover_message(encode_defunct(text=VIEM_MESSAGE["message"]), signature=VIEM_MESSAGE["signature"])
    assert signer == msg.address
