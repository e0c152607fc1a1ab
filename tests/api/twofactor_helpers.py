"""Helpers for the two-factor tests: enrol TOTP through the API, make codes as an app would."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pyotp

from tests.helpers import PASSWORD, User


@dataclass
class Enrolled:
    secret: str
    recovery_codes: list[str]


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps_ahead`` 30-second steps later)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def enrol_totp(api: httpx.AsyncClient, user: User) -> Enrolled:
    """Turn TOTP on for ``user``: the current step's code is used up by the confirmation."""
    r = await api.post("/me/2fa/totp", headers=user.headers)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = await api.post("/me/2fa/totp/confirm", headers=user.headers, json={"code": code(secret)})
    assert r.status_code == 200, r.text
    return Enrolled(secret=secret, recovery_codes=r.json()["recovery_codes"])


async def password_step(api: httpx.AsyncClient, user: User) -> str:
    """Sign in with the password; returns the second step's challenge."""
    r = await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["second_factor_required"] is True and "access_token" not in body
    challenge: str = body["challenge"]
    return challenge
