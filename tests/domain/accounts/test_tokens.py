"""Passwords and tokens with the production settings (argon2id defaults, pinned JWT algorithm)."""

from __future__ import annotations

import time
import uuid

import jwt
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


def test_a_verified_token_is_remembered_only_while_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second decode of a token skips the signature check, but answers exactly as a full
    decode would: the same claims, nothing for another key or audience, and expiry still applies."""
    from tipline.domain.accounts import tokens

    settings = production()
    key = b"k" * 64
    sid = uuid.uuid4()
    token = issue_access_token(settings, key, user_id=9, session_id=sid)
    first = decode_access_token(settings, key, token)
    calls: list[str] = []
    real_decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("decode")
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    assert decode_access_token(settings, key, token) == first and calls == []
    # Anything the answer depends on but the clock is part of the key.
    with pytest.raises(Unauthorized):
        decode_access_token(settings, b"other" * 13, token)
    other_audience = Settings(_env_file=None, jwt_audience="another-app")  # type: ignore[call-arg]
    with pytest.raises(Unauthorized):
        decode_access_token(other_audience, key, token)
    assert calls == ["decode", "decode"]
    # Past exp (and the leeway) the remembered answer is not used: the full decode runs again
    # (PyJWT reads its own clock, which this test cannot move, so it still accepts the token).
    later = time.time() + settings.access_token_ttl_s + tokens.LEEWAY_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    decode_access_token(settings, key, token)
    assert calls == ["decode", "decode", "decode"]


def test_the_verified_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from tipline.domain.accounts import tokens

    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    monkeypatch.setattr(tokens, "_verified", {})
    settings = production()
    key = b"k" * 64
    issued = [issue_access_token(settings, key, user_id=i, session_id=uuid.uuid4()) for i in range(1, 6)]
    for token in issued:
        decode_access_token(settings, key, token)
    assert len(tokens._verified) == 3
    assert [k[0] for k in tokens._verified] == issued[2:]
