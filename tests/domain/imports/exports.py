"""Export fixtures built to the formats' documentation: a Slack workspace export (ZIP) and a
Mattermost bulk-import file (JSONL), with threads, edits, reactions, files, deleted users and odd
encodings. Each builder returns what it wrote, so tests can compare what was imported."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

T0 = 1_700_000_000  # 2023-11-14, seconds

ODD = [
    "emoji 🎉👍🏽 and a flag 🇺🇦",
    "עברית מימין לשמאל",  # RTL
    "العربية أيضاً",
    "zero\u200bwidth and combining é",
    "tab\tand\nnewline",
]


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, format="PNG")
    return out.getvalue()


@dataclass
class SlackFixture:
    path: Path
    users: list[dict[str, Any]]
    # channel id -> messages as written (kept subtypes and all)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)  # channel id -> messages a person wrote
    threads: int = 0
    replies: int = 0
    reactions: int = 0
    files: int = 0


def slack_ts(i: int) -> str:
    return f"{T0 + i}.{i % 1000:06d}"


def build_slack(
    path: Path,
    *,
    per_channel: int = 600,
    extra_entries: dict[str, bytes] | None = None,
    day_override: tuple[str, bytes] | None = None,
) -> SlackFixture:
    users: list[dict[str, Any]] = [
        {
            "id": "U001",
            "name": "ada",
            "real_name": "Ada Lovelace",
            "profile": {"email": "Ada@Example.com", "real_name": "Ada Lovelace", "display_name": "ada"},
        },
        {"id": "U002", "name": "bob", "profile": {"email": "bob@example.com", "real_name": "Bob"}},
        {"id": "U003", "name": "cyd", "profile": {"email": "cyd@example.com", "real_name": "Cyd Ümlaut"}},
        # Deleted in Slack: imported deactivated.
        {"id": "U004", "name": "dee", "deleted": True, "profile": {"email": "dee@example.com", "real_name": "Dee"}},
        {"id": "U005", "name": "ci-bot", "is_bot": True, "profile": {"real_name": "CI"}},
        # A name Tipline cannot take as it is.
        {"id": "U006", "name": "élodie.dupont", "profile": {"email": "elodie@example.com", "real_name": "Élodie"}},
    ]
    channels = [
        {
            "id": "C100",
            "name": "general",
            "created": T0 - 1000,
            "creator": "U001",
            "members": ["U001", "U002", "U003", "U004", "U006"],
            "topic": {"value": "Company-wide"},
            "purpose": {"value": "Everything"},
        },
        {
            "id": "C200",
            "name": "random",
            "created": T0 - 900,
            "creator": "U002",
            "members": ["U001", "U002"],
            "is_archived": True,
            "purpose": {"value": ""},
        },
    ]
    groups = [
        {"id": "G300", "name": "secret-plans", "created": T0 - 800, "creator": "U001", "members": ["U001", "U003"]}
    ]
    mpims = [{"id": "G400", "name": "mpdm-ada--bob--cyd-1", "created": T0 - 700, "members": ["U001", "U002", "U003"]}]
    dms = [
        {"id": "D500", "created": T0 - 600, "members": ["U001", "U002"]},
        {"id": "D600", "created": T0 - 600, "members": ["U003", "U003"]},  # with oneself
    ]
    fx = SlackFixture(path=path, users=users)
    folders = {
        "C100": "general",
        "C200": "random",
        "G300": "secret-plans",
        "G400": "mpdm-ada--bob--cyd-1",
        "D500": "D500",
    }
    members = {"C100": ["U001", "U002", "U003", "U004", "U006"], "C200": ["U001", "U002"], "G300": ["U001", "U003"]}
    members |= {"G400": ["U001", "U002", "U003"], "D500": ["U001", "U002"]}
    image = png_bytes()
    entries: dict[str, bytes] = {}
    i = 0
    for cid in folders:
        msgs: list[dict[str, Any]] = []
        who = members[cid]
        root_ts: str | None = None
        kept = 0
        n = per_channel if cid == "C100" else max(per_channel // 10, 12)
        for k in range(n):
            i += 1
            ts = slack_ts(i)
            author = who[k % len(who)]
            m: dict[str, Any] = {"type": "message", "user": author, "text": f"message {k} in {cid}", "ts": ts}
            if k % 50 == 0:
                m["text"] = (
                    f"hi <@{who[(k + 1) % len(who)]}> see <#C100|general> &lt;b&gt; &amp; "
                    "<https://example.com|the site> <!here>"
                )
            elif k % 7 == 0:
                m["text"] = ODD[k % len(ODD)]
            elif k % 97 == 0:
                m["text"] = "nul\u0000inside"
            if k % 10 == 0:
                root_ts = ts
                m["thread_ts"] = ts
                m["reply_count"] = 2
                fx.threads += 1
            elif k % 10 in (1, 2) and root_ts is not None:
                m["thread_ts"] = root_ts
                m["parent_user_id"] = who[0]
                fx.replies += 1
                if k == 1:
                    m["subtype"] = "thread_broadcast"  # also shown in the channel
            if k % 11 == 0:
                m["edited"] = {"user": author, "ts": slack_ts(i + 5)}
            if k % 13 == 0:
                m["reactions"] = [
                    {"name": "+1", "users": who[:2], "count": 2},
                    {"name": "party_parrot", "users": [who[-1]], "count": 1},
                ]
                fx.reactions += len(set(who[:2])) + 1
            if k == 3 and cid == "C100":
                m["subtype"] = "file_share"
                m["files"] = [
                    {
                        "id": "F1",
                        "name": "red dot.png",
                        "mimetype": "image/png",
                        "url_private": "https://files.slack.example/F1",
                    }
                ]
                entries["__uploads/F1/red dot.png"] = image
                fx.files += 1
            msgs.append(m)
            kept += 1
        if cid == "C100":
            # System notices are not messages; a bot writes through bot_id.
            i += 1
            msgs.append(
                {
                    "type": "message",
                    "subtype": "channel_join",
                    "user": "U006",
                    "text": "<@U006> has joined",
                    "ts": slack_ts(i),
                }
            )
            i += 1
            msgs.append(
                {
                    "type": "message",
                    "subtype": "bot_message",
                    "bot_id": "B9",
                    "username": "deploy bot",
                    "text": "deployed",
                    "ts": slack_ts(i),
                }
            )
            kept += 1
            i += 1
            msgs.append({"type": "message", "user": "U005", "text": "build green", "ts": slack_ts(i)})
            kept += 1
        fx.messages[cid] = msgs
        fx.kept[cid] = kept
        # One file per day, as Slack writes them (two days per channel here).
        half = len(msgs) // 2
        for day, chunk in (("2023-11-14", msgs[:half]), ("2023-11-15", msgs[half:])):
            entries[f"{folders[cid]}/{day}.json"] = json.dumps(chunk, ensure_ascii=False, indent=1).encode()
    entries["users.json"] = json.dumps(users).encode()
    entries["channels.json"] = json.dumps(channels).encode()
    entries["groups.json"] = json.dumps(groups).encode()
    entries["mpims.json"] = json.dumps(mpims).encode()
    entries["dms.json"] = json.dumps(dms).encode()
    entries["integration_logs.json"] = b"[]"
    if day_override is not None:
        entries[day_override[0]] = day_override[1]
    entries |= extra_entries or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return fx


@dataclass
class MattermostFixture:
    path: Path
    posts: int = 0
    replies: int = 0
    reactions: int = 0
    attachments: int = 0


def build_mattermost(
    path: Path, *, posts_per_channel: int = 500, teams: int = 2, raw_lines: list[bytes] | None = None
) -> MattermostFixture:
    """``raw_lines`` are appended as they are (malformed lines, odd bytes)."""
    fx = MattermostFixture(path=path)
    data_dir = path.parent / "data"
    (data_dir / "att").mkdir(parents=True, exist_ok=True)
    (data_dir / "att" / "pic.png").write_bytes(png_bytes((10, 200, 10)))
    (data_dir / "att" / "notes.txt").write_bytes("plain notes ✓\n".encode())
    lines: list[Any] = [{"type": "version", "version": 1}]
    team_names = [f"team{t}" for t in range(teams)]
    for t in team_names:
        lines.append({"type": "team", "team": {"name": t, "display_name": t.title(), "type": "O"}})
        lines.append(
            {
                "type": "channel",
                "channel": {
                    "team": t,
                    "name": "town-square",
                    "display_name": "Town Square",
                    "type": "O",
                    "purpose": "all",
                },
            }
        )
        lines.append(
            {
                "type": "channel",
                "channel": {"team": t, "name": "ops", "display_name": "Ops", "type": "P", "header": "on call"},
            }
        )
    people = ["alice", "bruno", "chen", "dara", "gone.user"]
    for u in people:
        user: dict[str, Any] = {
            "username": u,
            "email": f"{u.replace('.', '_')}@example.org",
            "first_name": u.split(".")[0].title(),
            "last_name": "Test",
            "roles": "system_user",
            "teams": [
                {
                    "name": t,
                    "roles": "team_user",
                    "channels": [
                        {"name": "town-square", "roles": "channel_user"},
                        {"name": "ops", "roles": "channel_user"},
                    ],
                }
                for t in team_names
            ],
        }
        if u == "gone.user":
            user["delete_at"] = 1_600_000_000_000
        lines.append({"type": "user", "user": user})
    ms = T0 * 1000
    for t in team_names:
        for ch in ("town-square", "ops"):
            for k in range(posts_per_channel):
                ms += 1000
                author = people[k % len(people)]
                post: dict[str, Any] = {
                    "team": t,
                    "channel": ch,
                    "user": author,
                    "message": f"{ch} post {k} @{people[(k + 1) % 4]}",
                    "create_at": ms,
                }
                if k % 7 == 0:
                    post["message"] = ODD[k % len(ODD)]
                if k % 9 == 0:
                    post["edit_at"] = ms + 60_000
                if k % 5 == 0:
                    post["replies"] = [
                        {"user": people[(k + 1) % 4], "message": f"reply one to {k}", "create_at": ms + 500},
                        {
                            "user": people[(k + 2) % 4],
                            "message": f"reply two to {k} 🚀",
                            "create_at": ms + 700_000,
                            "reactions": [{"user": author, "emoji_name": "rocket", "create_at": ms + 800_000}],
                        },
                    ]
                    fx.replies += 2
                    fx.reactions += 1
                if k % 6 == 0:
                    post["reactions"] = [
                        {"user": people[(k + 1) % 4], "emoji_name": "+1", "create_at": ms + 10},
                        {"user": people[(k + 2) % 4], "emoji_name": "custom_thing", "create_at": ms + 20},
                    ]
                    fx.reactions += 2
                if k == 4:
                    post["attachments"] = [{"path": "data/att/pic.png"}, {"path": "data/att/notes.txt"}]
                    fx.attachments += 2
                lines.append({"type": "post", "post": post})
                fx.posts += 1
    lines.append({"type": "direct_channel", "direct_channel": {"members": ["alice", "bruno"]}})
    lines.append({"type": "direct_channel", "direct_channel": {"members": ["alice", "bruno", "chen"]}})
    for k in range(40):
        ms += 1000
        members = ["alice", "bruno"] if k % 2 else ["alice", "bruno", "chen"]
        lines.append(
            {
                "type": "direct_post",
                "direct_post": {
                    "channel_members": members,
                    "user": members[k % len(members)],
                    "message": f"dm {k}",
                    "create_at": ms,
                },
            }
        )
        fx.posts += 1
    with path.open("wb") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        for raw in raw_lines or []:
            fh.write(raw + b"\n")
    return fx
