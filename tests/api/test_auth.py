"""Accounts over HTTP: sign-up, sign-in, refresh rotation and reuse, sign-out, sessions, profile."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import orjson

from tests.conftest import Server
from tests.helpers import PASSWORD, signup


async def test_sign_up_then_me(api: httpx.AsyncClient) -> None:
    user = await signup(api, "alice")
    r = await api.get("/me", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["handle"] == "alice" and body["display_name"] == "Alice" and body["email"] == "alice@example.com"
    assert "password_hash" not in body


async def test_sign_up_refuses_short_and_common_passwords(api: httpx.AsyncClient) -> None:
    base = {"email": "p@example.com", "handle": "pwtest", "display_name": "P"}
    r = await api.post("/auth/signup", json={**base, "password": "short"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_short"
    r = await api.post("/auth/signup", json={**base, "password": "iloveyou12"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_common"
    r = await api.post("/auth/signup", json={**base, "password": "1234567890"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_common"
    # Nothing was created.
    r = await api.post("/auth/signin", json={"email": "p@example.com", "password": "short"})
    assert r.status_code == 401


async def test_sign_up_conflicts(api: httpx.AsyncClient) -> None:
    await signup(api, "bob")
    r = await api.post(
        "/auth/signup",
        json={"email": "BOB@example.com", "password": PASSWORD, "handle": "bob2", "display_name": "B"},
    )
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    r = await api.post(
        "/auth/signup",
        json={"email": "other@example.com", "password": PASSWORD, "handle": "BOB", "display_name": "B"},
    )
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"


async def test_sign_in_same_answer_for_unknown_email_and_wrong_password(api: httpx.AsyncClient) -> None:
    await signup(api, "carol")
    wrong = await api.post("/auth/signin", json={"email": "carol@example.com", "password": "not the password!"})
    unknown = await api.post("/auth/signin", json={"email": "nobody@example.com", "password": "not the password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email or password", "code": "invalid_credentials"}
    ok = await api.post("/auth/signin", json={"email": "Carol@Example.com", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"]["handle"] == "carol"


async def test_refresh_rotates_and_reuse_revokes_the_family(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    r1 = await api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert r1.status_code == 200
    new_refresh = r1.json()["refresh_token"]
    new_access = r1.json()["access_token"]
    assert new_refresh != user.refresh_token
    assert (await api.get("/me", headers={"Authorization": f"Bearer {new_access}"})).status_code == 200
    # The old token comes back: the whole session is revoked.
    reused = await api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
    after = await api.post("/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401 and after.json()["code"] == "session_revoked"
    me = await api.get("/me", headers={"Authorization": f"Bearer {new_access}"})
    assert me.status_code == 401 and me.json()["code"] == "session_revoked"


async def test_refresh_with_unknown_token(api: httpx.AsyncClient) -> None:
    r = await api.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"


async def test_sign_out_one_and_all(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    second = (await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})).json()
    third = (await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})).json()
    sessions = (await api.get("/me/sessions", headers=user.headers)).json()
    assert len(sessions) == 3 and sum(s["current"] for s in sessions) == 1

    assert (await api.post("/auth/signout", headers=user.headers)).status_code == 204
    assert (await api.get("/me", headers=user.headers)).status_code == 401
    h2 = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await api.get("/me", headers=h2)).status_code == 200

    # Revoke another device's session by id.
    r = await api.delete(f"/me/sessions/{third['session_id']}", headers=h2)
    assert r.status_code == 204
    h3 = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await api.get("/me", headers=h3)).status_code == 401
    assert (await api.delete(f"/me/sessions/{third['session_id']}", headers=h2)).status_code == 404

    assert (await api.post("/auth/signout-all", headers=h2)).status_code == 204
    assert (await api.get("/me", headers=h2)).status_code == 401
    refreshed = await api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert refreshed.status_code == 401


async def test_cannot_revoke_someone_elses_session(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    r = await api.delete(f"/me/sessions/{bob.session_id}", headers=alice.headers)
    assert r.status_code == 404
    assert (await api.get("/me", headers=bob.headers)).status_code == 200


async def test_profile_update_and_unique_handle(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api, "alice"), await signup(api, "bobby")
    r = await api.patch("/me", headers=alice.headers, json={"display_name": "  Alice L.  ", "handle": "@Alice_L"})
    assert r.status_code == 200 and r.json()["display_name"] == "Alice L." and r.json()["handle"] == "alice_l"
    r = await api.patch("/me", headers=bob.headers, json={"handle": "alice_l"})
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"
    r = await api.patch("/me", headers=alice.headers, json={"handle": "alice_l"})
    assert r.status_code == 200
    r = await api.get("/users", params={"handle": "@alice_l"}, headers=bob.headers)
    assert r.status_code == 200 and r.json()["id"] == alice.id and "email" not in r.json()


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def test_forged_tokens_are_refused(api: httpx.AsyncClient, server: Server) -> None:
    user = await signup(api)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    now = int(time.time())
    key = server.rt.jwt_key
    forged = {
        "none_alg": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "wrong_key": jwt.encode(claims, b"x" * 32, algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, key, "HS256"),
        "wrong_audience": jwt.encode({**claims, "aud": "someone-else"}, key, algorithm="HS256"),
        "wrong_issuer": jwt.encode({**claims, "iss": "someone-else"}, key, algorithm="HS256"),
        "hs512": jwt.encode(claims, key, algorithm="HS512"),
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        r = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.json()["code"] in {"invalid_token", "token_expired"}, name
    assert (await api.get("/me")).status_code == 401
