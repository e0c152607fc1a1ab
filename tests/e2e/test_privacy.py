"""Your data in Chromium: request an export in Settings, watch it being prepared, download the zip
(fetched with the session's token, never a bare link), then delete the account and land on the
sign-in page, signed out everywhere (docs/subsystems/accounts.md, "Your data")."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
from playwright.async_api import expect

from tests.e2e.conftest import PASSWORD, E2EServer, People


async def test_export_download_then_delete_account(people: People, e2e_server: E2EServer, artifacts: Path) -> None:
    ann = await people("priv")
    await ann.sign_up()
    bob = await people("privb")
    await bob.sign_up()
    await ann.open_dm(bob)
    await ann.send("something of mine")
    await ann.wait_message("something of mine")
    token = await ann.token()

    await ann.page.get_by_test_id("settings-link").click()
    section = ann.page.get_by_role("region", name="Your data")
    await section.wait_for()
    await section.get_by_role("button", name="Request an export").click()
    status = section.get_by_test_id("export-status")
    await expect(status).to_be_visible()
    download_button = section.get_by_role("button", name="Download your data")
    await expect(download_button).to_be_visible(timeout=30_000)
    await expect(status).to_contain_text("Your export is ready")
    await ann.page.screenshot(path=str(artifacts / "privacy-export-ready.png"))

    async with ann.page.expect_download() as info:
        await download_button.click()
    download = await info.value
    assert download.suggested_filename.startswith("tipline-export-") and download.suggested_filename.endswith(".zip")
    target = artifacts / "privacy-export.zip"
    await download.save_as(target)
    zf = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    assert json.loads(zf.read("profile.json"))["handle"] == ann.handle
    assert [m["body"] for m in json.loads(zf.read("messages.json"))] == ["something of mine"]

    # Deleting asks for the password again; a wrong one is refused with a reason.
    await section.get_by_role("button", name="Delete account…").click()
    form = ann.page.get_by_role("form", name="Delete account")
    # The refusal below, and the socket's revocation (its session is gone) failing a refresh.
    ann.expected_errors.append(r"status of 403 .*@ .*/me/delete")
    ann.expected_errors.append(r"status of 401 .*@ .*/auth/refresh")
    await form.get_by_label("Your password").fill("not the password")
    await form.get_by_role("button", name="Delete my account").click()
    await expect(form.get_by_role("alert")).to_contain_text("not your current password")
    await form.get_by_label("Your password").fill(PASSWORD)
    await ann.page.screenshot(path=str(artifacts / "privacy-delete-confirm.png"))
    await form.get_by_role("button", name="Delete my account").click()
    await expect(ann.page.get_by_role("button", name="Sign in")).to_be_visible(timeout=10_000)
    assert "/signin" in ann.page.url or await ann.page.get_by_label("Password").is_visible()

    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as api:
        assert (await api.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        r = await api.post("/auth/signin", json={"email": ann.email, "password": PASSWORD})
        assert r.status_code == 401
