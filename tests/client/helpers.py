"""Shared by the client tests: people, a conversation, and personal access tokens for them."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.helpers import User, create_conversation, signup

SCOPES = ["messages:read", "messages:write", "conversations:read"]


@dataclass
class Scene:
    alice: User
    bob: User
    conversation_id: int
    alice_token: str


async def make_token(
    api: httpx.AsyncClient, user: User, scopes: list[str] | None = None, path: str = "/me/tokens"
) -> str:
    r = await api.post(
        path, headers=user.headers, json={"name": "client test", "scopes": scopes or SCOPES, "expires_in_days": 1}
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def scene(api: httpx.AsyncClient) -> Scene:
    alice, bob = await signup(api), await signup(api)
    conv = await create_conversation(api, alice, members=[bob])
    return Scene(alice, bob, conv["id"], await make_token(api, alice))
