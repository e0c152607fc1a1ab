"""Bad input over HTTP never gives a 500 and stores nothing.

Every request here is checked three ways: its status is one of the expected client errors, the
whole database is byte-for-byte what it was before (a digest of every table), and the server
still answers its health checks afterwards. Requests that send a body on purpose send raw bytes,
so that NUL characters, lone surrogates and invalid UTF-8 reach the server exactly as written.

Since every request must leave the database as it was, the tests share one scene (users,
conversations, messages) built once for the module: this module replaces conftest's per-test
TRUNCATE by one at the end of the module (``http`` below).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import Server, reset_database
from tests.helpers import PASSWORD, User, create_conversation, send_http, signup
from tipline.domain.tables import __all__ as TABLES

GHOST = 2**62  # a valid id that names nothing
MAX_ID = 2**63 - 1  # the largest id the schema (and PostgreSQL's bigint) takes
JSON = {"content-type": "application/json"}
DIGEST = "SELECT " + ", ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t)" for table in TABLES
)


@dataclass
class Scene:
    """Two users in a group with one message, and a private channel of the other's with one."""

    me: User
    other: User
    cid: int
    mid: int
    seq: int
    their_cid: int
    their_mid: int


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces conftest's per-test TRUNCATE for this module; ``http`` truncates once at its end."""


@pytest.fixture(scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client
    await reset_database(server.database_url, server)


@pytest.fixture(scope="module")
async def scene(http: httpx.AsyncClient) -> Scene:
    me, other = await signup(http), await signup(http)
    cid = (await create_conversation(http, me, "group", [other]))["id"]
    ack = (await send_http(http, me, cid, "hello")).json()
    their_cid = (await create_conversation(http, other, "private"))["id"]
    their_mid = (await send_http(http, other, their_cid, "private note")).json()["message_id"]
    return Scene(me, other, cid, ack["message_id"], ack["seq"], their_cid, their_mid)


@dataclass
class Checker:
    """Sends requests that must be refused; collects every way one of them misbehaved."""

    http: httpx.AsyncClient
    db: asyncpg.Connection
    problems: list[str] = field(default_factory=list)

    async def digest(self) -> Any:
        return await self.db.fetchrow(DIGEST)

    async def refused(
        self, label: str, method: str, url: str, expect: set[int], code: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        before = await self.digest()
        r = await self.http.request(method, url, **kwargs)
        if r.status_code not in expect:
            self.problems.append(f"{label}: {method} {url} -> {r.status_code} {r.text[:300]} (expected {expect})")
        elif code is not None and r.json().get("code") != code:
            self.problems.append(f"{label}: {method} {url} -> code {r.json().get('code')!r} (expected {code!r})")
        if await self.digest() != before:
            self.problems.append(f"{label}: {method} {url} -> {r.status_code} and it stored something")
        return r

    def assert_ok(self) -> None:
        assert not self.problems, f"{len(self.problems)} problem(s):\n" + "\n".join(self.problems)


@pytest.fixture(scope="module")
async def db(server: Server) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(server.database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def check(http: httpx.AsyncClient, db: asyncpg.Connection) -> AsyncIterator[Checker]:
    yield Checker(http, db)
    # Whatever was thrown at it, the server is still fine.
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200


# --- the endpoints that take a JSON body ----------------------------------------------------------


@dataclass(frozen=True)
class BodyEndpoint:
    name: str
    method: str
    path: str  # {cid}, {mid}, {uid}
    valid: Callable[[Scene], dict[str, Any]]
    texts: tuple[str, ...] = ()  # text fields
    ints: tuple[str, ...] = ()  # integer fields (ids, seqs)
    optional: tuple[str, ...] = ()  # fields that may be absent or null
    auth: bool = True

    def url(self, s: Scene) -> str:
        return self.path.format(cid=s.cid, mid=s.mid, uid=s.other.id)

    def headers(self, s: Scene) -> dict[str, str]:
        return {**JSON, **(s.me.headers if self.auth else {})}


def _new_account(s: Scene) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {"email": f"new{tag}@example.com", "password": PASSWORD, "handle": f"new_{tag}", "display_name": "New"}


BODY_ENDPOINTS = [
    BodyEndpoint(
        "signup", "POST", "/auth/signup", _new_account, ("email", "password", "handle", "display_name"), auth=False
    ),
    BodyEndpoint(
        "signin",
        "POST",
        "/auth/signin",
        lambda s: {"email": s.me.email, "password": PASSWORD},
        ("email", "password"),
        auth=False,
    ),
    BodyEndpoint(
        "refresh",
        "POST",
        "/auth/refresh",
        lambda s: {"refresh_token": s.me.refresh_token},
        ("refresh_token",),
        auth=False,
    ),
    BodyEndpoint(
        "patch_me",
        "PATCH",
        "/me",
        lambda s: {"display_name": "Me", "handle": f"me_{uuid.uuid4().hex[:8]}"},
        ("display_name", "handle"),
        optional=("display_name", "handle"),
    ),
    BodyEndpoint(
        "create",
        "POST",
        "/conversations",
        lambda s: {"kind": "group", "name": "new room", "topic": "a topic", "member_ids": [s.other.id]},
        texts=("name", "topic"),
        ints=("member_ids",),
        optional=("topic", "member_ids"),
    ),
    BodyEndpoint("direct", "POST", "/conversations/direct", lambda s: {"user_id": s.other.id}, ints=("user_id",)),
    BodyEndpoint(
        "rename",
        "PATCH",
        "/conversations/{cid}",
        lambda s: {"name": "renamed", "topic": "new topic"},
        ("name", "topic"),
        optional=("name", "topic"),
    ),
    BodyEndpoint(
        "invite", "POST", "/conversations/{cid}/members", lambda s: {"user_id": s.other.id}, ints=("user_id",)
    ),
    BodyEndpoint("change_role", "PATCH", "/conversations/{cid}/members/{uid}", lambda s: {"role": "admin"}),
    BodyEndpoint("read", "POST", "/conversations/{cid}/read", lambda s: {"seq": s.seq}, ints=("seq",)),
    BodyEndpoint(
        "send",
        "POST",
        "/conversations/{cid}/messages",
        lambda s: {"client_msg_id": "k1", "body": "a message", "reply_to": s.mid},
        texts=("body", "client_msg_id"),
        ints=("reply_to",),
        optional=("reply_to",),
    ),
    BodyEndpoint("edit", "PATCH", "/messages/{mid}", lambda s: {"body": "edited"}, ("body",)),
]
BODY_IDS = [ep.name for ep in BODY_ENDPOINTS]

MALFORMED = [
    b"",
    b"{",
    b'{"body": "x",}',
    b"not json",
    b"null",
    b"[]",
    b'[{"body": "x"}]',
    b'"a string"',
    b"42",
    b"true",
    b"{'single': 'quotes'}",
    b'{"seq": NaN, "user_id": Infinity}',
    '{"x": 1}'.encode("utf-16"),  # not UTF-8 (parsed or not, refused)
    b"\xc3\x28\xa0\xa1",  # not UTF-8
    b"[" * 20_000 + b"]" * 20_000,  # nested too deep for the parser
    b'{"seq": ' + b"9" * 5000 + b"}",  # more digits than Python converts
]


@pytest.mark.parametrize("ep", BODY_ENDPOINTS, ids=BODY_IDS)
async def test_malformed_bodies(check: Checker, scene: Scene, ep: BodyEndpoint) -> None:
    for raw in MALFORMED:
        label = f"{ep.name} {raw[:30]!r}"
        await check.refused(label, ep.method, ep.url(scene), {400, 422}, content=raw, headers=ep.headers(scene))
    # A body that is not JSON at all, by its content type.
    valid = orjson.dumps(ep.valid(scene))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        headers = {**ep.headers(scene), "content-type": content_type}
        await check.refused(
            f"{ep.name} as {content_type}", ep.method, ep.url(scene), {400, 415, 422}, content=valid, headers=headers
        )
    check.assert_ok()


def _wrong_values(ep: BodyEndpoint, name: str) -> list[Any]:
    values: list[Any] = [{}] if name == "member_ids" else [[], {}]
    if name in ep.ints:
        values += ["1", [1.5], ["x"], [None]] if name == "member_ids" else ["five", 1.5, "1.5", "true"]
    elif name in ep.texts:
        values += [123, 1.5, True]
    else:  # a choice among words
        values += ["superuser", 1, "ADMIN "]
    if name not in ep.optional:
        values.append(None)
    return values


@pytest.mark.parametrize("ep", BODY_ENDPOINTS, ids=BODY_IDS)
async def test_wrong_types_missing_and_extra_fields(check: Checker, scene: Scene, ep: BodyEndpoint) -> None:
    valid = ep.valid(scene)
    url, headers = ep.url(scene), ep.headers(scene)
    for name in valid:
        for value in _wrong_values(ep, name):
            body = orjson.dumps({**valid, name: value})
            await check.refused(f"{ep.name}.{name}={value!r}", ep.method, url, {422}, content=body, headers=headers)
        if name not in ep.optional:
            body = orjson.dumps({k: v for k, v in valid.items() if k != name})
            await check.refused(f"{ep.name} without {name}", ep.method, url, {422}, content=body, headers=headers)
    for extra in ({"is_admin": True}, {"id": 1}, {"sender_id": scene.other.id}, {"": None}):
        body = orjson.dumps({**valid, **extra})
        await check.refused(f"{ep.name} with {extra}", ep.method, url, {422}, content=body, headers=headers)
    check.assert_ok()


BAD_TEXT = {
    "nul": b"a\\u0000b",
    "raw_nul": b"a\x00b",  # not even valid JSON
    "lone_high_surrogate": b"a\\ud800b",
    "lone_low_surrogate": b"a\\udfffb",
    "reversed_surrogates": b"a\\udc00\\ud800b",
    "surrogate_as_raw_bytes": b"a\xed\xa0\x80b",  # what "\ud800" would be in UTF-8, if it could be
    "invalid_utf8": b"a\xffb",
}


@pytest.mark.parametrize("bad", list(BAD_TEXT), ids=list(BAD_TEXT))
async def test_nul_and_surrogates_in_every_text_field(check: Checker, scene: Scene, bad: str) -> None:
    marker = b"@@BAD@@"
    for ep in BODY_ENDPOINTS:
        for name in ep.texts:
            body = orjson.dumps({**ep.valid(scene), name: "@@BAD@@"}).replace(marker, BAD_TEXT[bad])
            # A refresh token is only ever compared: not knowing it is a 401 like any unknown token.
            expect = {400, 422} | ({401} if ep.name == "refresh" else set())
            await check.refused(
                f"{ep.name}.{name}", ep.method, ep.url(scene), expect, content=body, headers=ep.headers(scene)
            )
    # And in the text that travels in URLs: an emoji, a search, a handle.
    quoted = {"nul": "%00", "raw_nul": "%00", "surrogate_as_raw_bytes": "%ED%A0%80", "invalid_utf8": "%FF"}.get(bad)
    if quoted is not None:
        h = scene.me.headers
        await check.refused("emoji", "PUT", f"/messages/{scene.mid}/reactions/x{quoted}y", {400, 404, 422}, headers=h)
        for path in (f"/conversations/public?q=x{quoted}y", f"/users?handle=x{quoted}y"):
            # Reads: a search for mangled text may find nothing, but must not fail.
            await check.refused("query", "GET", path, {200, 400, 404, 422}, headers=h)
    check.assert_ok()


async def test_bad_text_in_headers_is_harmless(http: httpx.AsyncClient, check: Checker, scene: Scene) -> None:
    """The User-Agent is stored with each session: odd bytes in it must not break anything."""
    for agent in (b"\xed\xa0\x80\xff\xfe", b"x" * 5000, b"\x7f\x1b[31m"):
        r = await http.post(
            "/auth/signin", json={"email": scene.me.email, "password": PASSWORD}, headers={"user-agent": agent}
        )
        # Control characters are refused by the HTTP parser itself.
        assert r.status_code in (200, 400), r.text
    sessions = await http.get("/me/sessions", headers=scene.me.headers)
    assert sessions.status_code == 200
    assert all(len(s["user_agent"]) <= 256 for s in sessions.json())
    check.assert_ok()


# --- ids ----------------------------------------------------------------------------------------

ID_PATHS = [
    ("GET", "/conversations/{cid}"),
    ("PATCH", "/conversations/{cid}"),
    ("POST", "/conversations/{cid}/archive"),
    ("POST", "/conversations/{cid}/unarchive"),
    ("POST", "/conversations/{cid}/join"),
    ("POST", "/conversations/{cid}/leave"),
    ("GET", "/conversations/{cid}/members"),
    ("POST", "/conversations/{cid}/members"),
    ("DELETE", "/conversations/{cid}/members/{uid}"),
    ("PATCH", "/conversations/{cid}/members/{uid}"),
    ("POST", "/conversations/{cid}/read"),
    ("GET", "/conversations/{cid}/messages"),
    ("POST", "/conversations/{cid}/messages"),
    ("GET", "/conversations/{cid}/events?since=0"),
    ("GET", "/messages/{mid}"),
    ("PATCH", "/messages/{mid}"),
    ("DELETE", "/messages/{mid}"),
    ("GET", "/messages/{mid}/replies"),
    ("PUT", "/messages/{mid}/reactions/x"),
    ("DELETE", "/messages/{mid}/reactions/x"),
    ("GET", "/users/{uid}"),
]
# A body each of those would accept, so only the id is wrong.
ID_BODIES: dict[tuple[str, str], Callable[[Scene], dict[str, Any]]] = {
    ("PATCH", "/conversations/{cid}"): lambda s: {"name": "renamed"},
    ("POST", "/conversations/{cid}/members"): lambda s: {"user_id": s.other.id},
    ("PATCH", "/conversations/{cid}/members/{uid}"): lambda s: {"role": "admin"},
    ("POST", "/conversations/{cid}/read"): lambda s: {"seq": 1},
    ("POST", "/conversations/{cid}/messages"): lambda s: {"client_msg_id": uuid.uuid4().hex, "body": "x"},
    ("PATCH", "/messages/{mid}"): lambda s: {"body": "edited"},
}
BAD_IDS = ["1180591620717411303424", str(2**63), "-1", "0", "abc", "1.5", "1e3", "0x10", "%20", "1%00"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_ids_out_of_range_or_not_numbers_in_paths(check: Checker, scene: Scene, bad: str) -> None:
    for method, path in ID_PATHS:
        body_of = ID_BODIES.get((method, path))
        kwargs: dict[str, Any] = {"json": body_of(scene)} if body_of else {}
        # Each id in turn is the bad one; the others are real.
        for slot in sorted({p for p in ("cid", "mid", "uid") if "{" + p + "}" in path}):
            ids = {"cid": scene.cid, "mid": scene.mid, "uid": scene.other.id, slot: bad}
            url = path.format(**ids)
            await check.refused(f"{slot}={bad}", method, url, {422}, headers=scene.me.headers, **kwargs)
    check.assert_ok()


async def test_ids_that_name_nothing(check: Checker, scene: Scene) -> None:
    h = scene.me.headers
    for ghost in (GHOST, MAX_ID):
        for method, path in ID_PATHS:
            body_of = ID_BODIES.get((method, path))
            kwargs: dict[str, Any] = {"json": body_of(scene)} if body_of else {}
            for slot in sorted({p for p in ("cid", "mid", "uid") if "{" + p + "}" in path}):
                url = path.format(**{"cid": scene.cid, "mid": scene.mid, "uid": scene.other.id, slot: ghost})
                await check.refused(f"{slot}={ghost}", method, url, {404}, headers=h, **kwargs)
        for label, method, url, body, code in [
            ("invite", "POST", f"/conversations/{scene.cid}/members", {"user_id": ghost}, "user_not_found"),
            ("direct", "POST", "/conversations/direct", {"user_id": ghost}, "user_not_found"),
            (
                "create",
                "POST",
                "/conversations",
                {"kind": "group", "name": "n", "member_ids": [ghost]},
                "user_not_found",
            ),
            (
                "reply",
                "POST",
                f"/conversations/{scene.cid}/messages",
                {"client_msg_id": "r", "body": "x", "reply_to": ghost},
                "reply_not_found",
            ),
        ]:
            await check.refused(label, method, url, {404}, code, headers=h, json=body)
    await check.refused("session", "DELETE", f"/me/sessions/{uuid.uuid4()}", {404}, "session_not_found", headers=h)
    await check.refused("session", "DELETE", "/me/sessions/not-a-uuid", {422}, headers=h)
    check.assert_ok()


@pytest.mark.parametrize("value", [2**70, 2**63, -1, 0, -(2**70)])
async def test_ids_out_of_range_in_bodies(check: Checker, scene: Scene, value: int) -> None:
    h = scene.me.headers
    for label, method, url, body in [
        ("direct", "POST", "/conversations/direct", {"user_id": value}),
        ("invite", "POST", f"/conversations/{scene.cid}/members", {"user_id": value}),
        ("create", "POST", "/conversations", {"kind": "group", "name": "n", "member_ids": [scene.other.id, value]}),
        (
            "reply",
            "POST",
            f"/conversations/{scene.cid}/messages",
            {"client_msg_id": "k", "body": "b", "reply_to": value},
        ),
        ("read", "POST", f"/conversations/{scene.cid}/read", {"seq": value}),
    ]:
        if label == "read" and value == 0:
            continue  # seq 0 is fine
        await check.refused(f"{label}={value}", method, url, {422}, headers=h, json=body)
    check.assert_ok()


async def test_ids_of_other_peoples_things(http: httpx.AsyncClient, check: Checker, scene: Scene) -> None:
    h = scene.me.headers
    # A reply to a message of a conversation I am not in, and of another conversation I am in.
    mine = (await create_conversation(http, scene.me, "private"))["id"]
    their_msg_in_mine = (await send_http(http, scene.me, mine, "elsewhere")).json()["message_id"]
    for reply_to in (scene.their_mid, their_msg_in_mine):
        body = {"client_msg_id": uuid.uuid4().hex, "body": "x", "reply_to": reply_to}
        url = f"/conversations/{scene.cid}/messages"
        await check.refused(f"reply_to={reply_to}", "POST", url, {404}, "reply_not_found", headers=h, json=body)
    # Someone else's message in a conversation we share: not mine to edit.
    theirs = (await send_http(http, scene.other, scene.cid, "theirs")).json()["message_id"]
    await check.refused(
        "edit theirs", "PATCH", f"/messages/{theirs}", {403}, "not_author", headers=h, json={"body": "x"}
    )
    # A user who is not a member of my conversation.
    stranger = await signup(http)
    url = f"/conversations/{scene.cid}/members/{stranger.id}"
    await check.refused("remove stranger", "DELETE", url, {404}, "member_not_found", headers=h)
    await check.refused("promote stranger", "PATCH", url, {404}, "member_not_found", headers=h, json={"role": "admin"})
    # Someone already in it.
    url = f"/conversations/{scene.cid}/members"
    await check.refused(
        "invite twice", "POST", url, {409}, "already_member", headers=h, json={"user_id": scene.other.id}
    )
    await check.refused(
        "dm myself",
        "POST",
        "/conversations/direct",
        {422},
        "direct_with_self",
        headers=h,
        json={"user_id": scene.me.id},
    )
    # Someone else's session.
    await check.refused(
        "their session", "DELETE", f"/me/sessions/{scene.other.session_id}", {404}, "session_not_found", headers=h
    )
    check.assert_ok()


async def test_a_read_marker_past_the_end_stops_at_the_end(http: httpx.AsyncClient, scene: Scene) -> None:
    r = await http.post(f"/conversations/{scene.cid}/read", headers=scene.me.headers, json={"seq": MAX_ID})
    assert r.status_code == 200
    last_seq = (await http.get(f"/conversations/{scene.cid}", headers=scene.me.headers)).json()["last_seq"]
    assert r.json() == {"seq": last_seq}


# --- sizes --------------------------------------------------------------------------------------


async def test_message_body_limits(http: httpx.AsyncClient, check: Checker, scene: Scene) -> None:
    h, url = scene.me.headers, f"/conversations/{scene.cid}/messages"
    for label, body, expect, code in [
        ("4001 chars", "x" * 4001, 422, "body_too_long"),
        ("4001 astral chars", "😀" * 4001, 422, "body_too_long"),
        ("100001 chars", "x" * 100_001, 422, None),
        ("empty", "", 422, "body_empty"),
        ("blank", " \n\t ", 422, "body_empty"),
    ]:
        await check.refused(
            f"send {label}", "POST", url, {expect}, code, headers=h, json={"client_msg_id": "k", "body": body}
        )
        await check.refused(
            f"edit {label}", "PATCH", f"/messages/{scene.mid}", {expect}, code, headers=h, json={"body": body}
        )
    check.assert_ok()
    # The limit counts characters, not bytes: exactly 4000 of anything goes through.
    for i, body in enumerate(("x" * 4000, "😀" * 4000)):
        r = await send_http(http, scene.me, scene.cid, body, client_msg_id=f"max{i}")
        assert r.status_code == 201, r.text
    r = await http.patch(f"/messages/{scene.mid}", headers=h, json={"body": "y" * 4000})
    assert r.status_code == 200 and r.json()["body"] == "y" * 4000


async def test_field_length_limits(check: Checker, scene: Scene) -> None:
    h = scene.me.headers
    new = {"email": "long@example.com", "password": PASSWORD, "handle": "longish", "display_name": "L"}
    for label, method, url, body in [
        ("name 81", "POST", "/conversations", {"kind": "group", "name": "n" * 81}),
        ("blank name", "POST", "/conversations", {"kind": "group", "name": "   "}),
        ("blank rename", "PATCH", f"/conversations/{scene.cid}", {"name": " \t "}),
        ("topic 251", "PATCH", f"/conversations/{scene.cid}", {"topic": "t" * 251}),
        ("member_ids 501", "POST", "/conversations", {"kind": "group", "name": "n", "member_ids": list(range(1, 502))}),
        ("display_name 65", "PATCH", "/me", {"display_name": "d" * 65}),
        ("blank display_name", "PATCH", "/me", {"display_name": "   "}),
        ("blank display_name at sign-up", "POST", "/auth/signup", {**new, "display_name": "  "}),
        ("handle 33", "PATCH", "/me", {"handle": "h" * 33}),
        ("handle 2", "PATCH", "/me", {"handle": "hh"}),
        ("handle with a dash", "PATCH", "/me", {"handle": "a-b-c"}),
        ("client_msg_id 65", "POST", f"/conversations/{scene.cid}/messages", {"client_msg_id": "k" * 65, "body": "x"}),
        ("client_msg_id space", "POST", f"/conversations/{scene.cid}/messages", {"client_msg_id": "a b", "body": "x"}),
        ("password 257", "POST", "/auth/signup", {**new, "password": "p" * 257}),
        ("email 321", "POST", "/auth/signin", {"email": "e" * 321, "password": PASSWORD}),
        ("refresh_token 201", "POST", "/auth/refresh", {"refresh_token": "r" * 201}),
    ]:
        await check.refused(label, method, url, {422}, headers=h, json=body)
    await check.refused("emoji 33", "PUT", f"/messages/{scene.mid}/reactions/{'e' * 33}", {422}, headers=h)
    await check.refused("emoji space", "PUT", f"/messages/{scene.mid}/reactions/a%20b", {422}, headers=h)
    await check.refused("emoji tab", "PUT", f"/messages/{scene.mid}/reactions/a%09b", {422}, headers=h)
    check.assert_ok()


OVER_A_MEBIBYTE = orjson.dumps({"client_msg_id": "big", "body": "x" * (1 << 20)})


async def test_a_body_over_one_mebibyte_is_413(check: Checker, scene: Scene) -> None:
    url, headers = f"/conversations/{scene.cid}/messages", {**scene.me.headers, **JSON}
    r = await check.refused(
        "1 MiB, with a length", "POST", url, {413}, "too_large", content=OVER_A_MEBIBYTE, headers=headers
    )
    assert r.headers["content-type"] == "application/json"
    check.assert_ok()


async def test_a_streamed_body_over_one_mebibyte_is_413(check: Checker, scene: Scene) -> None:
    """Without a Content-Length (chunked), the limit is enforced while the body is read."""

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(OVER_A_MEBIBYTE), 65536):
            yield OVER_A_MEBIBYTE[i : i + 65536]

    url, headers = f"/conversations/{scene.cid}/messages", {**scene.me.headers, **JSON}
    await check.refused("1 MiB, chunked", "POST", url, {413}, "too_large", content=chunks(), headers=headers)
    check.assert_ok()


# --- query parameters ---------------------------------------------------------------------------


async def test_bad_query_parameters(check: Checker, scene: Scene) -> None:
    h, c = scene.me.headers, f"/conversations/{scene.cid}"
    for label, url in [
        ("no since", f"{c}/events"),
        ("since empty", f"{c}/events?since="),
        ("since negative", f"{c}/events?since=-1"),
        ("since huge", f"{c}/events?since={2**70}"),
        ("since text", f"{c}/events?since=abc"),
        ("since float", f"{c}/events?since=1.5"),
        ("limit 0", f"{c}/messages?limit=0"),
        ("limit 101", f"{c}/messages?limit=101"),
        ("limit huge", f"{c}/messages?limit={2**70}"),
        ("limit text", f"{c}/messages?limit=ten"),
        ("before negative", f"{c}/messages?before=-1"),
        ("after huge", f"{c}/messages?after={2**64}"),
        ("offset negative", "/conversations/public?offset=-1"),
        ("offset huge", "/conversations/public?offset=100001"),
        ("q 81", f"/conversations/public?q={'q' * 81}"),
        ("q nul", "/conversations/public?q=%00"),
        ("handle empty", "/users?handle="),
        ("handle missing", "/users"),
        ("handle 34", f"/users?handle={'h' * 34}"),
        ("handle punctuation", "/users?handle=a%27%3B--"),
        ("ids missing", "/presence"),
        ("ids empty", "/presence?ids="),
        ("ids gap", "/presence?ids=1,,2"),
        ("ids negative", "/presence?ids=-1"),
        ("ids text", "/presence?ids=a,b"),
        ("ids too long", "/presence?ids=" + ",".join(["1"] * 1001)),
    ]:
        await check.refused(label, "GET", url, {422}, headers=h)
    for label, url in [
        # Odd but well-formed: answered, not refused.
        ("ids beyond bigint", f"/presence?ids={10**30},{2**63}"),
        ("many ids", "/presence?ids=" + ",".join(str(i) for i in range(1, 400))),
        ("repeated since", f"{c}/events?since=0&since=1"),
        ("before and after", f"{c}/messages?before=1&after=5"),
        ("since past the end", f"{c}/events?since={2**63 - 1}"),
        ("q with wildcards", "/conversations/public?q=%25_%5C"),
        ("unknown parameter", f"{c}/messages?evil=1"),
    ]:
        await check.refused(label, "GET", url, {200}, headers=h)
    check.assert_ok()
