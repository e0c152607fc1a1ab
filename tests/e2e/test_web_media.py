"""Attachments in the web client, in Chromium against a real Tipline (local media store).

Drag-and-drop and the Attach button upload with a progress bar; the receiver sees the image
preview (its signed thumbnail URL really loads), opens it in the lightbox, and gets an HTML
file as a download, never a page.
"""

from __future__ import annotations

import base64
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.conftest import People
from tests.e2e.test_web_client import pair_in_dm
from tests.media_support import HTML, image_bytes

DROP = """([selector, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type }));
  const zone = document.querySelector(selector);
  zone.dispatchEvent(new DragEvent("dragenter", { bubbles: true, cancelable: true, dataTransfer: dt }));
  zone.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
}"""

# An image element whose (signed) source really loaded, at the expected width.
LOADED = """([selector, width]) => {
  const img = document.querySelector(selector);
  return img !== null && img.complete && img.naturalWidth === width;
}"""


async def test_drop_attach_send_preview_lightbox_and_download(people: People, artifacts: Path, tmp_path: Path) -> None:
    ann, bob = await pair_in_dm(people)
    png = image_bytes("PNG", (640, 480))
    await ann.page.evaluate(
        DROP, ['[data-testid="drop-zone"]', "sunset.png", "image/png", base64.b64encode(png).decode()]
    )
    page_file = tmp_path / "page.html"
    page_file.write_bytes(HTML)
    await ann.page.get_by_test_id("attach-input").set_input_files(str(page_file))
    items = ann.page.get_by_test_id("upload-item")
    await expect(items).to_have_count(2)
    for name in ("sunset.png", "page.html"):
        await expect(ann.page.get_by_label(f"Uploading {name}")).to_have_attribute("aria-valuetext", "uploaded")
    await ann.page.screenshot(path=artifacts / "desktop-attachments-ready.png")
    await ann.page.get_by_test_id("send").click()
    await expect(items).to_have_count(0)

    preview = bob.page.get_by_alt_text("sunset.png")
    await expect(preview).to_be_visible(timeout=10_000)
    await bob.page.wait_for_function(LOADED, arg=['img[alt="sunset.png"]', 320])
    await expect(bob.page.get_by_role("button", name="page.html")).to_be_visible()
    await bob.page.screenshot(path=artifacts / "desktop-attachments-received.png")
    await bob.page.get_by_label("Open image sunset.png").click()
    dialog = bob.page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await bob.page.wait_for_function(LOADED, arg=["[role=dialog] img", 640])
    await bob.page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    # The HTML file arrives as a download, not as a page in Tipline's origin.
    async with bob.page.expect_download() as info:
        await bob.page.get_by_role("button", name="page.html").click()
    download = await info.value
    assert download.suggested_filename == "page.html"
    assert Path(await download.path()).read_bytes() == HTML


async def test_avatar_editor_crops_and_saves(people: People, artifacts: Path, tmp_path: Path) -> None:
    ann = await people("ann")
    await ann.sign_up()
    await ann.goto("/settings")
    await expect(ann.page.get_by_text("No picture yet.")).to_be_visible()
    picture = tmp_path / "me.png"
    picture.write_bytes(image_bytes("PNG", (600, 400)))
    await ann.page.get_by_label("Choose a picture").set_input_files(str(picture))
    await expect(ann.page.get_by_test_id("avatar-preview")).to_be_visible()
    await ann.page.get_by_label("Zoom").fill("200")  # a 240-pixel square of the 600x400 picture
    await ann.page.screenshot(path=artifacts / "desktop-avatar-editor.png")
    await ann.page.get_by_role("button", name="Save picture").click()
    await expect(ann.page.get_by_alt_text("Your picture")).to_be_visible()
    await ann.page.wait_for_function(LOADED, arg=['img[alt="Your picture"]', 256])
    # It stays after a reload: the server has it.
    await ann.page.reload()
    await ann.page.wait_for_function(LOADED, arg=['img[alt="Your picture"]', 256])
