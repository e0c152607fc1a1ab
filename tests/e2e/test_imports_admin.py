"""Import progress in the admin console, in Chromium: `tipline import` runs (one done, one refused)
are listed under Imports with their progress bar, counts and error; a run still going shows its
progress and the page follows it to the end without a reload."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
from playwright.async_api import expect

from tests.domain.imports.exports import build_mattermost
from tests.e2e.conftest import E2EServer, People

TIPLINE = str(Path(sys.executable).with_name("tipline"))


async def tipline_import(e2e_server: E2EServer, path: Path, media: Path) -> int:
    """The real command, as an operator runs it, on the console's database."""
    env = {**os.environ, "DATABASE_URL": e2e_server.database_url, "MEDIA_DIR": str(media)}
    proc = await asyncio.create_subprocess_exec(
        TIPLINE,
        "import",
        "mattermost",
        str(path),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 120)


async def test_an_admin_follows_imports_in_the_console(
    people: People, e2e_server: E2EServer, artifacts: Path, tmp_path: Path
) -> None:
    fx = build_mattermost(tmp_path / "team.jsonl", posts_per_channel=20)
    assert await tipline_import(e2e_server, fx.path, tmp_path / "media") == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"type":"version","version":1}\n{not json\n')
    assert await tipline_import(e2e_server, broken, tmp_path / "media") == 2

    root = await people("imp")
    await root.sign_up()
    db = await asyncpg.connect(e2e_server.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE handle = $1", root.handle)
        # A run in progress (as a long import on another machine would leave it between two batches).
        counts = '{"created": {"users": 40, "messages": 249000}, "matched": {}, "skipped": {}, "notes": {}}'
        going = await db.fetchval(
            "INSERT INTO import_runs (source, file_name, processed, total, counts) "
            "VALUES ('slack', 'acme-workspace.zip', 250000, 1000000, $1) RETURNING id",
            counts,
        )
        page = root.page
        await root.goto("/")
        await page.get_by_test_id("admin-link").click()
        await page.get_by_role("tab", name="Imports").click()
        panel = page.get_by_test_id("imports-panel")
        await expect(panel).to_be_visible()
        runs = panel.get_by_test_id("import-run")
        await expect(runs).to_have_count(3)

        live = runs.filter(has_text="acme-workspace.zip")
        await expect(live).to_have_attribute("data-state", "running")
        await expect(live.get_by_test_id("import-progress")).to_have_text("25% · 250,000 / 1,000,000 messages")
        await expect(live.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "25")

        done = runs.filter(has_text="team.jsonl")
        await expect(done).to_have_attribute("data-state", "done")
        total = fx.posts + fx.replies
        await expect(done.get_by_test_id("import-progress")).to_have_text(f"100% · {total:,} / {total:,} messages")
        await done.get_by_role("button", name="Details").click()
        await expect(done.get_by_test_id("import-count-messages")).to_contain_text(f"{fx.posts:,}")
        await expect(done.get_by_test_id("import-count-users")).to_contain_text("5")

        failed = runs.filter(has_text="broken.jsonl")
        await expect(failed).to_have_attribute("data-state", "failed")
        await expect(failed.get_by_test_id("import-error")).to_contain_text("broken.jsonl:2")
        await page.screenshot(path=str(artifacts / "admin-imports.png"), full_page=True)

        # The run moves on and ends: the page follows without a reload.
        await db.execute("UPDATE import_runs SET processed = 750000, updated_at = now() WHERE id = $1", going)
        await expect(live.get_by_test_id("import-progress")).to_contain_text("75%", timeout=10_000)
        await db.execute(
            "UPDATE import_runs SET state = 'done', processed = total, finished_at = now() WHERE id = $1", going
        )
        await expect(live).to_have_attribute("data-state", "done", timeout=10_000)
        await expect(live.get_by_test_id("import-progress")).to_have_text("100% · 1,000,000 / 1,000,000 messages")
    finally:
        await db.close()
