"""The admin console in Chromium: an admin opens every screen and uses it. Users (search,
deactivate, reset two-factor), Reports (delete a reported message, see its history), Audit log
(the entries with the IP, a CSV download), Status; a person who is not an admin sees no link and
is refused."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pyotp
from playwright.async_api import expect

from tests.e2e.conftest import PASSWORD, E2EServer, People


async def api_person(api: httpx.AsyncClient, prefix: str) -> dict[str, str | int]:
    handle = f"{prefix}{uuid.uuid4().hex[:8]}"
    r = await api.post(
        "/auth/signup",
        json={"email": f"{handle}@example.com", "password": PASSWORD, "handle": handle, "display_name": handle},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return {"id": body["user"]["id"], "handle": handle, "token": body["access_token"]}


def auth(p: dict[str, str | int]) -> dict[str, str]:
    return {"Authorization": f"Bearer {p['token']}"}


async def test_an_admin_uses_every_screen(people: People, e2e_server: E2EServer, artifacts: Path) -> None:
    root = await people("root")
    await root.sign_up()
    db = await asyncpg.connect(e2e_server.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE handle = $1", root.handle)
    finally:
        await db.close()
    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as api:
        bob, ann = await api_person(api, "bob"), await api_person(api, "ann")
        # Bob has an authenticator app; Ann reports one of his messages.
        secret = (await api.post("/me/2fa/totp", headers=auth(bob))).json()["secret"]
        code = pyotp.TOTP(secret).at(time.time())
        assert (await api.post("/me/2fa/totp/confirm", headers=auth(bob), json={"code": code})).is_success
        cid = (
            await api.post(
                "/conversations", headers=auth(bob), json={"kind": "group", "name": "market", "member_ids": [ann["id"]]}
            )
        ).json()["id"]
        sent = await api.post(
            f"/conversations/{cid}/messages",
            headers=auth(bob),
            json={"client_msg_id": uuid.uuid4().hex, "body": "cheap pills here"},
        )
        mid = sent.json()["message_id"]
        report = (await api.post(f"/messages/{mid}/reports", headers=auth(ann), json={"reason": "spam"})).json()

        page = root.page
        await root.goto("/")
        await page.get_by_test_id("admin-link").click()
        await expect(page.get_by_test_id("admin-console")).to_be_visible()
        await expect(page.get_by_role("tab", name="Users")).to_have_attribute("aria-selected", "true")

        # Users: find Bob, reset his two-factor, deactivate him.
        await page.get_by_test_id("admin-user-search").fill(str(bob["handle"]))
        await expect(page.get_by_test_id("admin-user-total")).to_have_text("1 account")
        await page.get_by_test_id(f"admin-user-{bob['handle']}").click()
        detail = page.get_by_test_id("admin-user-detail")
        await expect(detail.get_by_test_id("admin-user-2fa")).to_contain_text("authenticator app")
        await expect(detail.get_by_test_id("admin-user-sessions").get_by_role("listitem")).to_have_count(1)
        await detail.get_by_test_id("admin-reset-2fa").click()
        await page.get_by_role("alertdialog").get_by_role("button", name="Reset two-factor").click()
        await expect(detail.get_by_test_id("admin-user-2fa")).to_have_text("none")
        await detail.get_by_test_id("admin-toggle-active").click()
        await page.get_by_role("alertdialog").get_by_role("button", name="Deactivate").click()
        await expect(detail.get_by_test_id("admin-user-state-text")).to_have_text("Deactivated")
        await expect(detail.get_by_test_id("admin-user-sessions").get_by_role("listitem")).to_have_count(0)
        await page.screenshot(path=str(artifacts / "admin-users.png"))
        assert (await api.get("/me", headers=auth(bob))).status_code == 401
        # The last admin cannot step down: the reason is shown (the browser logs the 409).
        root.expected_errors.append(r"409 \(Conflict\) @ .*/admin/users/\d+/admin")
        await page.get_by_test_id("admin-user-search").fill(root.handle)
        await page.get_by_test_id(f"admin-user-{root.handle}").click()
        await detail.get_by_test_id("admin-toggle-admin").click()
        dialog = page.get_by_role("alertdialog")
        await dialog.get_by_role("button", name="Remove admin").click()
        await expect(dialog).to_contain_text("last active admin")
        await dialog.get_by_role("button", name="Cancel").click()

        # Reports: delete the reported message; the report's history shows who did it.
        await page.get_by_role("tab", name="Reports").click()
        await page.get_by_test_id(f"admin-report-{report['id']}").click()
        rdetail = page.get_by_test_id("admin-report-detail")
        await expect(rdetail.get_by_test_id("admin-report-message")).to_have_text("cheap pills here")
        await rdetail.get_by_test_id("admin-report-delete_message").click()
        await page.get_by_role("alertdialog").get_by_role("button", name="Delete message").click()
        await expect(rdetail.get_by_test_id("admin-report-resolution")).to_contain_text("message_deleted")
        await expect(rdetail.get_by_test_id("admin-report-history")).to_contain_text(
            f"report.delete_message by @{root.handle}"
        )
        await expect(page.get_by_test_id("admin-reports-empty")).to_be_visible()
        await page.screenshot(path=str(artifacts / "admin-reports.png"))
        msg = (await api.get(f"/messages/{mid}", headers=auth(ann))).json()
        assert msg["deleted"] is True

        # Audit log: every step above, from this browser's address; a CSV download of it.
        await page.get_by_role("tab", name="Audit log").click()
        rows = page.get_by_test_id("admin-audit-row")
        for action in ("user.reset_2fa", "user.deactivate", "report.delete_message"):
            await expect(rows.filter(has=page.locator(f"text={action}"))).to_have_count(1)
        await expect(rows.first).to_contain_text("127.0.0.1")
        async with page.expect_download() as info:
            await page.get_by_test_id("admin-audit-export-csv").click()
        download = await info.value
        assert download.suggested_filename.endswith(".csv")
        text = Path(await download.path()).read_text()
        actions = [r["action"] for r in csv.DictReader(io.StringIO(text))]
        assert {"user.reset_2fa", "user.deactivate", "report.delete_message", "audit.export"} <= set(actions)
        await page.get_by_label("Action").fill("user.")
        await page.get_by_role("button", name="Filter").click()
        await expect(rows.filter(has=page.locator("text=report.delete_message"))).to_have_count(0)
        await page.screenshot(path=str(artifacts / "admin-audit.png"))

        # Status: the database answers, the queues are listed.
        await page.get_by_role("tab", name="Status").click()
        await expect(page.get_by_test_id("status-database")).to_have_attribute("data-ok", "true")
        await expect(page.get_by_test_id("status-queue-mail_outbox")).to_be_visible()
        await expect(page.get_by_test_id("status-nodes").get_by_role("listitem")).to_have_count(1)
        await page.screenshot(path=str(artifacts / "admin-status.png"))

        # Each screen has its own address: a reload stays on it.
        await page.reload()
        await expect(page.get_by_role("tab", name="Status")).to_have_attribute("aria-selected", "true")
        assert page.url.endswith("/console/status")

        # Settings and Imports render their panels.
        for tab in ("Settings", "Imports"):
            await page.get_by_role("tab", name=tab).click()
            await expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")


async def test_a_person_who_is_not_an_admin_has_no_console(people: People) -> None:
    eve = await people("eve")
    await eve.sign_up()
    await expect(eve.page.get_by_test_id("settings-link")).to_be_visible()
    await expect(eve.page.get_by_test_id("admin-link")).to_have_count(0)
    await eve.goto("/console/users")
    await expect(eve.page.get_by_test_id("admin-refused")).to_be_visible()
