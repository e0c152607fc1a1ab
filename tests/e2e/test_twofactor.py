"""Two-factor authentication and passkeys in Chromium.

TOTP: enrol in Settings (the QR code is shown, the key beside it), confirm with a code computed
here with pyotp, see the recovery codes once, then sign out and sign in with the password and a
code on the second-step screen; a recovery code works too. Passkeys: a virtual authenticator
(DevTools protocol `WebAuthn.addVirtualAuthenticator`, no hardware) registers a passkey in
Settings, then "Use a passkey" on the sign-in page signs in with no address or password.

WebAuthn refuses an IP address as relying party, so this module's node has PUBLIC_URL on
`localhost` and the browser goes there (docs/subsystems/accounts.md: RP id = PUBLIC_URL's host).
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

import tests.nodes
from tests.conftest import free_port
from tests.e2e.conftest import PASSWORD, E2EServer, People, Person, people_of
from tests.nodes import node_process


@pytest.fixture(scope="module")
async def localhost_site(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    log = tmp_path_factory.mktemp("e2e-2fa") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    port = free_port()
    origin = f"http://localhost:{port}"
    with pytest.MonkeyPatch.context() as mp:
        # node_process picks its port itself; PUBLIC_URL must name it before the node starts. Only
        # this node's pick is ours: nodes started later (other modules' too) get a free port again.
        picks = iter([port])
        mp.setattr(tests.nodes, "free_port", lambda: next(picks, None) or free_port())
        async with node_process(
            command, log, prefix="e2e2fa", WEB_DIST=str(web_dist), PUBLIC_URL=origin, ALLOWED_ORIGINS=origin
        ) as node:
            yield E2EServer(base_url=origin, database_url=node.database_url, log=log)


@pytest.fixture(scope="module")
async def required_site(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    """A node with REQUIRE_2FA=everyone (TOTP only here, so its address may stay 127.0.0.1)."""
    log = tmp_path_factory.mktemp("e2e-2fa-required") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with node_process(command, log, prefix="e2e2fareq", WEB_DIST=str(web_dist), REQUIRE_2FA="everyone") as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def twofa_people(browser: Browser, localhost_site: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, localhost_site) as make:
        yield make


async def open_settings(page: Page) -> None:
    await page.get_by_test_id("settings-link").click()
    await page.get_by_role("heading", name="Two-factor authentication").wait_for()


async def sign_out(person: Person) -> None:
    if not await person.page.get_by_test_id("sign-out").is_visible():
        await open_settings(person.page)
    await person.page.get_by_test_id("sign-out").click()
    await person.page.get_by_role("button", name="Sign in", exact=True).wait_for()


async def password_step(person: Person) -> None:
    await person.goto("/signin")
    await person.page.get_by_label("Email").fill(person.email)
    await person.page.get_by_label("Password").fill(PASSWORD)
    await person.page.get_by_role("button", name="Sign in", exact=True).click()
    await person.page.get_by_test_id("second-step").wait_for()


def next_code(secret: str) -> str:
    # The confirmation used this step's code, and a code is accepted once: the next step's code
    # (inside the one-step drift window) is what the app shows a moment later.
    return pyotp.TOTP(secret).at(time.time() + 30)


async def test_totp_enrolment_and_sign_in_with_a_code_and_a_recovery_code(
    twofa_people: People, artifacts: Path
) -> None:
    ann = await twofa_people("totp")
    # The wrong codes below are refused on purpose (the browser logs each refused request).
    ann.expected_errors.append(r"status of 40[13] .*/(me/2fa/totp/confirm|auth/2fa/verify)")
    await ann.sign_up()
    await open_settings(ann.page)
    await ann.page.get_by_test_id("totp-start").click()
    qr = ann.page.get_by_role("img", name="QR code for your authenticator app")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    secret = (await ann.page.get_by_test_id("totp-secret").inner_text()).strip()
    await ann.page.get_by_label("Code from the app").fill("000000")
    await ann.page.get_by_role("button", name="Turn on").click()
    await expect(ann.page.get_by_text("That code is wrong")).to_be_visible()
    await ann.page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await ann.page.get_by_role("button", name="Turn on").click()
    shown = ann.page.get_by_test_id("recovery-codes")
    await expect(shown).to_be_visible()
    codes = [c.strip() for c in await shown.locator("li").all_inner_texts()]
    assert len(codes) == 10
    await ann.page.screenshot(path=artifacts / "2fa-recovery-codes.png", full_page=True)
    await ann.page.get_by_role("button", name="I saved them").click()
    await expect(ann.page.get_by_test_id("totp-on")).to_contain_text("10 recovery codes left")
    await sign_out(ann)

    # Password, then a wrong code, then the right one.
    await password_step(ann)
    await ann.page.screenshot(path=artifacts / "2fa-second-step.png", full_page=True)
    await ann.page.get_by_label("Authentication code").fill("123456")
    await ann.page.get_by_role("button", name="Verify").click()
    await expect(ann.page.get_by_text("That code is wrong or was already used")).to_be_visible()
    await ann.page.get_by_label("Authentication code").fill(next_code(secret))
    await ann.page.get_by_role("button", name="Verify").click()
    await ann.page.get_by_test_id("new-conversation").wait_for()
    await sign_out(ann)

    # A recovery code instead.
    await password_step(ann)
    await ann.page.get_by_role("button", name="Use a recovery code instead").click()
    await ann.page.get_by_label("Recovery code").fill(codes[0])
    await ann.page.get_by_role("button", name="Verify").click()
    await ann.page.get_by_test_id("new-conversation").wait_for()
    await open_settings(ann.page)
    await expect(ann.page.get_by_test_id("totp-on")).to_contain_text("9 recovery codes left")


async def test_passkey_registration_and_passwordless_sign_in(twofa_people: People, artifacts: Path) -> None:
    bea = await twofa_people("pk")
    cdp = await bea.context.new_cdp_session(bea.page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    await bea.sign_up()
    await open_settings(bea.page)
    await bea.page.get_by_label("Passkey name").fill("Test laptop")
    await bea.page.get_by_test_id("passkey-add").click()
    listed = bea.page.get_by_test_id("passkeys").locator("li")
    await expect(listed).to_have_count(1)
    await expect(listed.first).to_contain_text("Test laptop")
    await bea.page.screenshot(path=artifacts / "2fa-passkeys.png", full_page=True)
    await sign_out(bea)

    # No address, no password: the discoverable passkey names the account.
    await bea.goto("/signin")
    await bea.page.get_by_test_id("passkey-signin").click()
    await bea.page.get_by_test_id("new-conversation").wait_for()
    session = await bea.page.evaluate("() => JSON.parse(localStorage.getItem('tipline.session'))")
    assert session["user"]["handle"] == bea.handle
    await sign_out(bea)

    # With a passkey the password alone is not enough: the passkey answers the second step.
    await password_step(bea)
    await bea.page.get_by_role("button", name="Use a passkey").click()
    await bea.page.get_by_test_id("new-conversation").wait_for()


async def test_require_2fa_sends_a_new_account_to_enrolment_first(
    browser: Browser, required_site: E2EServer, artifacts: Path
) -> None:
    async with people_of(browser, required_site) as make:
        cal = await make("req")
        await cal.goto("/signup")
        await cal.page.get_by_label("Display name").fill(cal.display_name)
        await cal.page.get_by_label("Handle").fill(cal.handle)
        await cal.page.get_by_label("Email").fill(cal.email)
        await cal.page.get_by_label("Password").fill(PASSWORD)
        await cal.page.get_by_role("button", name="Create account").click()
        # Signed in, but only the enrolment screen until a second factor exists.
        await cal.page.get_by_role("heading", name="Set up two-factor authentication").wait_for()
        assert not await cal.page.get_by_test_id("new-conversation").is_visible()
        await cal.page.screenshot(path=artifacts / "2fa-required.png", full_page=True)
        await cal.page.get_by_test_id("totp-start").click()
        secret = (await cal.page.get_by_test_id("totp-secret").inner_text()).strip()
        await cal.page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        await cal.page.get_by_role("button", name="Turn on").click()
        # The recovery codes are shown before the app opens.
        await expect(cal.page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
        await cal.page.get_by_role("button", name="I saved them").click()
        await cal.page.get_by_test_id("new-conversation").wait_for()
