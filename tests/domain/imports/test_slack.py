"""`tipline import slack`: a workspace export built to Slack's documentation, imported into an
empty database and checked row by row; run again (nothing new), resumed after a crash, and
refused when unsafe (path traversal, zip bomb, malformed JSON) with nothing written."""

from __future__ import annotations

import json
import re
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.domain.imports.conftest import FreshDb, MakeRt, count, fetch
from tests.domain.imports.exports import T0, build_slack, png_bytes, slack_ts
from tipline.domain.imports.actions import SimulatedCrash, clean_text, do_import, filename_of, handle_base
from tipline.domain.imports.fetch import Fetcher, parse_allow
from tipline.domain.imports.schemas import FileSkipped, ImportFormatError
from tipline.domain.imports.slack import SlackExport, convert_text
from tipline.runtime import Runtime

MAX = 50 * 2**20


def slack(path: Path, fetcher: Fetcher | None = None) -> SlackExport:
    return SlackExport(path, fetcher=fetcher, max_file_bytes=MAX)


async def test_a_workspace_export_is_imported_with_threads_edits_reactions_files(
    tmp_path: Path, rt: Runtime, db_url: str
) -> None:
    fx = build_slack(tmp_path / "export.zip", per_channel=1500)
    published: list[object] = []

    async def record(*args: object) -> None:
        published.append(args)

    rt.bus.publish = record  # type: ignore[method-assign]
    rt.bus.publish_many = record  # type: ignore[method-assign]
    summary = await do_import(rt, export=slack(fx.path), batch_size=700)
    assert published == []  # not one event: imported history is not news

    # Users: matched or created by email, no password, deleted ones deactivated, bots kept.
    users = {r["handle"]: r for r in await fetch(db_url, "SELECT * FROM users")}
    assert users["ada"]["email"] == "ada@example.com" and users["ada"]["password_hash"] is None
    assert users["ada"]["display_name"] == "Ada Lovelace"
    assert users["dee"]["is_active"] is False and users["bob"]["is_active"] is True
    assert users["elodie_dupont"]["display_name"] == "Élodie"
    assert "deploy_bot" in users and users["deploy_bot"]["is_active"] is False
    assert summary.created["users"] == 7  # six in users.json and the bot that wrote through bot_id

    # Conversations: kinds, names, archived, a DM with oneself skipped.
    convs = {r["name"] or r["kind"]: r for r in await fetch(db_url, "SELECT * FROM conversations")}
    assert {k: v["kind"] for k, v in convs.items()} == {
        "general": "public",
        "random": "public",
        "secret-plans": "private",
        "mpdm-ada--bob--cyd-1": "group",
        "direct": "direct",
    }
    assert convs["random"]["archived_at"] is not None and convs["general"]["topic"] == "Everything"
    assert summary.skipped["conversation: direct message with oneself"] == 1
    general = convs["general"]["id"]
    members = {
        r["handle"]: r["role"]
        for r in await fetch(
            db_url,
            "SELECT u.handle, m.role FROM members m JOIN users u ON u.id = m.user_id WHERE m.conversation_id = $1",
            general,
        )
    }
    assert members == {"ada": "owner", "bob": "member", "cyd": "member", "dee": "member", "elodie_dupont": "member"}

    # Messages: every one a person wrote, in time order, seq 1..N without a gap.
    rows = await fetch(db_url, "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY seq", general)
    assert len(rows) == fx.kept["C100"]
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert rows[0]["created_at"] == datetime.fromtimestamp(T0 + 1, UTC).replace(microsecond=1)
    assert convs["general"]["last_seq"] == len(rows)
    total = sum(fx.kept.values())
    assert await count(db_url, "messages") == total
    assert summary.created["messages"] + summary.created["replies"] == total
    assert summary.skipped["message: Slack system notice (channel_join)"] == 1

    # Markup converted; the mention is recorded for the member it names.
    first = rows[0]
    assert first["body"] == "hi @bob see #general <b> & the site (https://example.com) @here"
    assert first["mention_ids"] == [users["bob"]["id"]]
    assert any("🎉👍🏽" in r["body"] for r in rows) and any("עברית" in r["body"] for r in rows)
    assert any(r["body"] == "nul\ufffdinside" for r in rows)

    # Threads: replies point at their root, in the same conversation.
    by_id = {r["id"]: r for r in rows}
    replies = [r for r in rows if r["reply_to_id"] is not None]
    assert len(replies) == 300  # k % 10 in (1, 2) for k < 1500
    assert all(by_id[r["reply_to_id"]]["reply_to_id"] is None for r in replies)
    assert summary.created["replies"] == fx.replies
    # In their thread only, as in Slack, but for the one sent "also to the channel".
    assert [r["body"] for r in replies if not r["thread_only"]] == ["message 1 in C100"]
    # Each thread's summary and follows, as the send path writes them; the history counts as read.
    threads = {
        r["root_id"]: r for r in await fetch(db_url, "SELECT * FROM threads WHERE conversation_id = $1", general)
    }
    assert sorted(threads) == sorted({r["reply_to_id"] for r in replies})
    for root, t in threads.items():
        mine = [r for r in replies if r["reply_to_id"] == root]
        assert t["reply_count"] == len(mine) and t["last_reply_seq"] == mine[-1]["seq"]
        assert t["last_reply_at"] == mine[-1]["created_at"]
        assert t["last_repliers"] == list(dict.fromkeys(r["sender_id"] for r in reversed(mine)))[:3]
    follows = await fetch(
        db_url,
        "SELECT f.*, t.last_reply_seq FROM thread_follows f JOIN threads t USING (root_id)"
        " WHERE t.conversation_id = $1",
        general,
    )
    assert {(f["root_id"], f["user_id"]) for f in follows} == {
        (root, uid)
        for root in threads
        for uid in {by_id[root]["sender_id"]}
        | {r["sender_id"] for r in replies if r["reply_to_id"] == root}
        | {u for r in replies if r["reply_to_id"] == root for u in r["mention_ids"]}
    }
    assert all(f["following"] and f["last_read_seq"] == f["last_reply_seq"] for f in follows)

    # Edits and reactions.
    assert any(r["edited_at"] is not None for r in rows)
    emoji = {r["emoji"] for r in await fetch(db_url, "SELECT emoji FROM reactions")}
    assert emoji == {"👍", ":party_parrot:"}
    assert await count(db_url, "reactions") == summary.created["reactions"] == fx.reactions

    # The file from the archive: stored through the media backend, cleaned and thumbnailed.
    (up,) = await fetch(db_url, "SELECT * FROM uploads")
    assert up["status"] == "ready" and up["kind"] == "image" and up["filename"] == "red dot.png"
    assert up["conversation_id"] == general and by_id[up["message_id"]]["body"] == "message 3 in C100"
    stored = await rt.objects.read(up["object_key"])
    assert stored[:8] == b"\x89PNG\r\n\x1a\n" and up["thumb_key"] is not None and up["width"] == 40

    # Nothing announced: no event rows, no mail; members start with the history read.
    assert await count(db_url, "conversation_events") == 0 and await count(db_url, "mail_outbox") == 0
    unread = await fetch(
        db_url,
        "SELECT count(*) AS n FROM members m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE m.last_read_seq <> c.last_seq",
    )
    assert unread[0]["n"] == 0


async def test_running_it_twice_creates_nothing_new(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    fx = build_slack(tmp_path / "export.zip", per_channel=300)
    first = await do_import(rt, export=slack(fx.path), batch_size=250)
    tables = (
        "users",
        "conversations",
        "members",
        "messages",
        "reactions",
        "uploads",
        "import_map",
        "threads",
        "thread_follows",
    )
    before = {t: await count(db_url, t) for t in tables}
    second = await do_import(rt, export=slack(fx.path), batch_size=250)
    assert {t: await count(db_url, t) for t in tables} == before
    assert sum(second.created.values()) == 0
    assert second.matched["messages"] == first.created["messages"]
    assert second.matched["replies"] == first.created["replies"]
    assert second.matched["users"] == first.created["users"]


async def test_a_crashed_import_resumes_where_it_stopped(tmp_path: Path, fresh_db: FreshDb, make_rt: MakeRt) -> None:
    fx = build_slack(tmp_path / "export.zip", per_channel=1200)
    crashed_url = await fresh_db()
    rt = make_rt(crashed_url)
    with pytest.raises(SimulatedCrash):
        await do_import(rt, export=slack(fx.path), batch_size=300, crash_after_batches=2)
    assert await count(crashed_url, "messages") == 600  # two batches committed, nothing of the third
    await do_import(rt, export=slack(fx.path), batch_size=300)

    clean_url = await fresh_db()
    await do_import(make_rt(clean_url), export=slack(fx.path), batch_size=300)
    query = (
        "SELECT c.name, m.seq, u.handle, m.body, m.created_at, p.body AS parent FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id JOIN users u ON u.id = m.sender_id "
        "LEFT JOIN messages p ON p.id = m.reply_to_id ORDER BY c.name, m.seq"
    )
    resumed = [tuple(r) for r in await fetch(crashed_url, query)]
    assert resumed == [tuple(r) for r in await fetch(clean_url, query)]
    assert len(resumed) == sum(fx.kept.values())


async def test_an_existing_account_is_matched_by_email(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    await fetch(
        db_url,
        "INSERT INTO users (email, handle, display_name, password_hash) "
        "VALUES ('bob@example.com', 'robert', 'Robert', 'x')",
    )
    fx = build_slack(tmp_path / "export.zip", per_channel=100)
    summary = await do_import(rt, export=slack(fx.path))
    (bob,) = await fetch(db_url, "SELECT * FROM users WHERE email = 'bob@example.com'")
    assert bob["handle"] == "robert" and bob["password_hash"] == "x"  # untouched
    assert summary.matched["users"] == 1
    sent = await fetch(db_url, "SELECT count(*) AS n FROM messages WHERE sender_id = $1", bob["id"])
    assert sent[0]["n"] > 0


# --- refused exports: a clear error, nothing written --------------------------------------------


async def _nothing_written(url: str) -> None:
    for table in ("users", "conversations", "messages", "import_map", "uploads"):
        assert await count(url, table) == 0, table


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "general/../../x.json", "C:\\evil.json"])
async def test_path_traversal_in_the_archive_is_refused(tmp_path: Path, rt: Runtime, db_url: str, name: str) -> None:
    fx = build_slack(tmp_path / "export.zip", per_channel=20, extra_entries={name: b"root:x:0:0"})
    with pytest.raises(ImportFormatError, match="unsafe path in the archive"):
        await do_import(rt, export=slack(fx.path))
    await _nothing_written(db_url)


async def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    path = tmp_path / "export.zip"
    build_slack(path, per_channel=20)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("general/2023-11-16.json", b"[" + b" " * (64 * 2**20) + b"]")  # 64 MiB of spaces
    info = zipfile.ZipFile(path).getinfo("general/2023-11-16.json")
    assert info.file_size / info.compress_size > 500
    with pytest.raises(ImportFormatError, match="zip bomb"):
        await do_import(rt, export=slack(path))
    await _nothing_written(db_url)


async def test_malformed_json_names_the_file_and_line(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    bad = (
        b'[\n {"type": "message", "user": "U001", "text": "ok", "ts": "1700000001.000001"},\n'
        b' {"type": "message", "text": oops}\n]'
    )
    fx = build_slack(tmp_path / "export.zip", per_channel=40, day_override=("general/2023-11-15.json", bad))
    with pytest.raises(ImportFormatError) as err:
        await do_import(rt, export=slack(fx.path))
    assert str(err.value).startswith("general/2023-11-15.json:3: malformed JSON")
    await _nothing_written(db_url)


async def test_a_bad_timestamp_or_shape_is_refused(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    bad = json.dumps([{"type": "message", "user": "U001", "text": "x", "ts": "yesterday"}]).encode()
    fx = build_slack(tmp_path / "export.zip", per_channel=40, day_override=("random/2023-11-15.json", bad))
    with pytest.raises(ImportFormatError, match=re.escape("random/2023-11-15.json: message timestamp 'yesterday'")):
        await do_import(rt, export=slack(fx.path))
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"PK nope")
    with pytest.raises(ImportFormatError, match="not a readable ZIP archive"):
        await do_import(rt, export=slack(not_zip))
    await _nothing_written(db_url)


def test_slack_markup_conversion() -> None:
    handles = {"U1": "ada", "U2": "bob"}
    text, mentions = convert_text(
        "<@U1> &amp; <@U2|bobby>: <!channel> <#C9> <#C1|dev> <mailto:a@b.c|a@b.c> <https://x.y> "
        "<https://x.y/?a=1&amp;b=2|link> &lt;script&gt; <@U404> <!subteam^S1|@devs> <!date^1|Jan 1>",
        handles=handles,
        channel_names={"C9": "nine"},
    )
    assert text == (
        "@ada & @bob: @channel #nine #dev a@b.c https://x.y link (https://x.y/?a=1&b=2) <script> @U404 @devs Jan 1"
    )
    assert mentions == ("U1", "U2", "U404")


# --- files by URL -------------------------------------------------------------------------------


@pytest.fixture
def file_server() -> Iterator[str]:
    body = png_bytes((1, 2, 3))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _with_url_file(path: Path, url: str) -> None:
    msgs = [
        {
            "type": "message",
            "subtype": "file_share",
            "user": "U001",
            "text": "look",
            "ts": slack_ts(99_999),
            "files": [{"id": "F77", "name": "shot.png", "mimetype": "image/png", "url_private_download": url}],
        }
    ]
    build_slack(path, per_channel=20, day_override=("general/2023-11-20.json", json.dumps(msgs).encode()))


async def test_files_by_url_only_when_asked_and_never_from_private_addresses(
    tmp_path: Path, file_server: str, fresh_db: FreshDb, make_rt: MakeRt
) -> None:
    path = tmp_path / "export.zip"
    _with_url_file(path, f"{file_server}/files/F77?t=xoxe-secret")
    # Off by default.
    url = await fresh_db()
    s = await do_import(make_rt(url), export=slack(path))
    assert s.skipped["file: not in the archive, and fetching files by URL is off (--fetch-files)"] == 1
    # On, but loopback is refused unless allow-listed.
    url = await fresh_db()
    s = await do_import(make_rt(url), export=slack(path, Fetcher()))
    (reason,) = [r for r in s.skipped if r.startswith("file:")]
    assert "non-public address (127.0.0.1)" in reason and "xoxe" not in reason
    assert [r["filename"] for r in await fetch(url, "SELECT filename FROM uploads")] == ["red dot.png"]
    # Allow-listed: fetched and stored.
    url = await fresh_db()
    hosts, nets = parse_allow(["127.0.0.1/32"])
    s = await do_import(make_rt(url), export=slack(path, Fetcher(allow_hosts=hosts, allow_nets=nets)))
    assert s.created["files"] == 2  # the archive's own and the fetched one
    kinds = {r["filename"]: r["kind"] for r in await fetch(url, "SELECT filename, kind FROM uploads")}
    assert kinds == {"red dot.png": "image", "shot.png": "image"}


def test_the_fetcher_refuses_metadata_private_and_redirects_there(file_server: str) -> None:
    fetcher = Fetcher()
    for bad in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "http://192.168.1.1/x",
        "file:///etc/passwd",
        "ftp://example.com/x",
    ):
        with pytest.raises(FileSkipped):
            fetcher.get(bad, limit=1000)
    hosts, nets = parse_allow(["127.0.0.1"])
    allowed = Fetcher(allow_hosts=hosts, allow_nets=nets)
    assert allowed.get(f"{file_server}/ok", limit=10_000)[:4] == b"\x89PNG"
    with pytest.raises(FileSkipped, match=re.escape("non-public address (169.254.169.254)")):
        allowed.get(f"{file_server}/redirect", limit=10_000)
    with pytest.raises(FileSkipped, match="larger than 10 bytes"):
        allowed.get(f"{file_server}/ok", limit=10)
    allowed.close()


async def test_odd_bytes_in_a_day_file_are_kept_as_replacement_characters(
    tmp_path: Path, rt: Runtime, db_url: str
) -> None:
    raw = (
        b'[{"type": "message", "user": "U001", "ts": "1700000001.000001", "text": "bad \xff\xfe bytes"},'
        b' {"type": "message", "user": "U001", "ts": "1700000002.000001", "text": "lone \\ud800 surrogate"}]'
    )
    fx = build_slack(tmp_path / "export.zip", per_channel=20, day_override=("random/2023-11-16.json", raw))
    await do_import(rt, export=slack(fx.path))
    bodies = {r["body"] for r in await fetch(db_url, "SELECT body FROM messages")}
    assert "bad \ufffd\ufffd bytes" in bodies and "lone \ufffd surrogate" in bodies


async def test_a_dm_the_two_already_have_gets_the_history_after_its_messages(
    tmp_path: Path, rt: Runtime, db_url: str
) -> None:
    (ada,) = await fetch(
        db_url, "INSERT INTO users (email, handle, display_name) VALUES ('ada@example.com', 'ada', 'A') RETURNING id"
    )
    (bob,) = await fetch(
        db_url, "INSERT INTO users (email, handle, display_name) VALUES ('bob@example.com', 'bob', 'B') RETURNING id"
    )
    a, b = sorted((ada["id"], bob["id"]))
    (dm,) = await fetch(
        db_url,
        "INSERT INTO conversations (kind, direct_key, last_seq) VALUES ('direct', $1, 2) RETURNING id",
        f"{a}:{b}",
    )
    for seq in (1, 2):
        await fetch(
            db_url,
            "INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, body) "
            "VALUES ($1, $2, $3, $4, 'live')",
            dm["id"],
            seq,
            a,
            f"live-{seq}",
        )
    await fetch(
        db_url,
        "INSERT INTO members (conversation_id, user_id, last_read_seq) VALUES ($1, $2, 1), ($1, $3, 2)",
        dm["id"],
        a,
        b,
    )
    fx = build_slack(tmp_path / "export.zip", per_channel=200)
    await do_import(rt, export=slack(fx.path))
    directs = await fetch(db_url, "SELECT id, last_seq FROM conversations WHERE kind = 'direct'")
    assert [d["id"] for d in directs] == [dm["id"]]
    rows = await fetch(db_url, "SELECT seq, body FROM messages WHERE conversation_id = $1 ORDER BY seq", dm["id"])
    assert [r["seq"] for r in rows] == list(range(1, fx.kept["D500"] + 3))
    assert [r["body"] for r in rows[:2]] == ["live", "live"] and rows[2]["body"] != "live"
    # What ada had not read there stays unread.
    reads = {
        r["user_id"]: r["last_read_seq"]
        for r in await fetch(db_url, "SELECT user_id, last_read_seq FROM members WHERE conversation_id = $1", dm["id"])
    }
    assert reads == {a: 1, b: 2}


def test_names_from_an_export_are_made_safe() -> None:
    assert filename_of("../../etc/passwd") == "passwd"
    assert filename_of("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert filename_of("bad\x00name\u202e.png") == "bad\ufffdname.png"
    assert filename_of("") == "file" and len(filename_of("a" * 1000)) == 255
    assert handle_base("élodie.dupont") == "elodie_dupont"
    assert handle_base("李") == "user" and handle_base("ab") == "ab_user"
    assert handle_base("X" * 50) == "x" * 32
    assert clean_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
