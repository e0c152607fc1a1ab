"""`tipline import mattermost` and `tipline export mattermost`: a bulk-import file built to
Mattermost's import format, imported, exported again, and the export imported into a fresh
database with the same messages; malformed lines and traversal paths refused with nothing written."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from tests.conftest import MotoS3, make_settings
from tests.domain.imports.conftest import FreshDb, MakeRt, count, fetch
from tests.domain.imports.exports import ODD, build_mattermost
from tipline.app import build_runtime
from tipline.domain.imports.actions import SimulatedCrash, do_export_mattermost, do_import
from tipline.domain.imports.mattermost import MattermostExport
from tipline.domain.imports.schemas import ImportFormatError, emoji_from_name, emoji_to_name
from tipline.runtime import Runtime

MAX = 50 * 2**20
POST = b'{"type":"post","post":{"team":"team0","channel":"ops","user":"alice",'


def mm(path: Path, **kw: object) -> MattermostExport:
    return MattermostExport(path, max_file_bytes=MAX, **kw)  # type: ignore[arg-type]


# Everything a person sees of a message, keyed by conversation name (creation order is not kept).
CONTENT = """
SELECT c.kind, c.name, m.seq, u.handle, m.body, m.created_at, m.edited_at IS NOT NULL AS edited, p.body AS parent,
  (SELECT string_agg(ru.handle || ' ' || r.emoji, ',' ORDER BY ru.handle, r.emoji)
     FROM reactions r JOIN users ru ON ru.id = r.user_id WHERE r.message_id = m.id) AS reactions,
  (SELECT string_agg(up.filename || ' ' || up.kind, ',' ORDER BY up.position)
     FROM uploads up WHERE up.message_id = m.id) AS files
FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN users u ON u.id = m.sender_id
LEFT JOIN messages p ON p.id = m.reply_to_id
ORDER BY c.kind, c.name, m.seq
"""


def _key(row: object) -> tuple[object, ...]:
    r = dict(row)  # type: ignore[call-overload]
    # Mattermost keeps milliseconds; the names of direct conversations are empty on both sides.
    r["created_at"] = r["created_at"].replace(microsecond=r["created_at"].microsecond // 1000 * 1000)
    return tuple(r.values())


async def test_a_bulk_import_file_is_imported(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=800)
    summary = await do_import(rt, export=mm(fx.path), batch_size=1000)

    users = {r["handle"]: r for r in await fetch(db_url, "SELECT * FROM users")}
    assert set(users) == {"alice", "bruno", "chen", "dara", "gone_user"}
    assert users["gone_user"]["is_active"] is False and users["alice"]["display_name"] == "Alice Test"
    convs = {(r["kind"], r["name"]) for r in await fetch(db_url, "SELECT kind, name FROM conversations")}
    assert convs == {
        ("public", "Team0/Town Square"),
        ("private", "Team0/Ops"),
        ("public", "Team1/Town Square"),
        ("private", "Team1/Ops"),
        ("direct", ""),
        ("group", "alice, bruno, chen"),
    }
    assert summary.created["messages"] == fx.posts and summary.created["replies"] == fx.replies
    assert await count(db_url, "messages") == fx.posts + fx.replies
    assert await count(db_url, "reactions") == fx.reactions
    assert summary.created["files"] == fx.attachments == 8

    rows = await fetch(db_url, CONTENT)
    by_conv: dict[str, list[object]] = {}
    for r in rows:
        by_conv.setdefault(r["name"], []).append(r)
    for name, items in by_conv.items():
        seqs = [r["seq"] for r in items]  # type: ignore[index]
        assert seqs == list(range(1, len(items) + 1)), name
        times = [r["created_at"] for r in items]  # type: ignore[index]
        assert times == sorted(times), name
    ops = by_conv["Team0/Ops"]
    reply = next(r for r in ops if r["body"] == "reply one to 0")  # type: ignore[index]
    assert reply["parent"] == ODD[0]  # type: ignore[index]
    # "@bruno" in the text is the imported handle, and a mention.
    (mentioned,) = await fetch(db_url, "SELECT mention_ids FROM messages WHERE body = 'ops post 1 @chen' LIMIT 1")
    assert mentioned["mention_ids"] == [users["chen"]["id"]]
    assert [r["files"] for r in rows if r["files"]] == ["pic.png image,notes.txt file"] * 4
    emoji = {r["emoji"] for r in await fetch(db_url, "SELECT DISTINCT emoji FROM reactions")}
    assert emoji == {"👍", ":custom_thing:", "🚀"}
    assert any(r["edited"] for r in rows)


async def test_export_then_import_gives_the_same_messages(tmp_path: Path, fresh_db: FreshDb, make_rt: MakeRt) -> None:
    fx = build_mattermost(tmp_path / "src" / "import.jsonl", posts_per_channel=300, teams=1)
    first_url = await fresh_db()
    first = make_rt(first_url)
    await do_import(first, export=mm(fx.path), batch_size=400)
    # A deleted message is not exported.
    await fetch(first_url, "UPDATE messages SET deleted_at = now() WHERE body = 'town-square post 3 @alice'")

    out = tmp_path / "out" / "export.jsonl"
    out.parent.mkdir()
    summary = await do_export_mattermost(first, out_path=out, team="acme")
    assert summary.users == 5 and summary.attachments == 4 and summary.direct_channels == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0] == {"type": "version", "version": 1}
    assert {line["type"] for line in lines} == {
        "version",
        "team",
        "channel",
        "user",
        "post",
        "direct_channel",
        "direct_post",
    }
    paths = [a["path"] for line in lines if line["type"] == "post" for a in line["post"].get("attachments", [])]
    assert len(paths) == 4 and all((out.parent / p).is_file() for p in paths)

    second_url = await fresh_db()
    await do_import(make_rt(second_url), export=mm(out), batch_size=400)
    before = [_key(r) for r in await fetch(first_url, CONTENT) if r["body"] != "town-square post 3 @alice"]
    after = [_key(r) for r in await fetch(second_url, CONTENT)]
    # Same conversations, authors, bodies, times, threads, edits, reactions and files; seqs
    # close up around the deleted message.
    strip = lambda rows: [r[:2] + r[3:] for r in rows]  # noqa: E731
    assert strip(after) == strip(before)
    assert len(after) == fx.posts + fx.replies - 1


async def test_mattermost_import_is_idempotent_and_resumable(
    tmp_path: Path, fresh_db: FreshDb, make_rt: MakeRt
) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=400)
    url = await fresh_db()
    rt = make_rt(url)
    with pytest.raises(SimulatedCrash):
        await do_import(rt, export=mm(fx.path), batch_size=500, crash_after_batches=3)
    assert await count(url, "messages") == 1500
    await do_import(rt, export=mm(fx.path), batch_size=500)
    again = await do_import(rt, export=mm(fx.path), batch_size=500)
    assert sum(again.created.values()) == 0
    clean = await fresh_db()
    await do_import(make_rt(clean), export=mm(fx.path), batch_size=500)
    assert [_key(r) for r in await fetch(url, CONTENT)] == [_key(r) for r in await fetch(clean, CONTENT)]


async def test_odd_encodings_in_lines(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    raw = [
        POST + b'"message":"bytes \xff here","create_at":1800000000000}}',
        POST + b'"message":"lone \\ud800 and nul \\u0000 end","create_at":1800000001000}}',
        b"",
    ]
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=10, raw_lines=raw)
    await do_import(rt, export=mm(fx.path))
    bodies = {r["body"] for r in await fetch(db_url, "SELECT body FROM messages")}
    assert "bytes \ufffd here" in bodies and "lone \ufffd and nul \ufffd end" in bodies


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"type":"post","post":{"team":"team0",', "import.jsonl:{n}: malformed JSON"),
        (
            b'{"type":"post","post":{"team":"team0","channel":"ops","user":"alice","message":"x"}}',
            "import.jsonl:{n}: 'create_at' is missing",
        ),
        (
            b'{"type":"channel","channel":{"team":"t","name":"c","type":"X"}}',
            'import.jsonl:{n}: a channel\'s "type" is "O" or "P"',
        ),
        (b'["not", "an", "object"]', 'import.jsonl:{n}: each line is an object with a "type"'),
        (b'{"type":"wormhole","wormhole":{}}', "import.jsonl:{n}: unknown line type 'wormhole'"),
    ],
)
async def test_a_malformed_line_is_refused_with_its_line_and_nothing_written(
    tmp_path: Path, rt: Runtime, db_url: str, line: bytes, error: str
) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=30, raw_lines=[line])
    n = len(fx.path.read_bytes().splitlines())
    with pytest.raises(ImportFormatError) as err:
        await do_import(rt, export=mm(fx.path))
    assert str(err.value).startswith(error.format(n=n)), str(err.value)
    for table in ("users", "conversations", "messages", "import_map"):
        assert await count(db_url, table) == 0


async def test_a_missing_version_line_is_refused(tmp_path: Path, rt: Runtime) -> None:
    path = tmp_path / "import.jsonl"
    path.write_text('{"type":"team","team":{"name":"t"}}\n')
    with pytest.raises(
        ImportFormatError, match=re.escape('import.jsonl:1: the first line must be {"type": "version", "version": 1}')
    ):
        await do_import(rt, export=mm(path))


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "data/../../../etc/shadow"])
async def test_attachment_path_traversal_is_refused(tmp_path: Path, rt: Runtime, db_url: str, bad: str) -> None:
    line = json.dumps(
        {
            "type": "post",
            "post": {
                "team": "team0",
                "channel": "ops",
                "user": "alice",
                "message": "x",
                "create_at": 1,
                "attachments": [{"path": bad}],
            },
        }
    ).encode()
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=10, raw_lines=[line])
    with pytest.raises(ImportFormatError, match="leaves the export's directory"):
        await do_import(rt, export=mm(fx.path))
    assert await count(db_url, "messages") == 0 and await count(db_url, "uploads") == 0


async def test_a_symlink_out_of_the_attachments_directory_is_not_followed(
    tmp_path: Path, rt: Runtime, db_url: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    line = json.dumps(
        {
            "type": "post",
            "post": {
                "team": "team0",
                "channel": "ops",
                "user": "alice",
                "message": "x",
                "create_at": 1,
                "attachments": [{"path": "data/link.txt"}],
            },
        }
    ).encode()
    (tmp_path / "export").mkdir()
    fx = build_mattermost(tmp_path / "export" / "import.jsonl", posts_per_channel=10, raw_lines=[line])
    (tmp_path / "export" / "data" / "link.txt").symlink_to(secret)
    summary = await do_import(rt, export=mm(fx.path))
    assert summary.skipped["file: path 'data/link.txt' leaves the attachments directory"] == 1
    names = [r["filename"] for r in await fetch(db_url, "SELECT filename FROM uploads")]
    assert len(names) == 8 and set(names) == {"notes.txt", "pic.png"}


def test_team_names_as_prefix_tag_or_none(tmp_path: Path) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=1, teams=1)
    names = {}
    for team_as in ("auto", "prefix", "tag", "none"):
        export = mm(fx.path, team_as=team_as)
        export.validate()
        names[team_as] = sorted(c.name for c in export.conversations() if c.kind == "public")
    assert names == {
        "auto": ["Town Square"],
        "prefix": ["Team0/Town Square"],
        "tag": ["Town Square [Team0]"],
        "none": ["Town Square"],
    }


def test_reaction_names_round_trip() -> None:
    for name in ("+1", "rocket", "party_parrot", "+1::skin-tone-2"):
        assert emoji_from_name(emoji_to_name(emoji_from_name(name))) == emoji_from_name(name)
    assert emoji_from_name("thumbsup") == "👍" and emoji_to_name("👍") == "+1"
    assert emoji_to_name("🦄") == "🦄" and emoji_from_name("🦄") == "🦄"


async def test_a_post_repeated_in_the_file_is_imported_once(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    line = POST + b'"message":"said twice","create_at":1800000000000}}'
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=600, raw_lines=[line, line])
    summary = await do_import(rt, export=mm(fx.path), batch_size=300)
    assert summary.skipped["message: repeats another message of the export"] == 1
    rows = await fetch(db_url, "SELECT count(*) AS n FROM messages WHERE body = 'said twice'")
    assert rows[0]["n"] == 1


async def test_attachments_go_through_the_s3_backend_too(tmp_path: Path, db_url: str, moto_s3: MotoS3) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=10, teams=1)
    rt = build_runtime(make_settings(**moto_s3.settings()), database_url=db_url, jwt_key=secrets.token_bytes(64))
    try:
        summary = await do_import(rt, export=mm(fx.path))
        assert summary.created["files"] == fx.attachments == 4
        rows = await fetch(db_url, "SELECT object_key, thumb_key, filename FROM uploads ORDER BY filename")
        assert (await rt.objects.read(rows[0]["object_key"])) == "plain notes ✓\n".encode()
        assert (await rt.objects.read(rows[-1]["object_key"]))[:4] == b"\x89PNG"
        assert await rt.objects.head(rows[-1]["thumb_key"]) is not None
        out = tmp_path / "out" / "export.jsonl"
        out.parent.mkdir()
        exported = await do_export_mattermost(rt, out_path=out)
        assert exported.attachments == 4
        files = sorted(p.name for p in (out.parent / "export.jsonl.data").rglob("*") if p.is_file())
        assert files == ["notes.txt", "notes.txt", "pic.png", "pic.png"]
    finally:
        await rt.engine.dispose()
