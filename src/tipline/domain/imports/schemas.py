"""What an importer reads from an export, in Tipline's terms, and what an import reports.

The parsers (``slack.py``, ``mattermost.py``) turn their format into these shapes; the actions
write them. See docs/subsystems/import.md.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Source = Literal["slack", "mattermost"]
ConversationKind = Literal["public", "private", "group", "direct"]

# Tipline's own limits (messages and conversations schemas): longer text is cut, not refused.
MAX_BODY = 100_000
MAX_NAME = 80
MAX_TOPIC = 250
MAX_DISPLAY_NAME = 64
MAX_FILENAME = 255


class ImportFormatError(Exception):
    """The export is malformed or unsafe: nothing is imported, and the message says where."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line


@dataclass(frozen=True)
class Limits:
    """What an import refuses before reading further (zip bombs, huge entries, odd archives)."""

    max_total_bytes: int = 64 * 2**30  # uncompressed, all entries of an archive together
    max_entry_bytes: int = 2 * 2**30  # one entry, uncompressed
    max_ratio: int = 200  # uncompressed / compressed, for any entry above ratio_floor_bytes
    ratio_floor_bytes: int = 1 * 2**20
    max_entries: int = 2_000_000
    max_json_bytes: int = 512 * 2**20  # one JSON document (a Slack day file, users.json, a JSONL line)


@dataclass(frozen=True)
class ImportUser:
    key: str
    handle: str  # wished for; made unique on creation
    display_name: str
    email: str | None
    active: bool
    bot: bool = False


@dataclass(frozen=True)
class ImportConversation:
    key: str
    kind: ConversationKind
    name: str
    topic: str
    member_keys: tuple[str, ...]
    creator_key: str | None = None
    created_at: datetime | None = None
    archived: bool = False


@dataclass(frozen=True)
class ImportFile:
    """An attachment: ``read`` gives its bytes (from the archive, a directory or a URL), or
    raises ``FileSkipped`` with the reason it cannot be imported."""

    name: str
    content_type: str
    read: Callable[[], bytes]


class FileSkipped(Exception):
    """One attachment could not be imported; its message still is (the summary says why)."""


@dataclass(frozen=True, slots=True)
class ImportReaction:
    user_key: str
    emoji: str
    created_at: datetime


@dataclass(slots=True)
class ImportMessage:
    key: str  # unique within the source; the client_msg_id is derived from it
    conversation_key: str
    author_key: str
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    parent_key: str | None = None
    # A reply shown in the conversation too (Slack's thread_broadcast); other replies are in
    # their thread only, as in Slack and in Mattermost's collapsed reply threads.
    broadcast: bool = False
    reactions: list[ImportReaction] = field(default_factory=list)
    files: list[ImportFile] = field(default_factory=list)
    mention_keys: tuple[str, ...] = ()


def client_msg_id(source: Source, key: str) -> str:
    """The imported message's idempotency key: the same source message, the same id, every run."""
    digest = hashlib.sha256(f"{source}\x00{key}".encode()).hexdigest()[:32]
    return f"imp.{source[0]}.{digest}"


@dataclass
class Summary:
    """Counts per kind, and what was skipped with why (the CLI prints it at the end)."""

    created: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def lines(self) -> list[str]:
        out = []
        for kind in ("users", "conversations", "messages", "replies", "reactions", "files"):
            out.append(f"{kind}: {self.created[kind]} imported, {self.matched[kind]} already there")
        for reason, n in sorted(self.skipped.items()):
            out.append(f"skipped {n}: {reason}")
        for note, n in sorted(self.notes.items()):
            out.append(f"note {n}: {note}")
        return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "created": dict(self.created),
            "matched": dict(self.matched),
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
        }


# Reactions: Slack and Mattermost name their emoji; Tipline stores the emoji itself. Common
# names become the character; any other name is kept as ":name:" (a custom emoji), and an
# export writes the name back, so a round trip keeps every reaction as it was.
EMOJI_NAMES = {
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "heart": "❤️",
    "smile": "😄",
    "smiley": "😃",
    "grinning": "😀",
    "joy": "😂",
    "laughing": "😆",
    "wink": "😉",
    "slightly_smiling_face": "🙂",
    "thinking_face": "🤔",
    "cry": "😢",
    "sob": "😭",
    "tada": "🎉",
    "rocket": "🚀",
    "fire": "🔥",
    "eyes": "👀",
    "clap": "👏",
    "pray": "🙏",
    "100": "💯",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "ok_hand": "👌",
    "wave": "👋",
    "raised_hands": "🙌",
    "muscle": "💪",
    "star": "⭐",
    "sparkles": "✨",
    "coffee": "☕",
    "beers": "🍻",
    "moneybag": "💰",
}
_NAME_OF: dict[str, str] = {}
for _name, _char in EMOJI_NAMES.items():
    _NAME_OF.setdefault(_char, _name)
_NAME_RE = re.compile(r"^[a-z0-9_+\-]+(::skin-tone-\d)?$")


def emoji_from_name(name: str) -> str:
    if name in EMOJI_NAMES:
        return EMOJI_NAMES[name]
    return f":{name}:" if _NAME_RE.fullmatch(name) else name


def emoji_to_name(emoji: str) -> str:
    if emoji in _NAME_OF:
        return _NAME_OF[emoji]
    if len(emoji) > 2 and emoji.startswith(":") and emoji.endswith(":"):
        return emoji[1:-1]
    return emoji


class ImportCounts(BaseModel):
    """A run's counts so far: ``created`` and ``matched`` (already there) by kind (users,
    conversations, messages, replies, reactions, files), ``skipped`` by reason, ``notes``."""

    created: dict[str, int] = {}
    matched: dict[str, int] = {}
    skipped: dict[str, int] = {}
    notes: dict[str, int] = {}


class ImportRunOut(BaseModel):
    """One `tipline import` run (admin console, Imports). ``processed`` counts the export's
    messages read so far out of ``total`` (null until the export is validated)."""

    id: int
    source: Source
    file_name: str
    state: Literal["running", "done", "failed"]
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    processed: int
    total: int | None
    counts: ImportCounts
    last_error: str | None
