"""Slack's workspace export (a ZIP): users.json, channels.json, groups.json, dms.json,
mpims.json, and one folder per conversation holding one JSON array of messages per day.

Mapping (docs/subsystems/import.md): channels -> public (or private when marked so), groups ->
private, mpims -> groups, dms -> direct conversations; thread replies (``thread_ts`` other than
their own ``ts``) -> replies to the thread's root; ``edited`` -> edited time; reactions per user;
files from the archive (``__uploads/<file id>/...``, as export tools add them) or, with
``--fetch-files``, by URL through the guarded fetcher. Slack's markup is turned to text:
``<@U123>`` -> ``@handle`` (a mention), ``<#C123|name>`` -> ``#name``, ``<!here>`` -> ``@here``,
``<url|label>`` -> ``label (url)``, and ``&lt; &gt; &amp;`` unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tipline.domain.imports.archive import SafeZip
from tipline.domain.imports.fetch import Fetcher
from tipline.domain.imports.schemas import (
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
)

# Messages people wrote; every other subtype is a system notice (joins, topic changes, pins...).
KEPT_SUBTYPES = {None, "bot_message", "file_share", "thread_broadcast", "me_message", "reply_broadcast"}
_MARKUP = re.compile(r"<([^<>\n]{1,4000})>")
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
LISTS = (("channels.json", "public"), ("groups.json", "private"), ("mpims.json", "group"), ("dms.json", "direct"))


def parse_ts(value: Any, *, file: str) -> datetime:
    """Slack's ``ts``, "1355517523.000005": seconds, then a per-second counter used as microseconds."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,12}(\.\d{1,6})?", value):
        raise ImportFormatError(f"message timestamp {value!r} is not Slack's seconds.micro form", file=file)
    secs, _, frac = value.partition(".")
    return datetime.fromtimestamp(int(secs), UTC) + timedelta(microseconds=int(frac.ljust(6, "0") or 0))


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def convert_text(
    text: str, *, handles: Mapping[str, str], channel_names: Mapping[str, str]
) -> tuple[str, tuple[str, ...]]:
    """Slack markup to plain text; also the user keys it mentions."""
    mentioned: list[str] = []

    def one(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            uid = target[1:]
            mentioned.append(uid)
            handle = handles.get(uid)
            return f"@{handle}" if handle else f"@{label or uid}"
        if target.startswith("#"):
            return f"#{label or channel_names.get(target[1:], target[1:])}"
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            if special in ("here", "channel", "everyone"):
                return f"@{special}"
            return label or f"@{special}"
        if target.startswith("mailto:"):
            return label or target[7:]
        if label and label != target:
            return f"{label} ({target})"
        return target

    return unescape(_MARKUP.sub(one, text)), tuple(dict.fromkeys(mentioned))


@dataclass
class _Conv:
    conv: ImportConversation
    folder: str


class SlackExport:
    source: Source = "slack"

    def __init__(
        self, path: Path, *, limits: Limits | None = None, fetcher: Fetcher | None = None, max_file_bytes: int
    ) -> None:
        self.path = path
        self.limits = limits or Limits()
        self.fetcher = fetcher
        self.max_file_bytes = max_file_bytes
        self._zip: SafeZip | None = None
        self._users: list[ImportUser] = []
        self._convs: list[_Conv] = []
        self._channel_names: dict[str, str] = {}
        self._count = 0
        self._uploads: dict[str, str] = {}  # Slack file id -> archive entry
        self._prefix = ""

    # --- the first pass: everything checked, nothing written --------------------------------

    def validate(self) -> None:
        self._zip = zf = SafeZip(self.path, self.limits)
        self._prefix = prefix = self._find_prefix(zf)
        known = self._read_users(zf, prefix)
        if not any(prefix + name in zf.entries for name, _ in LISTS):
            raise ImportFormatError("not a Slack export: no channels.json, groups.json, dms.json or mpims.json")
        for list_name, kind in LISTS:
            if prefix + list_name in zf.entries:
                self._read_conversations(prefix, list_name, kind)
        for name in zf.entries:
            parts = name[len(prefix) :].split("/")
            if name.startswith(prefix) and len(parts) >= 3 and parts[0] == "__uploads":
                self._uploads.setdefault(parts[1], name)
        self._scan_days(known)

    def _find_prefix(self, zf: SafeZip) -> str:
        """Where the files start: at the top of the zip, or in the one folder some tools wrap them in."""
        if "users.json" in zf.entries or "org_users.json" in zf.entries:
            return ""
        tops = {name.split("/", 1)[0] for name in zf.entries if "/" in name}
        for top in tops:
            if f"{top}/users.json" in zf.entries or f"{top}/org_users.json" in zf.entries:
                return f"{top}/"
        raise ImportFormatError("not a Slack export: no users.json", file=str(self.path))

    def _read_users(self, zf: SafeZip, prefix: str) -> set[str]:
        """users.json (or org_users.json) into import users; the ids it names."""
        users_name = prefix + ("users.json" if prefix + "users.json" in zf.entries else "org_users.json")
        known: set[str] = set()
        for i, u in enumerate(self._list(users_name)):
            if not isinstance(u, dict) or not isinstance(u.get("id"), str):
                raise ImportFormatError(f"user {i} has no id", file=users_name)
            profile: dict[str, Any] = u["profile"] if isinstance(u.get("profile"), dict) else {}
            email = profile.get("email") if isinstance(profile.get("email"), str) else None
            name = str(u.get("name") or profile.get("display_name") or u["id"])
            display = str(profile.get("real_name") or u.get("real_name") or profile.get("display_name") or name)
            self._users.append(
                ImportUser(
                    key=u["id"],
                    handle=name,
                    display_name=display,
                    email=email,
                    active=not u.get("deleted", False),
                    bot=bool(u.get("is_bot")),
                )
            )
            known.add(u["id"])
        return known

    def _read_conversations(self, prefix: str, list_name: str, kind: str) -> None:
        """One of channels.json, groups.json, dms.json, mpims.json."""
        for i, c in enumerate(self._list(prefix + list_name)):
            if not isinstance(c, dict) or not isinstance(c.get("id"), str):
                raise ImportFormatError(f"conversation {i} has no id", file=prefix + list_name)
            members = c.get("members") or []
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ImportFormatError(f"conversation {c['id']}: members is not a list of ids", file=list_name)
            real_kind = "private" if kind == "public" and c.get("is_private") else kind
            name = str(c.get("name") or c["id"])
            self._channel_names[c["id"]] = name
            folder = name if kind != "direct" else c["id"]
            if f"{prefix}{folder}/" not in self._folders() and f"{prefix}{c['id']}/" in self._folders():
                folder = c["id"]
            created = c.get("created")
            conversation = ImportConversation(
                key=c["id"],
                kind=real_kind,  # type: ignore[arg-type]
                name=name,
                topic=str(_value(c.get("purpose")) or _value(c.get("topic")) or ""),
                member_keys=tuple(members),
                creator_key=c.get("creator") if isinstance(c.get("creator"), str) else None,
                created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
                archived=bool(c.get("is_archived")),
            )
            self._convs.append(_Conv(conversation, folder))

    def _scan_days(self, known: set[str]) -> None:
        """Every day file parsed once now, so a malformed one stops the import before it starts;
        authors missing from users.json become placeholder users."""
        extra: dict[str, ImportUser] = {}
        for conv in self._convs:
            for day in self._days(conv.folder):
                for i, m in enumerate(self._list(day)):
                    if not isinstance(m, dict):
                        raise ImportFormatError(f"message {i} is not an object", file=day)
                    parse_ts(m.get("ts"), file=day)
                    author = self._author(m)
                    if author is not None and author not in known and author not in extra:
                        extra[author] = self._placeholder(author, m)
                    self._count += 1
        self._users.extend(extra.values())

    def _placeholder(self, author: str, m: dict[str, Any]) -> ImportUser:
        """An author missing from users.json (a bot, an integration, a removed guest): kept as a
        deactivated account so the message keeps who wrote it."""
        profile: dict[str, Any] = m["user_profile"] if isinstance(m.get("user_profile"), dict) else {}
        name = str(m.get("username") or profile.get("name") or author.split(":")[-1])
        return ImportUser(key=author, handle=name, display_name=name, email=None, active=False, bot=True)

    @staticmethod
    def _author(m: dict[str, Any]) -> str | None:
        if isinstance(m.get("user"), str):
            return str(m["user"])
        if isinstance(m.get("bot_id"), str):
            return f"bot:{m['bot_id']}"
        return None

    def _folders(self) -> set[str]:
        assert self._zip is not None
        if not hasattr(self, "_folder_cache"):
            self._folder_cache = {name.rsplit("/", 1)[0] + "/" for name in self._zip.entries if "/" in name}
        return self._folder_cache

    def _days(self, folder: str) -> list[str]:
        assert self._zip is not None
        start = f"{self._prefix}{folder}/"
        return sorted(n for n in self._zip.entries if n.startswith(start) and _DAY_FILE.fullmatch(n[len(start) :]))

    def _list(self, name: str) -> list[Any]:
        assert self._zip is not None
        data = self._zip.json(name)
        if not isinstance(data, list):
            raise ImportFormatError("expected a JSON array", file=name)
        return data

    # --- what the engine reads -----------------------------------------------------------------

    def users(self) -> list[ImportUser]:
        return list(self._users)

    def conversations(self) -> list[ImportConversation]:
        return [c.conv for c in self._convs]

    def message_count(self) -> int:
        return self._count

    def messages(self, handles: Mapping[str, str], summary: Summary) -> Iterator[ImportMessage]:
        for conv in self._convs:
            cid = conv.conv.key
            for day in self._days(conv.folder):
                day_messages = sorted(self._list(day), key=lambda m: parse_ts(m.get("ts"), file=day))
                for m in day_messages:
                    msg = self._message(cid, m, day, handles, summary)
                    if msg is not None:
                        yield msg

    def _message(
        self, cid: str, m: dict[str, Any], day: str, handles: Mapping[str, str], summary: Summary
    ) -> ImportMessage | None:
        subtype = m.get("subtype")
        if m.get("type", "message") != "message" or subtype not in KEPT_SUBTYPES or m.get("hidden"):
            summary.skip(f"message: Slack system notice ({subtype or m.get('type')})")
            return None
        author = self._author(m)
        if author is None:
            summary.skip("message: no author")
            return None
        ts = str(m["ts"])
        created = parse_ts(ts, file=day)
        body, mentions = convert_text(str(m.get("text") or ""), handles=handles, channel_names=self._channel_names)
        thread_ts = m.get("thread_ts")
        broadcast = subtype in ("thread_broadcast", "reply_broadcast")
        parent = f"{cid}/{thread_ts}" if isinstance(thread_ts, str) and thread_ts != ts else None
        edited = m.get("edited")
        edited_at = None
        if isinstance(edited, dict) and isinstance(edited.get("ts"), str):
            try:
                edited_at = parse_ts(edited["ts"], file=day)
            except ImportFormatError:
                summary.notes["edit time unreadable: kept as not edited"] += 1
        reactions = []
        for r in m.get("reactions") or []:
            if not isinstance(r, dict) or not isinstance(r.get("name"), str):
                continue
            for user in r.get("users") or []:
                if isinstance(user, str):
                    reactions.append(ImportReaction(user, emoji_from_name(r["name"]), created))
        files = []
        for f in m.get("files") or []:
            if not isinstance(f, dict):
                continue
            if f.get("mode") in ("tombstone", "hidden_by_limit") or not f.get("id"):
                summary.skip("file: deleted or hidden in Slack")
                continue
            files.append(
                ImportFile(
                    name=str(f.get("name") or f.get("title") or f["id"]),
                    content_type=str(f.get("mimetype") or ""),
                    read=self._reader(f),
                )
            )
        return ImportMessage(
            key=f"{cid}/{ts}",
            conversation_key=cid,
            author_key=author,
            body=body,
            created_at=created,
            edited_at=edited_at,
            parent_key=parent,
            broadcast=broadcast,
            reactions=reactions,
            files=files,
            mention_keys=mentions,
        )

    def _reader(self, f: dict[str, Any]) -> Callable[[], bytes]:
        file_id = str(f["id"])
        url = f.get("url_private_download") or f.get("url_private")

        def read() -> bytes:
            entry = self._uploads.get(file_id)
            if entry is not None:
                assert self._zip is not None
                return self._zip.read(entry, limit=self.max_file_bytes)
            if not isinstance(url, str):
                raise FileSkipped("not in the archive and no URL")
            if self.fetcher is None:
                raise FileSkipped("not in the archive, and fetching files by URL is off (--fetch-files)")
            return self.fetcher.get(url, limit=self.max_file_bytes)

        return read

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self.fetcher is not None:
            self.fetcher.close()


def _value(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("value"), str):
        return str(item["value"])
    return None
