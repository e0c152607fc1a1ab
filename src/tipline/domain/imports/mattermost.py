"""Mattermost's bulk-import format (JSONL): one object per line, ``{"type": ..., <type>: {...}}``,
a ``version`` line first, then ``team``, ``channel``, ``user``, ``post`` (with ``replies``,
``reactions`` and ``attachments`` whose ``path`` is relative to the export's directory),
``direct_channel`` and ``direct_post``. Both directions: ``MattermostExport`` reads it,
``MattermostWriter`` writes it (``tipline export mattermost``).

Mapping (docs/subsystems/import.md): channels of type ``O`` -> public, ``P`` -> private, named
after their team ("team/channel") when the export has more than one team (``--team-as``);
direct channels of two -> direct, of more -> groups; posts and replies keep their time
(``create_at``, milliseconds) and ``edit_at``; ``@username`` becomes the imported handle.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from tipline.domain.imports.archive import inside, loads, unsafe_path
from tipline.domain.imports.schemas import (
    ConversationKind,
    FileSkipped,
    ImportConversation,
    ImportFile,
    ImportFormatError,
    ImportMessage,
    ImportReaction,
    ImportUser,
    Limits,
    Source,
    Summary,
    emoji_from_name,
    emoji_to_name,
)

TeamAs = Literal["auto", "prefix", "tag", "none"]
_MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._\-]{0,63})", re.IGNORECASE)
_SKIPPED_TYPES = {"scheme", "emoji", "role", "bot"}


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class MattermostExport:
    source: Source = "mattermost"

    def __init__(
        self,
        path: Path,
        *,
        attachments: Path | None = None,
        limits: Limits | None = None,
        team_as: TeamAs = "auto",
        max_file_bytes: int,
    ) -> None:
        self.path = path
        self.root = attachments if attachments is not None else path.parent
        self.limits = limits or Limits()
        self.team_as = team_as
        self.max_file_bytes = max_file_bytes
        self._teams: dict[str, str] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._directs: dict[str, tuple[str, ...]] = {}
        # (create_at, line offset, reply index or -1): the order messages are written in.
        self._order: list[tuple[int, int, int]] = []

    # --- the first pass ----------------------------------------------------------------------

    def _lines(self, fh: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
        offset = 0
        limit = self.limits.max_json_bytes
        for number, raw in enumerate(iter(lambda: fh.readline(limit + 1), b""), 1):
            if len(raw) > limit:
                raise ImportFormatError(f"line longer than {limit} bytes", file=self.name, line=number)
            yield number, offset, raw
            offset += len(raw)

    @property
    def name(self) -> str:
        return self.path.name

    def _parse(self, raw: bytes, number: int) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Invalid UTF-8 or lone surrogates: the lenient decoder keeps the line (with U+FFFD).
            return loads(raw, file=self.name, line=number)

    def validate(self) -> None:
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise ImportFormatError(f"cannot read the export ({exc.strerror})", file=str(self.path)) from exc
        with fh:
            seen_version = False
            for number, offset, raw in self._lines(fh):
                if not raw.strip():
                    continue
                item = self._parse(raw, number)
                kind = item.get("type") if isinstance(item, dict) else None
                if not isinstance(kind, str):
                    raise ImportFormatError('each line is an object with a "type"', file=self.name, line=number)
                if not seen_version:
                    if kind != "version" or item.get("version") != 1:
                        raise ImportFormatError(
                            'the first line must be {"type": "version", "version": 1}', file=self.name, line=number
                        )
                    seen_version = True
                    continue
                data = item.get(kind)
                if kind in _SKIPPED_TYPES or kind == "version":
                    continue
                if not isinstance(data, dict):
                    raise ImportFormatError(f'a "{kind}" line needs a "{kind}" object', file=self.name, line=number)
                check = getattr(self, f"_check_{kind}", None)
                if check is None:
                    raise ImportFormatError(f"unknown line type {kind!r}", file=self.name, line=number)
                check(data, number, offset)
            if not seen_version:
                raise ImportFormatError("empty export: no version line", file=self.name)
        self._order.sort()

    def _need(self, data: dict[str, Any], field: str, kind: type, number: int) -> Any:
        value = data.get(field)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise ImportFormatError(f"{field!r} is missing or not a {kind.__name__}", file=self.name, line=number)
        return value

    def _check_team(self, data: dict[str, Any], number: int, offset: int) -> None:
        name = self._need(data, "name", str, number)
        self._teams[name] = str(data.get("display_name") or name)

    def _check_channel(self, data: dict[str, Any], number: int, offset: int) -> None:
        team = self._need(data, "team", str, number)
        name = self._need(data, "name", str, number)
        if data.get("type") not in ("O", "P"):
            raise ImportFormatError('a channel\'s "type" is "O" or "P"', file=self.name, line=number)
        self._channels[f"{team}/{name}"] = data

    def _check_user(self, data: dict[str, Any], number: int, offset: int) -> None:
        username = self._need(data, "username", str, number)
        self._users[username] = data
        for team in data.get("teams") or []:
            if not isinstance(team, dict) or not isinstance(team.get("name"), str):
                raise ImportFormatError("a user's team has no name", file=self.name, line=number)
            for channel in team.get("channels") or []:
                if not isinstance(channel, dict) or not isinstance(channel.get("name"), str):
                    raise ImportFormatError("a user's channel has no name", file=self.name, line=number)
                self._memberships.setdefault(f"{team['name']}/{channel['name']}", set()).add(username)

    def _members(self, data: dict[str, Any], field: str, number: int) -> tuple[str, ...]:
        members = data.get(field)
        if not isinstance(members, list) or len(members) < 1 or not all(isinstance(m, str) for m in members):
            raise ImportFormatError(f"{field!r} must list usernames", file=self.name, line=number)
        return tuple(sorted(set(members)))

    def _check_direct_channel(self, data: dict[str, Any], number: int, offset: int) -> None:
        members = self._members(data, "members", number)
        self._directs.setdefault("dm:" + ",".join(members), members)

    def _check_post_like(self, data: dict[str, Any], number: int, offset: int) -> None:
        self._need(data, "user", str, number)
        self._need(data, "message", str, number)
        created = self._need(data, "create_at", int, number)
        self._check_attachments(data, number)
        for r in data.get("reactions") or []:
            ok = isinstance(r, dict) and isinstance(r.get("user"), str) and isinstance(r.get("emoji_name"), str)
            if not ok:
                raise ImportFormatError("a reaction needs a user and an emoji_name", file=self.name, line=number)
        self._order.append((created, offset, -1))
        replies = data.get("replies") or []
        if not isinstance(replies, list):
            raise ImportFormatError('"replies" must be a list', file=self.name, line=number)
        for i, reply in enumerate(replies):
            if not isinstance(reply, dict):
                raise ImportFormatError(f"reply {i} is not an object", file=self.name, line=number)
            self._need(reply, "user", str, number)
            self._need(reply, "message", str, number)
            self._check_attachments(reply, number)
            self._order.append((max(self._need(reply, "create_at", int, number), created), offset, i))

    def _check_post(self, data: dict[str, Any], number: int, offset: int) -> None:
        self._need(data, "team", str, number)
        self._need(data, "channel", str, number)
        self._check_post_like(data, number, offset)

    def _check_direct_post(self, data: dict[str, Any], number: int, offset: int) -> None:
        members = self._members(data, "channel_members", number)
        self._directs.setdefault("dm:" + ",".join(members), members)
        self._check_post_like(data, number, offset)

    def _check_attachments(self, data: dict[str, Any], number: int) -> None:
        for a in data.get("attachments") or []:
            path = a.get("path") if isinstance(a, dict) else None
            if not isinstance(path, str):
                raise ImportFormatError('an attachment needs a "path"', file=self.name, line=number)
            if unsafe_path(path):
                raise ImportFormatError(
                    f"attachment path {path!r} leaves the export's directory (refused, nothing was imported)",
                    file=self.name,
                    line=number,
                )

    # --- what the engine reads -----------------------------------------------------------------

    def users(self) -> list[ImportUser]:
        out = []
        for username, u in self._users.items():
            full = " ".join(str(u.get(k) or "") for k in ("first_name", "last_name")).strip()
            out.append(
                ImportUser(
                    key=username,
                    handle=username,
                    display_name=str(u.get("nickname") or full or username),
                    email=u.get("email") if isinstance(u.get("email"), str) else None,
                    active=not (isinstance(u.get("delete_at"), int) and u["delete_at"] > 0),
                )
            )
        return out

    def _conversation_name(self, team: str, display: str) -> str:
        many = len(self._teams) > 1
        team_name = self._teams.get(team, team)
        if self.team_as == "prefix" or (self.team_as == "auto" and many):
            return f"{team_name}/{display}"
        if self.team_as == "tag":
            return f"{display} [{team_name}]"
        return display

    def conversations(self) -> list[ImportConversation]:
        out = []
        for key, c in self._channels.items():
            team = key.split("/", 1)[0]
            out.append(
                ImportConversation(
                    key=key,
                    kind="public" if c["type"] == "O" else "private",
                    name=self._conversation_name(team, str(c.get("display_name") or c["name"])),
                    topic=str(c.get("purpose") or c.get("header") or ""),
                    member_keys=tuple(sorted(self._memberships.get(key, ()))),
                )
            )
        for key, members in self._directs.items():
            kind: ConversationKind = "direct" if len(members) <= 2 else "group"
            out.append(
                ImportConversation(
                    key=key,
                    kind=kind,
                    name="" if kind == "direct" else ", ".join(members),
                    topic="",
                    member_keys=members,
                )
            )
        return out

    def message_count(self) -> int:
        return len(self._order)

    def messages(self, handles: Mapping[str, str], summary: Summary) -> Iterator[ImportMessage]:
        # Lines are read again by offset in time order; a post's replies usually follow it closely,
        # so the last few thousand parsed lines are kept (with their keys).
        cache: OrderedDict[int, tuple[dict[str, Any], str, str]] = OrderedDict()
        with self.path.open("rb") as fh:
            for _, offset, index in self._order:
                hit = cache.get(offset)
                if hit is None:
                    fh.seek(offset)
                    item = self._parse(fh.readline(), 0)
                    kind = item["type"]
                    post = item[kind]
                    if kind == "post":
                        conv_key = f"{post['team']}/{post['channel']}"
                    else:
                        conv_key = "dm:" + ",".join(sorted(set(post["channel_members"])))
                    root_key = f"{conv_key}/{post['user']}/{post['create_at']}/{_hash(post['message'])}"
                    hit = cache[offset] = (post, conv_key, root_key)
                    if len(cache) > 4096:
                        cache.popitem(last=False)
                post, conv_key, root_key = hit
                if index < 0:
                    yield self._message(root_key, conv_key, post, None, handles)
                else:
                    reply = post["replies"][index]
                    key = f"{root_key}/r/{reply['user']}/{reply['create_at']}/{_hash(reply['message'])}"
                    yield self._message(key, conv_key, reply, root_key, handles)

    def _message(
        self, key: str, conv_key: str, post: dict[str, Any], parent: str | None, handles: Mapping[str, str]
    ) -> ImportMessage:
        mentions: list[str] = []

        def mention(match: re.Match[str]) -> str:
            username = match.group(1).rstrip(".")
            handle = handles.get(username)
            if handle is None:
                return match.group(0)
            mentions.append(username)
            return f"@{handle}{match.group(1)[len(username) :]}"

        text = post["message"]
        body = _MENTION.sub(mention, text) if "@" in text else text
        edit_at = post.get("edit_at")
        return ImportMessage(
            key=key,
            conversation_key=conv_key,
            author_key=post["user"],
            body=body,
            created_at=_ms(post["create_at"]),
            edited_at=_ms(edit_at) if isinstance(edit_at, int) and edit_at > 0 else None,
            parent_key=parent,
            reactions=[
                ImportReaction(
                    r["user"],
                    emoji_from_name(r["emoji_name"]),
                    _ms(r["create_at"]) if isinstance(r.get("create_at"), int) else _ms(post["create_at"]),
                )
                for r in post.get("reactions") or []
            ],
            files=[self._file(a["path"]) for a in post.get("attachments") or []],
            mention_keys=tuple(dict.fromkeys(mentions)),
        )

    def _file(self, relative: str) -> ImportFile:
        def read() -> bytes:
            path = inside(self.root, relative)
            try:
                size = path.stat().st_size
            except OSError:
                raise FileSkipped(f"{relative} is not in the attachments directory") from None
            if not path.is_file():
                raise FileSkipped(f"{relative} is not a file")
            if size > self.max_file_bytes:
                raise FileSkipped(f"{relative} has {size} bytes, more than {self.max_file_bytes}")
            return path.read_bytes()

        return ImportFile(name=relative.rsplit("/", 1)[-1], content_type="", read=read)

    def close(self) -> None:
        pass


# --- writing ---------------------------------------------------------------------------------


class MattermostWriter:
    """Writes the bulk-import format, one line at a time; attachments go under ``data_dir`` and
    each is named in its post by a path relative to the JSONL file's directory."""

    def __init__(self, out: IO[bytes], *, base_dir: Path, data_dir: Path) -> None:
        self.out = out
        self.base_dir = base_dir
        self.data_dir = data_dir
        self.lines = 0

    def line(self, kind: str, data: Any) -> None:
        obj = {"type": kind, "version": data} if kind == "version" else {"type": kind, kind: data}
        self.out.write(orjson.dumps(obj) + b"\n")
        self.lines += 1

    def attachment(self, upload_id: str, filename: str, data: bytes) -> dict[str, str]:
        folder = self.data_dir / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        safe = filename.replace("/", "_").replace("\\", "_").lstrip(".") or "file"
        target = folder / safe
        target.write_bytes(data)
        return {"path": target.relative_to(self.base_dir).as_posix()}


def reaction_out(emoji: str, user: str, at: datetime) -> dict[str, Any]:
    return {"user": user, "emoji_name": emoji_to_name(emoji), "create_at": int(at.timestamp() * 1000)}
