"""Forgot password in Chromium: the link arrives by mail (a real SMTP server), the reset page takes
its token from the fragment, posts it, signs in, and the account's other session ends live.

The node sends mail to an aiosmtpd server started by this module (EMAIL_VERIFICATION on, as in
production); docs/subsystems/accounts.md, "Password reset".
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Request, WebSocket, expect

from tests.api.test_auth import link_token, mails_to, token_of
from tests.domain.mail.smtp import SmtpServer
from tests.e2e.conftest import PASSWORD, E2EServer, People, people_of
from tests.nodes import node_process

NEW_PASSWORD = "a completely new passphrase 7"


@dataclass
class MailSite:
    server: E2EServer
    smtp: SmtpServer


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def mail_site(
    web_dist: Path, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> AsyncIterator[MailSite]:
    log = tmp_path_factory.mktemp("e2e-mail") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with node_process(
        command,
        log,
        prefix="e2email",
        WEB_DIST=str(web_dist),
        EMAIL_VERIFICATION="true",
        MAIL_WORKER="true",
        MAIL_POLL_INTERVAL_S="0.05",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        SMTP_TLS="none",
    ) as node:
        yield MailSite(E2EServer(base_url=node.base_url, database_url=node.database_url, log=log), smtp)


@pytest.fixture
async def mail_people(browser: Browser, mail_site: MailSite) -> AsyncIterator[People]:
    async with people_of(browser, mail_site.server) as make:
        yield make


async def test_forgot_password_mail_reset_signed_in_and_the_other_session_ends(
    mail_people: People, mail_site: MailSite, artifacts: Path
) -> None:
    smtp = mail_site.smtp
    desk = await mail_people("desk")
    # The same person on a phone, a browser of its own.
    phone = await mail_people("phone")
    phone.handle = desk.handle

    # Signed up and confirmed; the desk browser follows the verification link and stays signed in.
    async with httpx.AsyncClient(base_url=mail_site.server.base_url, timeout=10) as http:
        r = await http.post(
            "/auth/signup",
            json={"email": desk.email, "password": PASSWORD, "handle": desk.handle, "display_name": "Desk"},
        )
        assert r.status_code == 202, r.text
    [verification] = await mails_to(smtp, desk.email)
    assert token_of(verification.link())
    sockets: list[WebSocket] = []
    desk.page.on("websocket", lambda ws: sockets.append(ws))
    await desk.page.goto(verification.link())
    await desk.page.get_by_test_id("new-conversation").wait_for()
    for _ in range(100):  # the socket opens once the shell is up
        if live := [ws for ws in sockets if not ws.is_closed()]:
            break
        await asyncio.sleep(0.05)
    assert len(live) == 1, sockets
    # Its session is revoked by the reset: the socket closes (4001) and the refresh it then tries is refused.
    desk.expected_errors.append(r"status of 401 .*@ .*/auth/refresh")

    # On the phone: sign-in, "Forgot password?", the address.
    seen: list[Request] = []
    phone.page.on("request", lambda req: seen.append(req))
    await phone.goto("/signin")
    await phone.page.get_by_role("link", name="Forgot password?").click()
    await phone.page.get_by_label("Email").fill(desk.email.upper())
    await phone.page.get_by_role("button", name="Mail me a link").click()
    await expect(phone.page.get_by_test_id("reset-requested")).to_contain_text(desk.email.upper())

    [_, reset] = await mails_to(smtp, desk.email, 2)
    link = reset.link()
    token = link_token(link, "reset")
    assert link.startswith(mail_site.server.base_url + "/reset#token=")
    await phone.page.goto(link)
    await phone.page.get_by_label("New password", exact=True).wait_for()
    # The token left the address bar as the page loaded (before anything was typed).
    assert "token" not in phone.page.url and phone.page.url.endswith("/reset")
    await phone.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await phone.page.get_by_label("New password again").fill(NEW_PASSWORD)
    await phone.page.screenshot(path=artifacts / "desktop-reset-password.png")
    await phone.page.get_by_role("button", name="Set password and sign in").click()
    await phone.page.get_by_test_id("new-conversation").wait_for()
    assert phone.page.url == mail_site.server.base_url + "/"

    # The token went to the server only in a POST body, never in a URL.
    assert all(token not in req.url.split("#", 1)[0] for req in seen)
    posted = [req for req in seen if req.url.endswith("/auth/password/reset")]
    assert len(posted) == 1 and posted[0].method == "POST"

    # The desk's session ended live: its socket was closed and it is back at sign-in, told why.
    await expect(desk.page.get_by_test_id("session-ended")).to_be_visible(timeout=10_000)
    assert live[0].is_closed()
    await expect(desk.page.get_by_role("button", name="Sign in")).to_be_visible()

    # The old password is gone; the new one signs in on the desk again.
    desk.expected_errors.append(r"status of 401 .*@ .*/auth/signin")
    await desk.page.get_by_label("Email").fill(desk.email)
    await desk.page.get_by_label("Password").fill(PASSWORD)
    await desk.page.get_by_role("button", name="Sign in").click()
    await expect(desk.page.get_by_text("That email and password do not match an account.")).to_be_visible()
    await desk.page.get_by_label("Password").fill(NEW_PASSWORD)
    await desk.page.get_by_role("button", name="Sign in").click()
    await desk.page.get_by_test_id("new-conversation").wait_for()

    # The same link a second time: refused in words, with a way to ask for a new one.
    await phone.page.goto(link)
    await phone.page.get_by_label("New password", exact=True).fill("yet another passphrase 8")
    await phone.page.get_by_label("New password again").fill("yet another passphrase 8")
    phone.expected_errors.append(r"status of 400 .*@ .*/auth/password/reset")
    await phone.page.get_by_role("button", name="Set password and sign in").click()
    await expect(phone.page.get_by_text("This reset link was already used.")).to_be_visible()
    await expect(phone.page.get_by_role("link", name="Ask for a new link")).to_be_visible()


async def test_change_email_in_settings_then_confirm_from_the_new_mailbox(
    mail_people: People, mail_site: MailSite
) -> None:
    smtp = mail_site.smtp
    ann = await mail_people("ann")
    async with httpx.AsyncClient(base_url=mail_site.server.base_url, timeout=10) as http:
        r = await http.post(
            "/auth/signup", json={"email": ann.email, "password": PASSWORD, "handle": ann.handle, "display_name": "Ann"}
        )
        assert r.status_code == 202, r.text
    [verification] = await mails_to(smtp, ann.email)
    await ann.page.goto(verification.link())
    await ann.page.get_by_test_id("new-conversation").wait_for()

    await ann.page.get_by_test_id("settings-link").click()
    await expect(ann.page.get_by_test_id("current-email")).to_have_text(ann.email)
    new_email = f"moved.{ann.handle}@example.org"
    await ann.page.get_by_label("New email address").fill(new_email)
    await ann.page.get_by_label("Current password").fill(PASSWORD)
    await ann.page.get_by_role("button", name="Change email").click()
    await expect(ann.page.get_by_test_id("email-change-sent")).to_contain_text(new_email)

    [confirm] = await mails_to(smtp, new_email)
    [_, notice] = await mails_to(smtp, ann.email, 2)
    assert new_email in notice.text
    await ann.page.goto(confirm.link())
    await expect(ann.page.get_by_test_id("email-changed")).to_contain_text(new_email)
    assert "token" not in ann.page.url
    await ann.page.get_by_role("link", name="Continue to Tipline").click()
    await ann.page.get_by_test_id("settings-link").click()
    await expect(ann.page.get_by_test_id("current-email")).to_have_text(new_email)
