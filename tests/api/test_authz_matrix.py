"""Authorization matrix: every HTTP endpoint that takes a conversation, message, user or session
id, and every WebSocket frame that names a conversation, against every kind of caller, for every
conversation kind.

The rules (domain/conversations/access.py, domain/messages/access.py):

* anonymous: 401 ``not_authenticated``;
* a conversation the caller cannot see (not a member of a private channel, a group or a direct
  conversation; a former member is not a member): 404 with exactly the body a non-existent id
  gets;
* a public channel the caller is not in: they may read it and its member list and join it;
  every other conversation action answers 403 ``not_a_member``;
* a message of a conversation the caller is not in (public or not): 404 like a missing message;
* member-level actions (history, send, replay, read marker, reactions) are for any member;
  management (rename, archive, invite, remove) for admins and owners; roles for owners; a direct
  conversation cannot be managed at all (409); editing is for the author, deleting for the
  author and the managers.

Every refused call is followed by a read-back as the conversation's owner that must equal the one
taken before it: every event since seq 0 (each message in its current state, and every durable
change: a rename, an archive, a membership or a role change each take a seq), plus the member
list where a read marker (the one change without a seq) could have moved. Every allowed write is
followed by a read-back of what it should have changed.

Speed: the matrix has several hundred cases. Refused calls and reads run against one shared
world per conversation kind, built once for the module and rebuilt if a call changed it; each
allowed write gets a fresh world. The users are signed up once for the module, so this module
replaces conftest's per-test TRUNCATE by one at the end of the module (``http`` below).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Server, reset_database
from tests.helpers import PASSWORD, User, Ws, create_conversation, is_event, send_http, signup

GHOST = 2**62  # a valid id that names nothing
PROBE = "authz probe"
NEW_NAME, NEW_TOPIC, EDITED = "renamed by the caller", "topic set by the caller", "edited by the caller"
KEPT, ADDED = "👍", "🎉"  # the reaction a world starts with (unreact removes it); the one react adds

CURRENT = ("member", "admin", "owner")
# A member who left and one who was removed end up alike (no membership row): the matrix's former
# member was removed (after reacting to the message); the tests at the end cover both ways out.
ROLES = ("anonymous", "outsider", "former", *CURRENT)
WAYS_OUT = ("left", "removed")
DIRECT_ROLES = ("anonymous", "outsider", "member")  # in a DM both people are plain members
KINDS = ("private", "group", "public", "direct")
CAST = ("owner", "admin", "member", "target", "former", "outsider", "guest")

Snapshot = dict[str, Any]


def roles_of(kind: str) -> tuple[str, ...]:
    return DIRECT_ROLES if kind == "direct" else ROLES


# --- module fixtures: one cast of users, shared worlds ------------------------------------------


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces conftest's per-test TRUNCATE for this module; ``http`` truncates once at its end."""


async def _truncate(server: Server) -> None:
    await reset_database(server.database_url, server)


@pytest.fixture(scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client
    await _truncate(server)


@pytest.fixture(scope="module")
async def cast(http: httpx.AsyncClient) -> dict[str, User]:
    users = await asyncio.gather(*(signup(http, f"{name}_{uuid.uuid4().hex[:8]}") for name in CAST))
    return dict(zip(CAST, users, strict=True))


@dataclass
class World:
    """One conversation with a message by its owner, and a user in every role.

    ``users`` maps a role to its user, plus ``target`` (a plain member that management acts on)
    and ``guest`` (a user that invite adds). In a direct world ``owner`` is the person who
    opened the DM (the message's author) and ``member`` the other person.
    """

    kind: str
    cid: int
    mid: int
    seq: int  # the message's
    users: dict[str, User]

    @property
    def owner(self) -> User:
        return self.users["owner"]


async def all_ok(*calls: Awaitable[httpx.Response]) -> None:
    for r in await asyncio.gather(*calls):
        assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"


async def build_world(
    api: httpx.AsyncClient,
    cast: dict[str, User],
    kind: str,
    *,
    admin: bool = True,
    former: bool = False,
    reactors: tuple[str, ...] = (),
) -> World:
    """A fresh conversation. ``admin``: promote ``admin`` (else they stay a plain member);
    ``former``: add ``former``, then remove them (after they reacted, if they are ``reactors``);
    ``reactors`` react with KEPT to the message."""
    if kind == "direct":
        opener = await signup(api)  # one DM per pair: a fresh opener makes a fresh DM
        r = await api.post("/conversations/direct", headers=opener.headers, json={"user_id": cast["member"].id})
        assert r.status_code == 200, r.text
        cid = r.json()["id"]
        users = {"owner": opener, "member": cast["member"], "outsider": cast["outsider"], "target": opener}
        users["guest"] = cast["guest"]
        admin = former = False
    else:
        joined = ["admin", "member", "target", *(["former"] if former else [])]
        cid = (await create_conversation(api, cast["owner"], kind, [cast[r] for r in joined], name="matrix"))["id"]
        users = dict(cast)
    r = await send_http(api, users["owner"], cid, "the original")
    assert r.status_code == 201, r.text
    mid, seq = r.json()["message_id"], r.json()["seq"]
    setup = [api.put(f"/messages/{mid}/reactions/{KEPT}", headers=users[role].headers) for role in reactors]
    if admin:
        url = f"/conversations/{cid}/members/{users['admin'].id}"
        setup.append(api.patch(url, headers=users["owner"].headers, json={"role": "admin"}))
    await all_ok(*setup)
    if former:
        url = f"/conversations/{cid}/members/{users['former'].id}"
        await all_ok(api.delete(url, headers=users["owner"].headers))
    return World(kind=kind, cid=cid, mid=mid, seq=seq, users=users)


READ_BACK = {"conversation": "", "members": "/members", "events": "/events?since=0"}
EVERYTHING = ("members", "events")


def unchanged_check(name: str) -> tuple[str, ...]:
    """What to read back after a call that must change nothing: the events, and the members
    where a read marker (which changes without taking a seq) could move, or to see a member
    who joined again is still one."""
    return EVERYTHING if name in ("read", "join") else ("events",)


def same(before: Snapshot | None, after: Snapshot) -> bool:
    return before is not None and after == {part: before[part] for part in after}


async def snapshot(
    api: httpx.AsyncClient, world: World, reader: User | None = None, parts: tuple[str, ...] = EVERYTHING
) -> Snapshot:
    """What the owner reads back. By default the members (roles, read markers) and every event
    since seq 0: each message in its current state, and every durable change (a rename, an
    archive, a membership or a role change each take a seq)."""
    headers = (reader or world.owner).headers
    responses = await asyncio.gather(
        *(api.get(f"/conversations/{world.cid}{READ_BACK[part]}", headers=headers) for part in parts)
    )
    for r in responses:
        assert r.status_code == 200, f"read-back {r.request.url}: {r.status_code} {r.text}"
    return {part: r.json() for part, r in zip(parts, responses, strict=True)}


Prepare = Callable[[httpx.AsyncClient, World], Awaitable[None]]


class Worlds:
    """Shared worlds: one per kind (and per preparation, such as archiving it), with the
    read-back taken when it was built."""

    def __init__(self, api: httpx.AsyncClient, cast: dict[str, User]) -> None:
        self.api, self.cast = api, cast
        self._worlds: dict[tuple[str, Prepare | None], tuple[World, Snapshot]] = {}

    async def get(self, kind: str, prepare: Prepare | None = None) -> tuple[World, Snapshot]:
        if (kind, prepare) not in self._worlds:
            # The former members reacted before going: a reaction they must not be able to remove.
            reactors = () if kind == "direct" else ("former",)
            world = await build_world(self.api, self.cast, kind, former=kind != "direct", reactors=reactors)
            if prepare is not None:
                await prepare(self.api, world)
            self._worlds[kind, prepare] = (world, await snapshot(self.api, world))
        return self._worlds[kind, prepare]

    def discard(self, kind: str, prepare: Prepare | None = None) -> None:
        self._worlds.pop((kind, prepare), None)


@pytest.fixture(scope="module")
def worlds(http: httpx.AsyncClient, cast: dict[str, User]) -> Worlds:
    return Worlds(http, cast)


# --- reading a read-back ------------------------------------------------------------------------


def roles_in(snap: Snapshot) -> dict[int, str]:
    return {m["user"]["id"]: m["role"] for m in snap["members"]["members"]}


def marker_of(snap: Snapshot, user: User) -> int:
    return next(m["last_read_seq"] for m in snap["members"]["members"] if m["user"]["id"] == user.id)


def messages_in(snap: Snapshot) -> list[dict[str, Any]]:
    return [e["data"] for e in snap["events"]["events"] if e["event"] == "message.created"]


def message_in(snap: Snapshot, mid: int) -> dict[str, Any]:
    return next(m for m in messages_in(snap) if m["id"] == mid)


def reactors_of(message: dict[str, Any], emoji: str) -> list[int]:
    return next((r["user_ids"] for r in message["reactions"] if r["emoji"] == emoji), [])


# --- what an allowed write changes --------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    reads: tuple[str, ...]  # the parts of the read-back it needs
    check: Callable[[World, User, Snapshot], bool]


SENT = Effect(("events",), lambda w, u, s: [m["sender_id"] for m in messages_in(s) if m["body"] == PROBE] == [u.id])
MARKED_READ = Effect(("members",), lambda w, u, s: marker_of(s, u) == w.seq)
RENAMED = Effect(
    ("conversation",), lambda w, u, s: (s["conversation"]["name"], s["conversation"]["topic"]) == (NEW_NAME, NEW_TOPIC)
)
ARCHIVED = Effect(("conversation",), lambda w, u, s: s["conversation"]["archived"] is True)
UNARCHIVED = Effect(("conversation",), lambda w, u, s: s["conversation"]["archived"] is False)
IS_MEMBER = Effect(("members",), lambda w, u, s: u.id in roles_in(s))
# The last owner's successor is promoted when they leave.
HAS_LEFT = Effect(("members",), lambda w, u, s: u.id not in roles_in(s) and "owner" in roles_in(s).values())
GUEST_IN = Effect(("members",), lambda w, u, s: roles_in(s).get(w.users["guest"].id) == "member")
TARGET_OUT = Effect(("members",), lambda w, u, s: w.users["target"].id not in roles_in(s))
TARGET_ADMIN = Effect(("members",), lambda w, u, s: roles_in(s).get(w.users["target"].id) == "admin")
EDITED_IT = Effect(("events",), lambda w, u, s: message_in(s, w.mid)["body"] == EDITED)
DELETED_IT = Effect(("events",), lambda w, u, s: message_in(s, w.mid)["deleted"] is True)
REACTED = Effect(("events",), lambda w, u, s: u.id in reactors_of(message_in(s, w.mid), ADDED))
UNREACTED = Effect(("events",), lambda w, u, s: u.id not in reactors_of(message_in(s, w.mid), KEPT))


async def archive_first(api: httpx.AsyncClient, w: World) -> None:
    await all_ok(api.post(f"/conversations/{w.cid}/archive", headers=w.owner.headers))


# --- the HTTP endpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {cid}, {mid}, {target}, {kept}, {added}
    level: str  # see | join | member | leave | manage | own | message | author | author_or_manager
    status: int  # on success
    body: Callable[[World], dict[str, Any]] | None = None
    effect: Effect | None = None  # what an allowed call changes; None: a plain read
    prepare: Prepare | None = None  # done to the world first (as its owner)

    @property
    def names_message(self) -> bool:
        return self.path.startswith("/messages")

    def url(self, w: World, *, ghost: bool = False) -> str:
        cid = GHOST if ghost and not self.names_message else w.cid
        mid = GHOST if ghost and self.names_message else w.mid
        return self.path.format(cid=cid, mid=mid, target=w.users["target"].id, kept=KEPT, added=ADDED)

    def writes(self, role: str) -> bool:
        """Whether an allowed call by ``role`` changes anything (joining again does not)."""
        return self.effect is not None and not (self.level == "join" and role in CURRENT)


ENDPOINTS = [
    Endpoint("get", "GET", "/conversations/{cid}", "see", 200),
    Endpoint("members", "GET", "/conversations/{cid}/members", "see", 200),
    Endpoint("join", "POST", "/conversations/{cid}/join", "join", 200, effect=IS_MEMBER),
    Endpoint("history", "GET", "/conversations/{cid}/messages", "member", 200),
    Endpoint("replay", "GET", "/conversations/{cid}/events?since=0", "member", 200),
    Endpoint(
        "send",
        "POST",
        "/conversations/{cid}/messages",
        "member",
        201,
        lambda w: {"client_msg_id": uuid.uuid4().hex, "body": PROBE},
        SENT,
    ),
    Endpoint("read", "POST", "/conversations/{cid}/read", "member", 200, lambda w: {"seq": w.seq}, MARKED_READ),
    Endpoint("leave", "POST", "/conversations/{cid}/leave", "leave", 204, effect=HAS_LEFT),
    Endpoint(
        "rename",
        "PATCH",
        "/conversations/{cid}",
        "manage",
        200,
        lambda w: {"name": NEW_NAME, "topic": NEW_TOPIC},
        RENAMED,
    ),
    Endpoint("archive", "POST", "/conversations/{cid}/archive", "manage", 200, effect=ARCHIVED),
    Endpoint(
        "unarchive", "POST", "/conversations/{cid}/unarchive", "manage", 200, effect=UNARCHIVED, prepare=archive_first
    ),
    Endpoint(
        "invite",
        "POST",
        "/conversations/{cid}/members",
        "manage",
        201,
        lambda w: {"user_id": w.users["guest"].id},
        GUEST_IN,
    ),
    Endpoint("remove", "DELETE", "/conversations/{cid}/members/{target}", "manage", 204, effect=TARGET_OUT),
    Endpoint(
        "change_role",
        "PATCH",
        "/conversations/{cid}/members/{target}",
        "own",
        200,
        lambda w: {"role": "admin"},
        TARGET_ADMIN,
    ),
    Endpoint("get_message", "GET", "/messages/{mid}", "message", 200),
    Endpoint("replies", "GET", "/messages/{mid}/replies", "message", 200),
    Endpoint("react", "PUT", "/messages/{mid}/reactions/{added}", "message", 200, effect=REACTED),
    Endpoint("unreact", "DELETE", "/messages/{mid}/reactions/{kept}", "message", 200, effect=UNREACTED),
    Endpoint("edit", "PATCH", "/messages/{mid}", "author", 200, lambda w: {"body": EDITED}, EDITED_IT),
    Endpoint("delete", "DELETE", "/messages/{mid}", "author_or_manager", 200, effect=DELETED_IT),
]


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None
    hidden: bool = False  # must be indistinguishable from a non-existent id

    @property
    def ok(self) -> bool:
        return self.status < 300


UNAUTHENTICATED = Outcome(401, "not_authenticated")
NOT_A_MEMBER = Outcome(403, "not_a_member")
NOT_AN_ADMIN = Outcome(403, "not_an_admin")
NOT_AN_OWNER = Outcome(403, "not_an_owner")
NOT_AUTHOR = Outcome(403, "not_author")
DIRECT = Outcome(409, "direct_conversation")


def expected(ep: Endpoint, kind: str, role: str) -> Outcome:
    if role == "anonymous":
        return UNAUTHENTICATED
    if role not in CURRENT:
        if ep.names_message:
            return Outcome(404, "message_not_found", hidden=True)
        if kind != "public":
            return Outcome(404, "not_found", hidden=True)
        return Outcome(ep.status) if ep.level in ("see", "join") else NOT_A_MEMBER
    if kind == "direct" and ep.level in ("leave", "manage", "own"):
        return DIRECT
    if ep.level == "manage" and role == "member":
        return NOT_AN_ADMIN
    if ep.level == "own" and role != "owner":
        return NOT_AN_OWNER
    if ep.level == "author" and role != "owner":  # the world's message is the owner's
        return NOT_AUTHOR
    if ep.level == "author_or_manager" and role == "member":
        return NOT_AUTHOR
    return Outcome(ep.status)


async def call(
    api: httpx.AsyncClient, ep: Endpoint, w: World, caller: User | None, *, ghost: bool = False
) -> httpx.Response:
    headers = caller.headers if caller is not None else {}
    body = ep.body(w) if ep.body is not None else None
    return await api.request(ep.method, ep.url(w, ghost=ghost), headers=headers, json=body)


HTTP_CASES = [
    pytest.param(ep, kind, role, id=f"{ep.name}-{kind}-{role}")
    for ep in ENDPOINTS
    for kind in KINDS
    for role in roles_of(kind)
]


@pytest.mark.parametrize(("ep", "kind", "role"), HTTP_CASES)
async def test_http(
    http: httpx.AsyncClient, cast: dict[str, User], worlds: Worlds, ep: Endpoint, kind: str, role: str
) -> None:
    want = expected(ep, kind, role)
    writes = want.ok and ep.writes(role)
    prepare = ep.prepare if kind != "direct" else None  # a DM cannot be archived
    before: Snapshot | None = None
    if writes:
        reactors = (role,) if ep.name == "unreact" else ()
        world = await build_world(http, cast, kind, admin=role == "admin", former=role == "former", reactors=reactors)
        if prepare is not None:
            await prepare(http, world)
    else:
        world, before = await worlds.get(kind, prepare)
    caller = world.users.get(role)

    r = await call(http, ep, world, caller)
    ghost = await call(http, ep, world, caller, ghost=True) if want.hidden else None
    after: Snapshot | None = None
    if ep.effect is not None:  # not a plain read: read back
        # The owner may have just left (someone else was made owner): a member who stayed reads back.
        reader = world.users["member"] if ep.name == "leave" and role == "owner" else None
        after = await snapshot(http, world, reader, ep.effect.reads if writes else unchanged_check(ep.name))
        if not writes and not same(before, after):
            worlds.discard(kind, prepare)  # a refused call changed something: later cases get a new world

    assert r.status_code == want.status, f"{r.status_code} {r.text}"
    if want.code is not None:
        assert r.json()["code"] == want.code, r.text
    if want.status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    if ghost is not None:
        # Indistinguishable from an id that names nothing.
        assert (r.status_code, r.json()) == (ghost.status_code, ghost.json())
    if after is not None:
        if want.ok:
            assert caller is not None and ep.effect is not None
            assert ep.effect.check(world, caller, after), after
        if not writes:
            assert same(before, after), f"a refused call changed the conversation: {after}"


# --- WebSocket frames ---------------------------------------------------------------------------

FRAMES = ("send", "typing", "read", "resume")
ECHOED = ("ref", "conversation_id", "client_msg_id")  # error-frame fields that repeat the input


def ws_frame(name: str, w: World, cid: int, ref: str) -> dict[str, Any]:
    if name == "send":
        return {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": PROBE, "ref": ref}
    if name == "typing":
        return {"type": "typing", "conversation_id": cid, "ref": ref}
    if name == "read":
        return {"type": "read", "conversation_id": cid, "seq": w.seq, "ref": ref}
    return {"type": "resume", "since": {str(cid): 0}, "ref": ref}


def is_reply(kind: str, ref: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and f.get("ref") == ref


def without_echo(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k not in ECHOED}


async def check_allowed_frame(ws: Ws, name: str, w: World, caller: User) -> None:
    if name == "send":
        ack = await ws.expect("ack")
        assert ack["ref"] == "probe" and ack["conversation_id"] == w.cid
    elif name == "typing":
        typing = await ws.expect(lambda f: f.get("type") == "typing" and f.get("conversation_id") == w.cid)
        assert typing["user_id"] == caller.id
    elif name == "read":
        read = await ws.expect(lambda f: f.get("type") == "read" and f.get("user_id") == caller.id)
        assert (read["conversation_id"], read["seq"]) == (w.cid, w.seq)
    else:
        resumed = await ws.expect(is_reply("resumed", "probe"))
        assert resumed["conversation_id"] == w.cid and resumed["last_seq"] >= w.seq
        await ws.expect(is_event("message.created", id=w.mid))  # replayed before `resumed`


WS_CASES = [
    pytest.param(frame, kind, role, id=f"{frame}-{kind}-{role}")
    for frame in FRAMES
    for kind in KINDS
    for role in roles_of(kind)
]


@pytest.mark.parametrize(("frame", "kind", "role"), WS_CASES)
async def test_ws(
    server: Server, http: httpx.AsyncClient, cast: dict[str, User], worlds: Worlds, frame: str, kind: str, role: str
) -> None:
    allowed = role in CURRENT
    writes = allowed and frame in ("send", "read")
    before: Snapshot | None = None
    if writes:
        world = await build_world(http, cast, kind, admin=role == "admin")
    else:
        world, before = await worlds.get(kind)
    caller = world.users.get(role)
    ws = await Ws.open(server.ws_url, caller)  # no user: a socket that never authenticates
    try:
        await ws.send(ws_frame(frame, world, world.cid, "probe"))
        if caller is None:
            error = await ws.expect("error")
            assert error["code"] == "auth_required"
            await asyncio.wait_for(ws.conn.wait_closed(), 5)
            assert ws.conn.close_code == 4001
            return
        if allowed:
            await check_allowed_frame(ws, frame, world, caller)
        else:
            error = await ws.expect(is_reply("error", "probe"))
            if kind == "public":
                # The same answer as over HTTP: the channel is public, the caller must join it first.
                assert error["code"] == "not_a_member", error
            else:
                assert error["code"] == "not_found", error
                await ws.send(ws_frame(frame, world, GHOST, "ghost"))
                ghost = await ws.expect(is_reply("error", "ghost"))
                assert without_echo(error) == without_echo(ghost)
        # A refused frame does not end the socket.
        await ws.send({"type": "ping", "ref": "still-open"})
        await ws.expect(is_reply("pong", "still-open"))
    finally:
        await ws.close()
        if frame in ("send", "read"):  # typing and resume store nothing
            effect = SENT if frame == "send" else MARKED_READ
            after = await snapshot(http, world, parts=effect.reads if writes else unchanged_check(frame))
            if writes:
                assert caller is not None and effect.check(world, caller, after), after
            elif not same(before, after):
                worlds.discard(kind)
                raise AssertionError("a refused frame changed the conversation")


# --- former members -----------------------------------------------------------------------------


async def make_former(api: httpx.AsyncClient, w: World, how: str, user: User) -> None:
    if how == "left":
        r = await api.post(f"/conversations/{w.cid}/leave", headers=user.headers)
    else:
        r = await api.delete(f"/conversations/{w.cid}/members/{user.id}", headers=w.owner.headers)
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("how", WAYS_OUT)
@pytest.mark.parametrize("kind", ["private", "group", "public"])
async def test_former_member_receives_nothing_and_cannot_replay(
    server: Server, http: httpx.AsyncClient, cast: dict[str, User], kind: str, how: str
) -> None:
    world = await build_world(http, cast, kind)
    cid, owner, victim, still = world.cid, world.owner, world.users["member"], world.users["admin"]
    w_victim, w_still = await Ws.open(server.ws_url, victim), await Ws.open(server.ws_url, still)
    try:
        await make_former(http, world, how, victim)
        # The victim's own client is told, then nothing more.
        await w_victim.expect(is_event(f"member.{how}", user_id=victim.id))
        acks = []
        for i in range(3):
            r = await send_http(http, owner, cid, f"after the {how} #{i}")
            assert r.status_code == 201
            acks.append(r.json())
        await all_ok(
            http.patch(f"/messages/{acks[0]['message_id']}", headers=owner.headers, json={"body": "edited"}),
            http.put(f"/messages/{acks[1]['message_id']}/reactions/{ADDED}", headers=owner.headers),
            http.post(f"/conversations/{cid}/read", headers=owner.headers, json={"seq": acks[2]["seq"]}),
        )
        await w_still.send({"type": "typing", "conversation_id": cid})
        # Positive control: a current member got all of it.
        for ack in acks:
            await w_still.expect(is_event("message.created", id=ack["message_id"]))
        await w_still.expect(is_event("reaction.added"))
        await w_still.expect(lambda f: f.get("type") == "typing" and f.get("conversation_id") == cid)
        # The hub hands an event to every socket on its topic at once: a short window is enough.
        assert [f for f in await w_victim.collect(0.15) if f.get("conversation_id") == cid] == []

        # No replay over the socket...
        await w_victim.send({"type": "resume", "since": {str(cid): 0}, "ref": "resume"})
        error = await w_victim.expect(is_reply("error", "resume"))
        assert error["conversation_id"] == cid
        assert error["code"] == ("not_a_member" if kind == "public" else "not_found")
        await w_victim.send({"type": "ping", "ref": "after"})
        await w_victim.expect(is_reply("pong", "after"))
        assert [f for f in w_victim.buffer if f.get("conversation_id") == cid] == []

        # ...nor over HTTP...
        r = await http.get(f"/conversations/{cid}/events", params={"since": 0}, headers=victim.headers)
        if kind == "public":
            assert r.status_code == 403 and r.json()["code"] == "not_a_member"
        else:
            missing = await http.get(f"/conversations/{GHOST}/events", params={"since": 0}, headers=victim.headers)
            assert r.status_code == 404 and r.json() == missing.json()

        # ...and a new socket does not subscribe to the conversation either.
        w_new = await Ws.open(server.ws_url, victim, wait_ready=False)
        try:
            ready = await w_new.expect("ready")
            assert cid not in [c["id"] for c in ready["conversations"]]
            await send_http(http, owner, cid, "one more")
            await w_still.expect(lambda f: f.get("event") == "message.created" and f["data"]["body"] == "one more")
            assert [f for f in await w_new.collect(0.1) if f.get("conversation_id") == cid] == []
        finally:
            await w_new.close()
    finally:
        await w_victim.close()
        await w_still.close()


@pytest.mark.parametrize("how", WAYS_OUT)
@pytest.mark.parametrize("kind", ["private", "group", "public"])
async def test_former_member_loses_the_conversation_and_their_own_messages(
    http: httpx.AsyncClient, cast: dict[str, User], kind: str, how: str
) -> None:
    world = await build_world(http, cast, kind, admin=False)
    author = world.users["member"]
    r = await send_http(http, author, world.cid, "mine")
    assert r.status_code == 201
    mid = r.json()["message_id"]
    await all_ok(http.put(f"/messages/{mid}/reactions/{KEPT}", headers=author.headers))
    await make_former(http, world, how, author)
    before = await snapshot(http, world)
    for method, suffix, body in [
        ("GET", "", None),
        ("GET", "/members", None),
        ("GET", "/messages", None),
        ("POST", "/messages", {"client_msg_id": "still-here", "body": "still here?"}),
        ("POST", "/read", {"seq": 1}),
    ]:
        r = await http.request(method, f"/conversations/{world.cid}{suffix}", headers=author.headers, json=body)
        if kind == "public":  # still visible, like to anyone, but no longer theirs to use
            assert r.status_code == (200 if method == "GET" and suffix in ("", "/members") else 403), suffix
        else:
            ghost = await http.request(method, f"/conversations/{GHOST}{suffix}", headers=author.headers, json=body)
            assert (r.status_code, r.json()) == (404, ghost.json()), suffix
    missing = (await http.get(f"/messages/{GHOST}", headers=author.headers)).json()
    for method, path, body in [
        ("GET", f"/messages/{mid}", None),
        ("GET", f"/messages/{mid}/replies", None),
        ("PATCH", f"/messages/{mid}", {"body": "rewritten after leaving"}),
        ("DELETE", f"/messages/{mid}", None),
        ("PUT", f"/messages/{mid}/reactions/{ADDED}", None),
        ("DELETE", f"/messages/{mid}/reactions/{KEPT}", None),
    ]:
        r = await http.request(method, path, headers=author.headers, json=body)
        assert (r.status_code, r.json()) == (404, missing), f"{method} {path}"
    after = await snapshot(http, world)
    assert after == before
    mine = message_in(after, mid)
    assert mine["body"] == "mine" and not mine["deleted"] and reactors_of(mine, KEPT) == [author.id]


# --- user and session ids -----------------------------------------------------------------------

PUBLIC_ROUTES = {
    "/auth/signup",
    "/auth/signin",
    "/auth/refresh",
    # Finishing a sign-up: the mailed single-use token is the proof; tests/api/test_auth.py.
    "/auth/verify",
    "/auth/verify/resend",
    # A password reset and a new address's confirmation: the mailed single-use token is the proof;
    # tests/api/test_auth.py and tests/security/test_reset_attacks.py.
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/email/confirm",
    "/auth/siwe/nonce",
    "/auth/siwe/signin",
    "/healthz",
    "/readyz",
    # Signing in with a provider: each step proves itself (state, browser cookie, hand-off); tests/api/test_oidc.py.
    "/auth/oidc/providers",
    "/auth/oidc/{provider}/start",
    "/auth/oidc/{provider}/callback",
    "/auth/oidc/complete",
    # A sign-in's second step and a passwordless passkey sign-in: the single-use challenge (after a
    # password) or the passkey's signature is the proof; tests/api/test_twofactor.py and
    # tests/security/test_twofactor_attacks.py.
    "/auth/2fa/verify",
    "/auth/2fa/passkey/options",
    "/auth/passkey/options",
    "/auth/passkey/verify",
    # What the sign-up page shows (sign-up mode, allowed email domains); tests/api/test_server_settings.py.
    "/auth/signup-info",
    # Posting to an incoming webhook: its secret (header or URL) is the proof; tests/api/test_webhooks.py.
    "/hooks/incoming/{hook_id}",
    "/hooks/incoming/{hook_id}/{secret}",
}


async def test_every_route_but_signing_in_requires_a_token(http: httpx.AsyncClient) -> None:
    """Walks the OpenAPI document, so a route added without authentication fails here."""
    spec = (await http.get("/openapi.json")).json()
    checked = []
    for path, methods in spec["paths"].items():
        if path in PUBLIC_ROUTES:
            continue
        url = path.replace("{session_id}", str(uuid.uuid4())).replace("{emoji}", "x")
        url = url.replace("{conversation_id}", "1").replace("{message_id}", "1").replace("{user_id}", "1")
        url = url.replace("{wallet_id}", "1").replace("{passkey_id}", "AAAA")
        url = url.replace("{bot_id}", "1").replace("{token_id}", str(uuid.uuid4()))
        url = url.replace("{hook_id}", "1").replace("{command_id}", "1")
        for method in methods:
            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                r = await http.request(method.upper(), url, headers=headers, params={"since": 0, "ids": "1"})
                assert r.status_code == 401, f"{method.upper()} {path} {headers}: {r.status_code} {r.text}"
                assert r.json()["code"] in ("not_authenticated", "invalid_token")
            checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 30, checked


async def test_profiles_are_for_signed_in_users_and_minimal(http: httpx.AsyncClient, cast: dict[str, User]) -> None:
    target, stranger = cast["target"], cast["outsider"]
    assert (await http.get(f"/users/{target.id}")).status_code == 401
    assert (await http.get("/users", params={"handle": target.handle})).status_code == 401
    for url, params in ((f"/users/{target.id}", None), ("/users", {"handle": target.handle})):
        r = await http.get(url, params=params, headers=stranger.headers)
        assert r.status_code == 200
        # The profile card's public fields (status, time zone: issue 19) and nothing else: no email.
        assert r.json() == {
            "id": target.id,
            "handle": target.handle,
            "display_name": target.handle.title(),
            "is_bot": False,
            "status": None,
            "timezone": None,
        }
    # Linked wallets are not for strangers (tests/api/test_profile_card.py has every relation): one
    # who shares no conversation at all with the target (the cast's outsider may, by now).
    nobody = await signup(http)
    r = await http.get(f"/users/{target.id}/wallets", headers=nobody.headers)
    assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    r = await http.get(f"/users/{GHOST}", headers=stranger.headers)
    assert r.status_code == 404 and r.json()["code"] == "user_not_found"


@pytest.mark.parametrize(
    ("relation", "visible"),
    [("self", True), ("fellow", True), ("former", False), ("stranger", False), ("anonymous", None)],
)
async def test_presence_only_of_people_who_share_a_conversation(
    http: httpx.AsyncClient, relation: str, visible: bool | None
) -> None:
    me, fellow, former, stranger = await asyncio.gather(*(signup(http) for _ in range(4)))
    cid = (await create_conversation(http, me, "group", [fellow, former]))["id"]
    await all_ok(http.post(f"/conversations/{cid}/leave", headers=former.headers))
    asker = {"self": me, "fellow": fellow, "former": former, "stranger": stranger}.get(relation)
    r = await http.get("/presence", params={"ids": str(me.id)}, headers=asker.headers if asker else {})
    if asker is None:
        assert r.status_code == 401
        return
    assert r.status_code == 200
    assert r.json() == ({str(me.id): "offline"} if visible else {})


@pytest.mark.parametrize("whose", ["mine", "someone_elses", "nobodys", "anonymous"])
async def test_sessions_are_revoked_only_by_their_owner(http: httpx.AsyncClient, whose: str) -> None:
    me, other = await signup(http), await signup(http)
    second = await http.post("/auth/signin", json={"email": me.email, "password": PASSWORD})
    assert second.status_code == 200
    session = {"mine": second.json()["session_id"], "someone_elses": other.session_id}.get(whose, str(uuid.uuid4()))
    r = await http.delete(f"/me/sessions/{session}", headers={} if whose == "anonymous" else me.headers)
    if whose == "anonymous":
        assert r.status_code == 401
    elif whose == "mine":
        assert r.status_code == 204
        token = second.json()["access_token"]
        assert (await http.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    else:
        missing = await http.delete(f"/me/sessions/{uuid.uuid4()}", headers=me.headers)
        assert (r.status_code, r.json()) == (404, missing.json())
    # Nobody else was signed out.
    assert (await http.get("/me", headers=other.headers)).status_code == 200
    assert (await http.get("/me", headers=me.headers)).status_code == 200
