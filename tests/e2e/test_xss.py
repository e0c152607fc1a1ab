"""XSS through everything people type that others see: message bodies, display names,
conversation names and topics, file names, rendered in Chromium. The test fails if any payload runs, opens
a dialog, or even reaches the DOM as markup (the page's CSP would report the attempt).
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Dialog, expect

from tests.e2e.conftest import E2EServer, People, Person
from tests.helpers import User, send_http
from tests.media_support import upload

MARK = "window.__xss = (window.__xss || 0) + 1"
PAYLOADS = [
    f'<img src=x onerror="{MARK}">',
    f"<script>{MARK}</script>",
    f"<svg onload={MARK}>",
    '"><iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    f"[click](javascript:{MARK})",
    f'<a href="javascript:{MARK}">link</a>',
    f"{{{{constructor.constructor('{MARK}')()}}}}",
]
WATCH = """() => {
  window.__xss = 0;
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
}"""


async def api(server: E2EServer, person: Person, method: str, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        r = await http.request(method, path, json=body, headers={"Authorization": f"Bearer {await person.token()}"})
        assert r.status_code < 300, r.text
        return r.json()


async def assert_nothing_ran(person: Person) -> None:
    assert await person.page.evaluate("() => window.__xss") == 0
    assert await person.page.evaluate("() => window.__csp") == []
    assert await person.page.locator("iframe, script:not([src]), svg[onload], img[onerror]").count() == 0


async def test_payloads_render_as_text_everywhere(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await people("ann"), await people("bob")
    dialogs: list[str] = []
    for person in (ann, bob):
        await person.context.add_init_script(script=f"({WATCH})()")

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)

        person.page.on("dialog", on_dialog)
        await person.sign_up()
    evil = PAYLOADS[0]
    me = await api(e2e_server, bob, "PATCH", "/me", {"display_name": evil[:64]})
    conversation = await api(
        e2e_server, ann, "POST", "/conversations", {"kind": "group", "name": PAYLOADS[2], "member_ids": [me["id"]]}
    )
    await api(e2e_server, ann, "PATCH", f"/conversations/{conversation['id']}", {"topic": PAYLOADS[1]})
    for person in (ann, bob):
        await person.page.reload()
        await person.goto(f"/c/{conversation['id']}")
        await person.page.get_by_test_id("composer").wait_for()
    for text in PAYLOADS:
        await bob.send(text)
    # A file name is typed by its uploader too.
    evil_name = f'<img src=x onerror="{MARK}">.txt'
    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as http:
        uploader = User(me["id"], me["handle"], "", await bob.token(), "", "")
        upload_id, done = await upload(
            http, uploader, conversation["id"], b"just text", filename=evil_name, content_type="text/plain"
        )
        assert done.status_code == 200, done.text
        r = await send_http(http, uploader, conversation["id"], "a file", attachment_ids=[upload_id])
        assert r.status_code == 201, r.text
    for person in (ann, bob):
        for text in PAYLOADS:
            await expect(person.message(text).first).to_be_visible()
        await expect(person.page.get_by_text(evil_name).first).to_be_visible()
        await expect(person.page.get_by_test_id("conversation-title")).to_contain_text(PAYLOADS[2])
        await person.page.get_by_role("link", name="Members").click()
        await expect(person.page.get_by_test_id("member").filter(has_text=evil[:20]).first).to_be_visible()
        await assert_nothing_ran(person)
    assert dialogs == []
