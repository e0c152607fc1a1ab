"""The HTTP part of the client: a thin typed wrapper over httpx around the models generated from
Tipline's OpenAPI document (``models.py``, never edited by hand: ``generate.py``).

``Tipline`` is synchronous, ``AsyncTipline`` the same methods as coroutines. Both send the token
(an access token or a personal access token ``tlp_…``) in the ``Authorization`` header only,
never in a URL. A refusal raises ``TiplineError`` with the server's ``code``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from tipline_client import models as m
from tipline_client.errors import TiplineError

T = TypeVar("T")


def new_client_msg_id() -> str:
    """A fresh ``client_msg_id``: keep it to retry the same send safely."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, and how to read its answer (shared by the sync and async clients)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


def _model(cls: type[T]) -> Callable[[Any], T]:
    adapter = TypeAdapter(cls)
    return adapter.validate_python


def _none(_: Any) -> None:
    return None


def _body(model: type[BaseModel], **values: Any) -> dict[str, Any]:
    """Validated against the generated input model (its limits), as the JSON to send."""
    given = {k: v for k, v in values.items() if v is not None}
    return model.model_validate(given).model_dump(mode="json", exclude_unset=True)


def _error(response: httpx.Response) -> TiplineError:
    code, message = "http_error", response.reason_phrase
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        detail = payload.get("detail")
        code = str(payload.get("code") or ("invalid_request" if response.status_code == 422 else code))
        message = detail if isinstance(detail, str) else str(detail)
    retry = response.headers.get("retry-after")
    return TiplineError(response.status_code, code, message, retry_after=float(retry) if retry else None)


def _parse(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise _error(response)
    return call.parse(response.json() if response.content else None)


class Endpoints:
    """Every request the clients make, built once."""

    @staticmethod
    def me() -> Call[m.MeOut]:
        return Call("GET", "/me", _model(m.MeOut))

    @staticmethod
    def sign_in(email: str, password: str) -> Call[m.TokenPair]:
        return Call("POST", "/auth/signin", _model(m.TokenPair), _body(m.SignInIn, email=email, password=password))

    @staticmethod
    def conversations() -> Call[list[m.ConversationOut]]:
        return Call("GET", "/conversations", lambda d: _model(m.ConversationPage)(d).conversations)

    @staticmethod
    def conversation(conversation_id: int) -> Call[m.ConversationOut]:
        return Call("GET", f"/conversations/{conversation_id}", _model(m.ConversationOut))

    @staticmethod
    def create_conversation(
        kind: str, name: str, member_ids: list[int] | None = None, topic: str | None = None
    ) -> Call[m.ConversationOut]:
        body = _body(m.CreateConversationIn, kind=kind, name=name, member_ids=member_ids, topic=topic)
        return Call("POST", "/conversations", _model(m.ConversationOut), body)

    @staticmethod
    def open_direct(user_id: int) -> Call[m.ConversationOut]:
        return Call("POST", "/conversations/direct", _model(m.ConversationOut), _body(m.OpenDirectIn, user_id=user_id))

    @staticmethod
    def invite(conversation_id: int, user_id: int) -> Call[m.MemberOut]:
        body = _body(m.InviteIn, user_id=user_id)
        return Call("POST", f"/conversations/{conversation_id}/members", _model(m.MemberOut), body)

    @staticmethod
    def history(
        conversation_id: int, *, before: int | None = None, after: int | None = None, limit: int | None = None
    ) -> Call[m.HistoryPage]:
        params = {k: v for k, v in {"before": before, "after": after, "limit": limit}.items() if v is not None}
        return Call("GET", f"/conversations/{conversation_id}/messages", _model(m.HistoryPage), params=params)

    @staticmethod
    def events(conversation_id: int, since: int) -> Call[m.ReplayOut]:
        return Call("GET", f"/conversations/{conversation_id}/events", _model(m.ReplayOut), params={"since": since})

    @staticmethod
    def send_message(
        conversation_id: int, body: str, *, client_msg_id: str | None = None, reply_to: int | None = None
    ) -> Call[m.Ack]:
        payload = _body(m.SendIn, body=body, client_msg_id=client_msg_id or new_client_msg_id(), reply_to=reply_to)
        return Call("POST", f"/conversations/{conversation_id}/messages", _model(m.Ack), payload)

    @staticmethod
    def message(message_id: int) -> Call[m.MessageOut]:
        return Call("GET", f"/messages/{message_id}", _model(m.MessageOut))

    @staticmethod
    def edit_message(message_id: int, body: str) -> Call[m.MessageOut]:
        return Call("PATCH", f"/messages/{message_id}", _model(m.MessageOut), _body(m.EditIn, body=body))

    @staticmethod
    def delete_message(message_id: int) -> Call[m.MessageOut]:
        return Call("DELETE", f"/messages/{message_id}", _model(m.MessageOut))

    @staticmethod
    def react(message_id: int, emoji: str, *, on: bool = True) -> Call[m.MessageOut]:
        path = f"/messages/{message_id}/reactions/{quote(emoji, safe='')}"
        return Call("PUT" if on else "DELETE", path, _model(m.MessageOut))

    @staticmethod
    def mark_read(conversation_id: int, seq: int) -> Call[None]:
        return Call("POST", f"/conversations/{conversation_id}/read", _none, _body(m.ReadIn, seq=seq))

    @staticmethod
    def user(user_id: int) -> Call[m.UserOut]:
        return Call("GET", f"/users/{user_id}", _model(m.UserOut))

    @staticmethod
    def create_token(name: str, scopes: list[str], expires_in_days: int = 30) -> Call[m.ApiTokenCreated]:
        body = _body(m.ApiTokenCreateIn, name=name, scopes=scopes, expires_in_days=expires_in_days)
        return Call("POST", "/me/tokens", _model(m.ApiTokenCreated), body)

    @staticmethod
    def tokens() -> Call[list[m.ApiTokenOut]]:
        return Call("GET", "/me/tokens", _model(list[m.ApiTokenOut]))

    @staticmethod
    def revoke_token(token_id: str) -> Call[None]:
        return Call("DELETE", f"/me/tokens/{token_id}", _none)

    @staticmethod
    def create_bot(handle: str, display_name: str, description: str | None = None) -> Call[m.BotOut]:
        body = _body(m.BotCreateIn, handle=handle, display_name=display_name, description=description)
        return Call("POST", "/bots", _model(m.BotOut), body)

    @staticmethod
    def bots() -> Call[list[m.BotOut]]:
        return Call("GET", "/bots", _model(list[m.BotOut]))

    @staticmethod
    def create_bot_token(
        bot_id: int, name: str, scopes: list[str], expires_in_days: int = 30
    ) -> Call[m.ApiTokenCreated]:
        body = _body(m.ApiTokenCreateIn, name=name, scopes=scopes, expires_in_days=expires_in_days)
        return Call("POST", f"/bots/{bot_id}/tokens", _model(m.ApiTokenCreated), body)

    @staticmethod
    def revoke_bot_token(bot_id: int, token_id: str) -> Call[None]:
        return Call("DELETE", f"/bots/{bot_id}/tokens/{token_id}", _none)


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Tipline:
    """Synchronous HTTP client. ``token``: an access token or a personal access token (``tlp_…``)."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout: float = 30.0, http: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    def call(self, call: Call[T]) -> T:
        response = self._http.request(
            call.method, call.path, json=call.json, params=call.params or None, headers=_headers(self.token)
        )
        return _parse(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Tipline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sign_in(self, email: str, password: str) -> m.TokenPair:
        """Sign in with a password; the client then uses the access token."""
        pair = self.call(Endpoints.sign_in(email, password))
        self.token = pair.access_token
        return pair

    def me(self) -> m.MeOut:
        return self.call(Endpoints.me())

    def conversations(self) -> list[m.ConversationOut]:
        return self.call(Endpoints.conversations())

    def conversation(self, conversation_id: int) -> m.ConversationOut:
        return self.call(Endpoints.conversation(conversation_id))

    def create_conversation(
        self, kind: str, name: str, member_ids: list[int] | None = None, topic: str | None = None
    ) -> m.ConversationOut:
        return self.call(Endpoints.create_conversation(kind, name, member_ids, topic))

    def open_direct(self, user_id: int) -> m.ConversationOut:
        return self.call(Endpoints.open_direct(user_id))

    def invite(self, conversation_id: int, user_id: int) -> m.MemberOut:
        return self.call(Endpoints.invite(conversation_id, user_id))

    def history(
        self, conversation_id: int, *, before: int | None = None, after: int | None = None, limit: int | None = None
    ) -> m.HistoryPage:
        return self.call(Endpoints.history(conversation_id, before=before, after=after, limit=limit))

    def events(self, conversation_id: int, since: int) -> m.ReplayOut:
        return self.call(Endpoints.events(conversation_id, since))

    def send_message(
        self, conversation_id: int, body: str, *, client_msg_id: str | None = None, reply_to: int | None = None
    ) -> m.Ack:
        return self.call(Endpoints.send_message(conversation_id, body, client_msg_id=client_msg_id, reply_to=reply_to))

    def message(self, message_id: int) -> m.MessageOut:
        return self.call(Endpoints.message(message_id))

    def edit_message(self, message_id: int, body: str) -> m.MessageOut:
        return self.call(Endpoints.edit_message(message_id, body))

    def delete_message(self, message_id: int) -> m.MessageOut:
        return self.call(Endpoints.delete_message(message_id))

    def react(self, message_id: int, emoji: str, *, on: bool = True) -> m.MessageOut:
        return self.call(Endpoints.react(message_id, emoji, on=on))

    def mark_read(self, conversation_id: int, seq: int) -> None:
        self.call(Endpoints.mark_read(conversation_id, seq))

    def user(self, user_id: int) -> m.UserOut:
        return self.call(Endpoints.user(user_id))

    def create_token(self, name: str, scopes: list[str], expires_in_days: int = 30) -> m.ApiTokenCreated:
        return self.call(Endpoints.create_token(name, scopes, expires_in_days))

    def tokens(self) -> list[m.ApiTokenOut]:
        return self.call(Endpoints.tokens())

    def revoke_token(self, token_id: str) -> None:
        self.call(Endpoints.revoke_token(token_id))

    def create_bot(self, handle: str, display_name: str, description: str | None = None) -> m.BotOut:
        return self.call(Endpoints.create_bot(handle, display_name, description))

    def bots(self) -> list[m.BotOut]:
        return self.call(Endpoints.bots())

    def create_bot_token(
        self, bot_id: int, name: str, scopes: list[str], expires_in_days: int = 30
    ) -> m.ApiTokenCreated:
        return self.call(Endpoints.create_bot_token(bot_id, name, scopes, expires_in_days))

    def revoke_bot_token(self, bot_id: int, token_id: str) -> None:
        self.call(Endpoints.revoke_bot_token(bot_id, token_id))


class AsyncTipline:
    """Asynchronous HTTP client: the methods of ``Tipline``, as coroutines."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout: float = 30.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def call(self, call: Call[T]) -> T:
        response = await self._http.request(
            call.method, call.path, json=call.json, params=call.params or None, headers=_headers(self.token)
        )
        return _parse(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTipline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def sign_in(self, email: str, password: str) -> m.TokenPair:
        pair = await self.call(Endpoints.sign_in(email, password))
        self.token = pair.access_token
        return pair

    async def me(self) -> m.MeOut:
        return await self.call(Endpoints.me())

    async def conversations(self) -> list[m.ConversationOut]:
        return await self.call(Endpoints.conversations())

    async def conversation(self, conversation_id: int) -> m.ConversationOut:
        return await self.call(Endpoints.conversation(conversation_id))

    async def create_conversation(
        self, kind: str, name: str, member_ids: list[int] | None = None, topic: str | None = None
    ) -> m.ConversationOut:
        return await self.call(Endpoints.create_conversation(kind, name, member_ids, topic))

    async def open_direct(self, user_id: int) -> m.ConversationOut:
        return await self.call(Endpoints.open_direct(user_id))

    async def invite(self, conversation_id: int, user_id: int) -> m.MemberOut:
        return await self.call(Endpoints.invite(conversation_id, user_id))

    async def history(
        self, conversation_id: int, *, before: int | None = None, after: int | None = None, limit: int | None = None
    ) -> m.HistoryPage:
        return await self.call(Endpoints.history(conversation_id, before=before, after=after, limit=limit))

    async def events(self, conversation_id: int, since: int) -> m.ReplayOut:
        return await self.call(Endpoints.events(conversation_id, since))

    async def send_message(
        self, conversation_id: int, body: str, *, client_msg_id: str | None = None, reply_to: int | None = None
    ) -> m.Ack:
        call = Endpoints.send_message(conversation_id, body, client_msg_id=client_msg_id, reply_to=reply_to)
        return await self.call(call)

    async def message(self, message_id: int) -> m.MessageOut:
        return await self.call(Endpoints.message(message_id))

    async def edit_message(self, message_id: int, body: str) -> m.MessageOut:
        return await self.call(Endpoints.edit_message(message_id, body))

    async def delete_message(self, message_id: int) -> m.MessageOut:
        return await self.call(Endpoints.delete_message(message_id))

    async def react(self, message_id: int, emoji: str, *, on: bool = True) -> m.MessageOut:
        return await self.call(Endpoints.react(message_id, emoji, on=on))

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        await self.call(Endpoints.mark_read(conversation_id, seq))

    async def user(self, user_id: int) -> m.UserOut:
        return await self.call(Endpoints.user(user_id))

    async def create_token(self, name: str, scopes: list[str], expires_in_days: int = 30) -> m.ApiTokenCreated:
        return await self.call(Endpoints.create_token(name, scopes, expires_in_days))

    async def tokens(self) -> list[m.ApiTokenOut]:
        return await self.call(Endpoints.tokens())

    async def revoke_token(self, token_id: str) -> None:
        await self.call(Endpoints.revoke_token(token_id))

    async def create_bot(self, handle: str, display_name: str, description: str | None = None) -> m.BotOut:
        return await self.call(Endpoints.create_bot(handle, display_name, description))

    async def bots(self) -> list[m.BotOut]:
        return await self.call(Endpoints.bots())

    async def create_bot_token(
        self, bot_id: int, name: str, scopes: list[str], expires_in_days: int = 30
    ) -> m.ApiTokenCreated:
        return await self.call(Endpoints.create_bot_token(bot_id, name, scopes, expires_in_days))

    async def revoke_bot_token(self, bot_id: int, token_id: str) -> None:
        await self.call(Endpoints.revoke_bot_token(bot_id, token_id))
