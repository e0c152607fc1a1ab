"""The I/O-free parts of two-factor authentication: the drift window, replay, sealing, recovery codes."""

from __future__ import annotations

import pyotp

from tipline.domain.accounts import secondfactor as sf

MASTER = b"m" * 64
NOW = 1_800_000_015.0  # 15 s into a step


def test_a_code_is_accepted_one_step_either_side_and_only_once() -> None:
    secret = sf.new_totp_secret()
    totp = pyotp.TOTP(secret)
    step = int(NOW // 30)
    for offset in (-1, 0, 1):
        assert sf.match_totp(secret, totp.at(NOW + 30 * offset), last_step=None, now=NOW) == step + offset
    for offset in (-2, 2):
        assert sf.match_totp(secret, totp.at(NOW + 30 * offset), last_step=None, now=NOW) is None
    # Replay: the step accepted last, and any earlier one, never again.
    assert sf.match_totp(secret, totp.at(NOW), last_step=step, now=NOW) is None
    assert sf.match_totp(secret, totp.at(NOW - 30), last_step=step, now=NOW) is None
    assert sf.match_totp(secret, totp.at(NOW + 30), last_step=step, now=NOW) == step + 1
    assert sf.match_totp(secret, "12345", last_step=None, now=NOW) is None
    assert sf.match_totp(secret, "\uff11\uff12\uff13\uff14\uff15\uff16", last_step=None, now=NOW) is None  # full-width


def test_a_sealed_secret_opens_only_with_its_key_and_account() -> None:
    sealed = sf.seal(MASTER, 7, "JBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert sf.unseal(MASTER, 7, sealed) == "JBSWY3DPEHPK3PXP"
    assert sf.unseal(MASTER, 8, sealed) is None  # copied to another account's row
    assert sf.unseal(b"k" * 64, 7, sealed) is None  # another JWT_SECRET
    assert sf.seal(MASTER, 7, "JBSWY3DPEHPK3PXP") != sealed  # a fresh nonce each time


def test_recovery_codes_are_distinct_and_their_hash_ignores_spelling() -> None:
    codes = sf.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" and set(c.replace("-", "")) <= set(sf.RECOVERY_ALPHABET) for c in codes)
    code = codes[0]
    h = sf.hash_recovery_code(MASTER, code)
    assert sf.hash_recovery_code(MASTER, code.lower().replace("-", " ")) == h
    assert sf.hash_recovery_code(b"k" * 64, code) != h


def test_the_qr_code_is_an_svg_data_uri_of_the_otpauth_uri() -> None:
    secret = sf.new_totp_secret()
    uri = sf.otpauth_uri(secret, account="ann@example.com")
    assert uri == f"otpauth://totp/Tipline:ann%40example.com?secret={secret}&issuer=Tipline"
    assert sf.qr_svg_data_uri(uri).startswith("data:image/svg+xml")
