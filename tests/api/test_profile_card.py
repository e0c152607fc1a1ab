"""What a profile card shows over HTTP: status (text, emoji, expiry), time zone, linked wallets,
and the Sign-In with Ethereum answers the sign-in page words (docs/subsystems/accounts.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.api.test_server_settings import emoji_png, make_admin
from tests.conftest import Server
from tests.domain.wallets.helpers import new_wallet, siwe_body, wallet_sign_in
from tests.helpers import User, create_conversation, signup
from tipline.domain.accounts.models import users
from tipline.domain.serversettings.current import forget
from tipline.runtime import Runtime


@pytest.fixture(autouse=True)
async def _fresh_settings(server: Server) -> AsyncIterator[None]:
    """Tables are emptied after each test; the per-process settings cache goes with them."""
    yield
    forget(server.rt)


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def patch_me(api: httpx.AsyncClient, user: User, **body: Any) -> httpx.Response:
    return await api.patch("/me", headers=user.headers, json=body)


async def test_status_and_time_zone_are_set_shown_and_cleared(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    until = soon(hours=2)
    r = await patch_me(api, alice, status={"text": " On a train ", "emoji": "🚆", "expires_at": until})
    assert r.status_code == 200, r.text
    status = r.json()["status"]
    assert status["text"] == "On a train" and status["emoji"] == "🚆"
    assert datetime.fromisoformat(status["expires_at"]) == datetime.fromisoformat(until)
    r = await patch_me(api, alice, timezone="Asia/Tokyo")
    assert r.status_code == 200 and r.json()["timezone"] == "Asia/Tokyo"
    # A patch of other fields leaves both alone.
    r = await patch_me(api, alice, display_name="Alice A.")
    assert r.json()["status"]["emoji"] == "🚆" and r.json()["timezone"] == "Asia/Tokyo"

    # Anyone signed in sees them on the card, by id and by handle, and on GET /me.
    for path in (f"/users/{alice.id}", f"/users?handle=@{alice.handle}"):
        card = (await api.get(path, headers=bob.headers)).json()
        assert card["status"]["text"] == "On a train" and card["timezone"] == "Asia/Tokyo", path
        assert "email" not in card
    assert (await api.get("/me", headers=alice.headers)).json()["status"]["emoji"] == "🚆"

    # An emoji alone, with no expiry, is a status too; null clears status and time zone.
    r = await patch_me(api, alice, status={"emoji": "🌴"})
    assert r.json()["status"] == {"text": "", "emoji": "🌴", "expires_at": None}
    r = await patch_me(api, alice, status=None, timezone=None)
    assert r.json()["status"] is None and r.json()["timezone"] is None
    assert (await api.get(f"/users/{alice.id}", headers=bob.headers)).json()["status"] is None
    # Not answered to the signed-out.
    assert (await api.get(f"/users/{alice.id}")).status_code == 401


async def test_a_custom_emoji_of_the_server_can_be_a_status(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin, alice = await make_admin(rt, await signup(api)), await signup(api)
    r = await api.post(
        "/admin/emoji", headers=admin.headers, data={"name": "party_parrot"}, files={"file": ("p.png", emoji_png())}
    )
    assert r.status_code == 201, r.text
    r = await patch_me(api, alice, status={"text": "Shipped", "emoji": ":party_parrot:"})
    assert r.status_code == 200 and r.json()["status"]["emoji"] == ":party_parrot:", r.text
    # One the server does not have is refused, and the status stays as it was.
    r = await patch_me(api, alice, status={"text": "x", "emoji": ":no_such_emoji:"})
    assert r.status_code == 422 and r.json()["code"] == "status_emoji_invalid"
    assert ":no_such_emoji:" in r.json()["detail"]
    assert (await api.get("/me", headers=alice.headers)).json()["status"]["emoji"] == ":party_parrot:"
    # Colons make no other text an emoji.
    r = await patch_me(api, alice, status={"text": "x", "emoji": ":Party Parrot:"})
    assert r.status_code == 422 and r.json()["code"] == "status_emoji_invalid"


async def test_an_expired_status_is_never_answered(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    r = await patch_me(api, alice, status={"text": "Lunch", "emoji": "🍜", "expires_at": soon(minutes=30)})
    assert r.status_code == 200
    # The half hour passes.
    async with server.rt.engine.begin() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == alice.id)
            .values(status_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await api.get(f"/users/{alice.id}", headers=bob.headers)).json()["status"] is None
    assert (await api.get("/me", headers=alice.headers)).json()["status"] is None
    assert (await patch_me(api, alice, display_name="A")).json()["status"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"status": {"text": "", "emoji": None}}, "status_empty"),
        ({"status": {"text": "   "}}, "status_empty"),
        ({"status": {"text": "x", "emoji": "ok"}}, "status_emoji_invalid"),
        ({"status": {"text": "x", "emoji": "🙂 🙂"}}, "status_emoji_invalid"),
        ({"status": {"text": "x", "emoji": "7"}}, "status_emoji_invalid"),
        ({"status": {"text": "x", "expires_at": "2020-01-01T00:00:00Z"}}, "status_expiry_past"),
        ({"status": {"text": "x", "expires_at": "2099-01-01T00:00:00Z"}}, "status_expiry_too_far"),
        ({"status": {"text": "x", "expires_at": "2030-01-01T00:00:00"}}, "status_expiry_invalid"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone_invalid"),
        ({"timezone": "../../etc/passwd"}, "timezone_invalid"),
        ({"timezone": "europe/berlin"}, "timezone_invalid"),
    ],
)
async def test_unusable_values_are_refused_with_a_reason(
    api: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    alice = await signup(api)
    await patch_me(api, alice, status={"text": "Before"}, timezone="Europe/Berlin")
    r = await patch_me(api, alice, **body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and r.json()["detail"]
    # Nothing changed.
    me = (await api.get("/me", headers=alice.headers)).json()
    assert me["status"]["text"] == "Before" and me["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    "body",
    [
        {"status": {"text": "x" * 101}},
        {"status": {"text": "x", "emoji": "🙂" * 17}},
        {"status": {"text": "x\x00"}},
        {"status": {"text": "x", "mood": "good"}},
        {"status": "busy"},
        {"timezone": "x" * 65},
        {"timezone": ""},
    ],
)
async def test_malformed_values_are_422(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    alice = await signup(api)
    r = await patch_me(api, alice, **body)
    assert r.status_code == 422, r.text


async def test_wallets_on_the_card_only_for_people_who_share_a_conversation(api: httpx.AsyncClient) -> None:
    alice, bob, stranger = await signup(api), await signup(api), await signup(api)
    wallet = new_wallet()
    r = await api.post("/me/wallets", headers=alice.headers, json=await siwe_body(api, wallet))
    assert r.status_code == 201
    # Mine, always; public fields only.
    r = await api.get(f"/users/{alice.id}/wallets", headers=alice.headers)
    assert r.json() == [{"address": wallet.address.lower(), "chain_id": 31337}]
    # A stranger learns nothing, not even that the person exists with wallets.
    for who, path in ((bob, alice.id), (stranger, alice.id), (bob, 999_999)):
        r = await api.get(f"/users/{path}/wallets", headers=who.headers)
        assert (r.status_code, r.json()["code"]) == (404, "user_not_found")
    await create_conversation(api, alice, members=[bob])
    r = await api.get(f"/users/{alice.id}/wallets", headers=bob.headers)
    assert r.status_code == 200 and [w["address"] for w in r.json()] == [wallet.address.lower()]
    # No wallet: an empty list, so the card can say why there is no tipping.
    r = await api.get(f"/users/{bob.id}/wallets", headers=alice.headers)
    assert r.status_code == 200 and r.json() == []
    assert (await api.get(f"/users/{alice.id}/wallets")).status_code == 401
    assert (await api.get(f"/users/{stranger.id}/wallets", headers=stranger.headers)).json() == []


async def test_wallet_sign_in_says_when_it_made_an_account(api: httpx.AsyncClient) -> None:
    wallet = new_wallet()
    first = await wallet_sign_in(api, wallet)
    assert first["account_created"] is True
    again = await wallet_sign_in(api, wallet)
    assert again["account_created"] is False and again["user"]["id"] == first["user"]["id"]
    # A wallet linked to a password account signs into it, nothing made.
    alice = await signup(api)
    linked = new_wallet()
    await api.post("/me/wallets", headers=alice.headers, json=await siwe_body(api, linked))
    into = await wallet_sign_in(api, linked)
    assert into["account_created"] is False and into["user"]["id"] == alice.id


@pytest.mark.parametrize(
    "settings",
    [{"signup_mode": "closed"}, {"signup_mode": "invite_only"}, {"allowed_email_domains": ["corp.example"]}],
)
async def test_an_unlinked_wallet_makes_no_account_where_sign_up_is_limited(
    api: httpx.AsyncClient, server: Server, settings: dict[str, Any]
) -> None:
    admin = await signup(api)
    async with server.rt.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == admin.id).values(is_admin=True))
    linked, unknown = new_wallet(), new_wallet()
    await api.post("/me/wallets", headers=admin.headers, json=await siwe_body(api, linked))
    r = await api.patch("/admin/settings", headers=admin.headers, json=settings)
    assert r.status_code == 200, r.text

    body = await siwe_body(api, unknown)
    r = await api.post("/auth/siwe/signin", json=body)
    assert (r.status_code, r.json()["code"]) == (403, "wallet_not_linked")
    assert "Settings → Wallets" in r.json()["detail"]
    # Nothing was made, and the nonce was not spent: the same message works once sign-up opens.
    r = await api.patch(
        "/admin/settings", headers=admin.headers, json={"signup_mode": "open", "allowed_email_domains": []}
    )
    assert r.status_code == 200
    r = await api.post("/auth/siwe/signin", json=body)
    assert r.status_code == 200 and r.json()["account_created"] is True
    # A linked wallet signs in whatever the settings.
    await api.patch("/admin/settings", headers=admin.headers, json=settings)
    assert (await wallet_sign_in(api, linked))["user"]["id"] == admin.id
