"""Passkeys over HTTP, the parts a real authenticator is not needed for: the options the browser
gets, and the refusals (a made-up answer, a ceremony used twice or someone else's, a passkey that
is not yours). Registration and sign-in with a real (virtual) authenticator: tests/e2e/test_twofactor.py."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.twofactor_helpers import enrol_totp, password_step
from tests.helpers import signup

BOGUS = {
    "id": "AAAA",
    "rawId": "AAAA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "attestationObject": "oA", "authenticatorData": "AA", "signature": "AA"},
    "clientExtensionResults": {},
}


@pytest.fixture
def server_host(api: httpx.AsyncClient) -> str:
    """The relying party id: PUBLIC_URL's host (the suite's servers: 127.0.0.1)."""
    return urlsplit(str(api.base_url)).hostname or ""


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


async def test_registration_options_ask_for_a_discoverable_verified_passkey(
    api: httpx.AsyncClient, server_host: str
) -> None:
    user = await signup(api)
    r = await api.post("/me/passkeys/options", headers=user.headers)
    assert r.status_code == 200
    options = r.json()["options"]
    assert options["rp"] == {"id": server_host, "name": "Tipline"}
    assert b64url(options["user"]["id"]) == user.id.to_bytes(8, "big")
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert len(b64url(options["challenge"])) >= 32


async def test_a_made_up_answer_is_refused_and_the_ceremony_is_single_use(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    flow = (await api.post("/me/passkeys/options", headers=user.headers)).json()["flow"]
    r = await api.post("/me/passkeys", headers=user.headers, json={"flow": flow, "credential": BOGUS})
    assert r.status_code == 422 and r.json()["code"] == "passkey_invalid"
    r = await api.post("/me/passkeys", headers=user.headers, json={"flow": flow, "credential": BOGUS})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"
    assert (await api.get("/me/passkeys", headers=user.headers)).json() == []


async def test_another_accounts_ceremony_registers_nothing(api: httpx.AsyncClient) -> None:
    victim = await signup(api)
    attacker = await signup(api)
    flow = (await api.post("/me/passkeys/options", headers=victim.headers)).json()["flow"]
    r = await api.post("/me/passkeys", headers=attacker.headers, json={"flow": flow, "credential": BOGUS})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"


async def test_passwordless_sign_in_refuses_an_unknown_passkey_once_per_ceremony(api: httpx.AsyncClient) -> None:
    r = await api.post("/auth/passkey/options")
    assert r.status_code == 200
    body = r.json()
    assert body["options"]["userVerification"] == "required"
    assert body["options"].get("allowCredentials", []) == []  # discoverable: no account named
    r = await api.post("/auth/passkey/verify", json={"flow": body["flow"], "credential": BOGUS})
    assert r.status_code == 401 and r.json()["code"] == "passkey_invalid"
    r = await api.post("/auth/passkey/verify", json={"flow": body["flow"], "credential": BOGUS})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"


async def test_passkey_second_step_needs_a_passkey_and_a_valid_answer(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    await enrol_totp(api, user)
    challenge = await password_step(api, user)
    r = await api.post("/auth/2fa/passkey/options", json={"challenge": challenge})
    assert r.status_code == 409 and r.json()["code"] == "passkey_not_found"
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "credential": BOGUS})
    assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    r = await api.post("/auth/2fa/passkey/options", json={"challenge": "made-up"})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"


async def test_removing_a_passkey_that_is_not_mine_is_not_found(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    r = await api.delete("/me/passkeys/AAAA", headers=user.headers)
    assert r.status_code == 404 and r.json()["code"] == "passkey_not_found"
