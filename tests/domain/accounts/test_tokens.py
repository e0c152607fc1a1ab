"""Passwords and tokens with the production settings (argon2id defaults, pinned JWT algorithm)."""

from __future__ import annotations

import uuid

import pytest
from argon2 import PasswordHasher, extract_parameters

from tipline.config import Settings
from tipline.domain.accounts.tokens import (
    check_password_policy,
    decode_access_token,
    hash_password,
    issue_access_token,
    verify_password,
)
from tipline.errors import Invalid, Unauthorized


def production() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_argon2id_with_production_parameters() -> None:
    settings = production()
    stored = hash_password(settings, "correct horse battery staple")
    assert stored.startswith("$argon2id$") and "m=65536,t=3,p=4" in stored
    assert verify_password(settings, stored, "correct horse battery staple")
    assert not verify_password(settings, stored, "wrong")


def test_unknown_account_costs_the_same_as_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an account, sign-in still runs one argon2id verification with the very same
    parameters as a real one: the same work, whatever the machine's load. (The time itself is
    measured against a running node in tests/security/test_attacks.py.)"""
    settings = production()
    stored = hash_password(settings, "correct horse battery staple")
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str, password: str) -> bool:
        verified.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    assert verify_password(settings, stored, "not the password") is False
    assert verify_password(settings, None, "not the password") is False
    assert len(verified) == 2 and verified[0] == stored and verified[1] != stored
    assert extract_parameters(verified[1]) == extract_parameters(stored)
    assert verified[1].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("password1234", "password_too_common"),
        ("alice@example.com", "password_too_common"),
    ],
)
def test_password_policy(password: str, code: str) -> None:
    with pytest.raises(Invalid) as err:
        check_password_policy(password, email="alice@example.com", handle="alice", min_length=10)
    assert err.value.code == code


def test_access_token_round_trip_and_tampering() -> None:
    settings = production()
    key = b"k" * 64
    sid = uuid.uuid4()
    token = issue_access_token(settings, key, user_id=7, session_id=sid)
    claims = decode_access_token(settings, key, token)
    assert claims.user_id == 7 and claims.session_id == sid
    head, body, sig = token.split(".")
    with pytest.raises(Unauthorized):
        decode_access_token(settings, key, f"{head}.{body}.{sig[:-2]}AA")
    with pytest.raises(Unauthorized):
        decode_access_token(settings, b"other" * 13, token)
