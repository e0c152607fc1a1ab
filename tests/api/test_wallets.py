"""Wallets over HTTP: Sign-In with Ethereum to link, list, unlink and sign in, and every refusal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Server
from tests.domain.wallets.helpers import (
    build_message,
    get_nonce,
    new_wallet,
    sign_text,
    siwe_body,
    wallet_sign_in,
)
from tests.helpers import signup
from tipline.ratelimit import MemoryLimiter, Rule


async def count(server: Server, sql: str, **params: Any) -> int:
    async with server.rt.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_link_list_and_unlink(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    first, second = new_wallet(), new_wallet()
    r = await api.post("/me/wallets", headers=user.headers, json=await siwe_body(api, first))
    assert r.status_code == 201, r.text
    linked = r.json()
    assert linked["address"] == first.address.lower() and linked["chain_id"] == 31337
    r = await api.post("/me/wallets", headers=user.headers, json=await siwe_body(api, second))
    assert r.status_code == 201, r.text

    r = await api.get("/me/wallets", headers=user.headers)
    assert r.status_code == 200
    assert [w["address"] for w in r.json()] == [first.address.lower(), second.address.lower()]

    # Linking an address that is already mine answers the same wallet, adds nothing.
    r = await api.post("/me/wallets", headers=user.headers, json=await siwe_body(api, first))
    assert r.status_code == 201 and r.json()["id"] == linked["id"]

    r = await api.delete(f"/me/wallets/{linked['id']}", headers=user.headers)
    assert r.status_code == 204
    r = await api.get("/me/wallets", headers=user.headers)
    assert [w["address"] for w in r.json()] == [second.address.lower()]
    r = await api.delete(f"/me/wallets/{linked['id']}", headers=user.headers)
    assert r.status_code == 404 and r.json()["code"] == "wallet_not_found"


async def test_sign_in_creates_an_account_then_signs_into_it(api: httpx.AsyncClient, server: Server) -> None:
    wallet = new_wallet()
    first = await wallet_sign_in(api, wallet)
    assert first["token_type"] == "bearer" and first["refresh_token"] and first["expires_in"] > 0
    me = first["user"]
    assert me["handle"] == wallet.address[:10].lower() and me["email"] is None
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    r = await api.get("/me", headers=headers)
    assert r.status_code == 200 and r.json()["id"] == me["id"]
    r = await api.get("/me/wallets", headers=headers)
    assert [w["address"] for w in r.json()] == [wallet.address.lower()]

    second = await wallet_sign_in(api, wallet)
    assert second["user"]["id"] == me["id"] and second["session_id"] != first["session_id"]
    # The same token pair as a password sign-in: the refresh token rotates like any other.
    r = await api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 200 and r.json()["user"]["id"] == me["id"]
    assert await count(server, "SELECT count(*) FROM users") == 1


async def test_generated_handles_stay_unique(api: httpx.AsyncClient) -> None:
    wallet = new_wallet()
    # Someone already holds the handle the wallet's account would get.
    await signup(api, wallet.address[:10].lower())
    body = await wallet_sign_in(api, wallet)
    handle = body["user"]["handle"]
    assert handle.startswith(wallet.address[:10].lower() + "_")


async def test_a_linked_wallet_signs_into_its_account(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    wallet = new_wallet()
    r = await api.post("/me/wallets", headers=user.headers, json=await siwe_body(api, wallet))
    assert r.status_code == 201
    body = await wallet_sign_in(api, wallet)
    assert body["user"]["id"] == user.id and body["user"]["email"] == user.email


async def test_address_linked_to_another_account_is_refused(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    wallet = new_wallet()
    r = await api.post("/me/wallets", headers=alice.headers, json=await siwe_body(api, wallet))
    assert r.status_code == 201
    r = await api.post("/me/wallets", headers=bob.headers, json=await siwe_body(api, wallet))
    assert r.status_code == 409 and r.json()["code"] == "wallet_taken"
    assert await count(server, "SELECT count(*) FROM wallets WHERE user_id = :u", u=bob.id) == 0


async def test_cannot_touch_another_users_wallet(api: httpx.AsyncClient) -> None:
    alice, mallory = await signup(api), await signup(api)
    r = await api.post("/me/wallets", headers=alice.headers, json=await siwe_body(api, new_wallet()))
    wallet_id = r.json()["id"]
    r = await api.delete(f"/me/wallets/{wallet_id}", headers=mallory.headers)
    assert r.status_code == 404 and r.json()["code"] == "wallet_not_found"
    r = await api.get("/me/wallets", headers=mallory.headers)
    assert r.json() == []
    r = await api.get("/me/wallets", headers=alice.headers)
    assert [w["id"] for w in r.json()] == [wallet_id]


async def test_wallet_routes_need_a_session(api: httpx.AsyncClient) -> None:
    body = await siwe_body(api, new_wallet())
    assert (await api.post("/me/wallets", json=body)).status_code == 401
    assert (await api.get("/me/wallets")).status_code == 401
    assert (await api.delete("/me/wallets/1")).status_code == 401


async def test_the_last_way_into_an_account_cannot_be_unlinked(api: httpx.AsyncClient) -> None:
    wallet, spare = new_wallet(), new_wallet()
    body = await wallet_sign_in(api, wallet)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    only = (await api.get("/me/wallets", headers=headers)).json()[0]
    r = await api.delete(f"/me/wallets/{only['id']}", headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "last_sign_in_method"
    r = await api.post("/me/wallets", headers=headers, json=await siwe_body(api, spare))
    assert r.status_code == 201
    assert (await api.delete(f"/me/wallets/{only['id']}", headers=headers)).status_code == 204
    # A password account may unlink all its wallets.
    user = await signup(api)
    r = await api.post("/me/wallets", headers=user.headers, json=await siwe_body(api, new_wallet()))
    assert (await api.delete(f"/me/wallets/{r.json()['id']}", headers=user.headers)).status_code == 204


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"expiration_time": -timedelta(minutes=5)}, 403, "siwe_expired"),
        ({"issued_at": -timedelta(hours=1)}, 403, "siwe_expired"),
        ({"not_before": timedelta(minutes=10)}, 403, "siwe_not_yet_valid"),
        ({"issued_at": timedelta(minutes=10)}, 403, "siwe_not_yet_valid"),
        ({"domain": "evil.example"}, 422, "siwe_wrong_domain"),
        ({"scheme": "ftp"}, 422, "siwe_wrong_domain"),
        ({"uri": "https://evil.example/login"}, 422, "siwe_wrong_uri"),
        ({"chain_id": 1}, 422, "siwe_wrong_chain"),
        ({"nonce": "0123456789abcdef"}, 403, "siwe_nonce_unknown"),
    ],
    ids=[
        "expired",
        "too-old",
        "not-before",
        "issued-in-future",
        "cross-domain",
        "wrong-scheme",
        "wrong-uri",
        "wrong-chain",
        "unknown-nonce",
    ],
)
@pytest.mark.parametrize("route", ["signin", "link"])
async def test_refused_messages_create_nothing(
    api: httpx.AsyncClient, server: Server, overrides: dict[str, Any], status: int, code: str, route: str
) -> None:
    user = await signup(api)
    wallet = new_wallet()
    # Times are offsets from when the test runs, not from when the suite was collected (a test
    # that runs ten minutes into the suite would otherwise send a "future" time that has passed).
    overrides = {k: _now() + v if isinstance(v, timedelta) else v for k, v in overrides.items()}
    body = await siwe_body(api, wallet, **overrides)
    if route == "signin":
        r = await api.post("/auth/siwe/signin", json=body)
    else:
        r = await api.post("/me/wallets", headers=user.headers, json=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"]
    assert await count(server, "SELECT count(*) FROM wallets") == 0
    assert await count(server, "SELECT count(*) FROM users") == 1
    assert await count(server, "SELECT count(*) FROM siwe_nonces WHERE used_at IS NOT NULL") == 0


async def test_tampered_message_and_wrong_signer_are_refused_without_spending_the_nonce(
    api: httpx.AsyncClient, server: Server
) -> None:
    wallet, other = new_wallet(), new_wallet()
    info = await get_nonce(api)
    genuine = build_message(info, wallet.address).to_text()
    signature = sign_text(wallet, genuine)
    tampered = genuine.replace("Sign in to Tipline.", "Sign in to Tipline!")
    r = await api.post("/auth/siwe/signin", json={"message": tampered, "signature": signature})
    assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"
    r = await api.post("/auth/siwe/signin", json={"message": genuine, "signature": sign_text(other, genuine)})
    assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"
    # A signature of the wrong length, or one that recovers no key at all.
    for bad in ("0x" + signature[2:-2], "0x" + "00" * 65):
        r = await api.post("/auth/siwe/signin", json={"message": genuine, "signature": bad})
        assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"
    assert await count(server, "SELECT count(*) FROM users") == 0
    # Nobody could spend the nonce without the wallet's signature: the genuine message still works.
    r = await api.post("/auth/siwe/signin", json={"message": genuine, "signature": signature})
    assert r.status_code == 200


async def test_malformed_input_is_refused(api: httpx.AsyncClient) -> None:
    wallet = new_wallet()
    body = await siwe_body(api, wallet)
    r = await api.post("/auth/siwe/signin", json={**body, "message": body["message"].replace("Version: 1", "V: 1")})
    assert r.status_code == 422 and r.json()["code"] == "siwe_malformed"
    for bad in ("not hex", "0x123", "", "0x" + "zz" * 65):
        r = await api.post("/auth/siwe/signin", json={**body, "signature": bad})
        assert r.status_code == 422
    r = await api.post("/auth/siwe/signin", json={**body, "extra": 1})
    assert r.status_code == 422
    r = await api.post("/auth/siwe/signin", json={**body, "message": "x" * 5000})
    assert r.status_code == 422
    # The body was fine all along.
    assert (await api.post("/auth/siwe/signin", json=body)).status_code == 200


async def test_replay_and_reused_nonce_are_refused(api: httpx.AsyncClient, server: Server) -> None:
    wallet = new_wallet()
    info = await get_nonce(api)
    message = build_message(info, wallet.address).to_text()
    body = {"message": message, "signature": sign_text(wallet, message)}
    assert (await api.post("/auth/siwe/signin", json=body)).status_code == 200
    r = await api.post("/auth/siwe/signin", json=body)
    assert r.status_code == 409 and r.json()["code"] == "siwe_replayed"
    # The same nonce in a different (freshly signed) message.
    other = build_message(info, wallet.address, statement="Another sign-in.").to_text()
    r = await api.post("/auth/siwe/signin", json={"message": other, "signature": sign_text(wallet, other)})
    assert r.status_code == 409 and r.json()["code"] == "siwe_nonce_reused"
    # ... and to link instead of sign in.
    user = await signup(api)
    r = await api.post("/me/wallets", headers=user.headers, json=body)
    assert r.status_code == 409 and r.json()["code"] == "siwe_replayed"
    assert await count(server, "SELECT count(*) FROM sessions") == 2  # one wallet sign-in, one sign-up


async def test_expired_nonce_is_refused(api: httpx.AsyncClient, server: Server) -> None:
    wallet = new_wallet()
    body = await siwe_body(api, wallet)
    async with server.rt.engine.begin() as conn:
        await conn.execute(text("UPDATE siwe_nonces SET expires_at = now() - interval '1 second'"))
    r = await api.post("/auth/siwe/signin", json=body)
    assert r.status_code == 403 and r.json()["code"] == "siwe_nonce_expired"


async def test_nonce_lifetime_comes_from_settings(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "siwe_nonce_ttl_s", 1)
    info = await get_nonce(api)
    lifetime = datetime.fromisoformat(info["expires_at"]) - datetime.now(UTC)
    assert timedelta(0) < lifetime <= timedelta(seconds=1)
    assert info["domain"] == server.base_url.removeprefix("http://") and info["uri"] == server.base_url
    assert info["chain_id"] == server.rt.settings.chain_id and len(info["nonce"]) >= 16


async def test_parallel_uses_of_one_nonce_make_at_most_one_session(api: httpx.AsyncClient, server: Server) -> None:
    wallet = new_wallet()
    body = await siwe_body(api, wallet)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as other:
        clients = [api, other] * 5
        answers = await asyncio.gather(*(c.post("/auth/siwe/signin", json=body) for c in clients))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * 9, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"siwe_replayed"}
    assert await count(server, "SELECT count(*) FROM sessions") == 1
    assert await count(server, "SELECT count(*) FROM users") == 1

    # The same for linking: one nonce, many parallel links, one wallet.
    user = await signup(api)
    target = new_wallet()
    body = await siwe_body(api, target)
    answers = await asyncio.gather(*(api.post("/me/wallets", headers=user.headers, json=body) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 7
    assert await count(server, "SELECT count(*) FROM wallets WHERE address = :a", a=target.address.lower()) == 1


async def test_parallel_first_sign_ins_of_one_address_make_one_account(api: httpx.AsyncClient, server: Server) -> None:
    wallet = new_wallet()
    bodies = [await siwe_body(api, wallet) for _ in range(6)]
    answers = await asyncio.gather(*(api.post("/auth/siwe/signin", json=b) for b in bodies))
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    assert len({r.json()["user"]["id"] for r in answers}) == 1
    assert await count(server, "SELECT count(*) FROM users") == 1
    assert await count(server, "SELECT count(*) FROM sessions") == 6


async def test_expired_nonces_are_cleared_as_new_ones_are_issued(api: httpx.AsyncClient, server: Server) -> None:
    for _ in range(3):
        await get_nonce(api)
    async with server.rt.engine.begin() as conn:
        await conn.execute(text("UPDATE siwe_nonces SET expires_at = now() - interval '1 second'"))
    await get_nonce(api)
    assert await count(server, "SELECT count(*) FROM siwe_nonces") == 1


async def test_nonces_are_unpredictable(api: httpx.AsyncClient) -> None:
    nonces = {(await get_nonce(api))["nonce"] for _ in range(5)}
    assert len(nonces) == 5
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)


async def test_nonces_and_wallet_sign_ins_share_the_sign_in_limit_per_ip(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.limits, "enabled", True)
    monkeypatch.setattr(server.rt.limits, "limiter", MemoryLimiter())
    rules = dict(server.rt.limits.rules)
    rules["signin_per_ip"] = Rule("signin_per_ip", 3, 60)
    monkeypatch.setattr(server.rt.limits, "rules", rules)
    body = await siwe_body(api, new_wallet())  # one nonce
    assert (await api.post("/auth/siwe/signin", json=body)).status_code == 200  # two
    assert (await api.post("/auth/siwe/nonce")).status_code == 200  # three
    r = await api.post("/auth/siwe/nonce")
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = await api.post("/auth/siwe/signin", json=body)
    assert r.status_code == 429
    assert await count(server, "SELECT count(*) FROM siwe_nonces") == 2
