"""Formatted messages, the emoji picker and who-reacted, in two Chromium browsers
(docs/subsystems/web-client.md, "Formatting" and "Emoji and reactions").

Screenshots for the docs are written to docs/images/ (formatted-message.png, emoji-picker.png).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.conftest import People, Person

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGES = ROOT / "docs" / "images"
PHONE_390 = {"width": 390, "height": 844}
BUDGET_GZIP = 250 * 1024
LAZY_CHUNKS = ("markdown", "highlight", "compact", "github")
# A static import in Vite's output (`import{x}from"./a.js"`, `import"./b.js"`), not a dynamic `import("./c.js")`.
STATIC_IMPORT = re.compile(r"""(?:^|[;}\s])import\s*(?:[\w$*{}\s,]+?from\s*)?["']\./([^"']+\.js)["']""")


def _first_load(dist: Path) -> dict[str, int]:
    """Gzipped size of every file the shell loads before any code runs: entry script, its static imports, CSS."""
    html = (dist / "index.html").read_text()
    files = re.findall(r'<script type="module"[^>]*src="/(assets/[^"]+)"', html)
    files += re.findall(r'<link rel="(?:stylesheet|modulepreload)"[^>]*href="/(assets/[^"]+)"', html)
    seen: dict[str, int] = {}
    todo = list(files)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        data = (dist / name).read_bytes()
        seen[name] = len(gzip.compress(data, 9))
        if name.endswith(".js"):
            todo += [f"assets/{m}" for m in STATIC_IMPORT.findall(data.decode())]
    return seen


async def test_first_load_stays_within_budget_with_formatting_and_emoji_loaded_on_use(web_dist: Path) -> None:
    first = _first_load(web_dist)
    total = sum(first.values()) + len(gzip.compress((web_dist / "index.html").read_bytes(), 9))
    assert total <= BUDGET_GZIP, f"first load {total / 1024:.1f} KB gzip > 250 KB: {first}"
    assert not [f for f in first if any(f"/{c}-" in "/" + f.split("/")[-1] for c in LAZY_CHUNKS)], first
    # The lazy chunks exist: the renderer, the highlighter and the emoji data are built, just not loaded first.
    built = [p.name for p in (web_dist / "assets").glob("*.js")]
    for chunk in LAZY_CHUNKS:
        assert any(name.startswith(chunk + "-") for name in built), (chunk, built)


async def _pair(people: People, **bob_options: object) -> tuple[Person, Person]:
    ann, bob = await people("ann"), await people("bob", **bob_options)
    await ann.sign_up()
    await bob.sign_up()
    await ann.open_dm(bob)
    await ann.send("hello from ann")
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.wait_message("hello from ann")
    return ann, bob


async def test_a_formatted_message_with_code_appears_formatted_in_the_other_browser(people: People) -> None:
    ann, bob = await _pair(people)
    # Plain messages never load the renderer.
    scripts: list[str] = []
    bob.page.on("request", lambda r: scripts.append(r.url) if r.url.endswith(".js") else None)

    box = ann.page.get_by_test_id("composer")
    await box.fill("Deploy is **done**, see the ~~old~~ _new_ steps @" + bob.handle)
    await box.press("End")
    # Ctrl+E wraps the selected word in backticks.
    await box.press("Shift+Control+ArrowLeft")
    await box.press("Control+e")
    await expect(box).to_have_value(f"Deploy is **done**, see the ~~old~~ _new_ steps @`{bob.handle}`")
    await box.fill(
        "Deploy is **done**, see the ~~old~~ _new_ steps @" + bob.handle + ":\n"
        "```python\n"
        "def tip(amount: int) -> str:\n"
        '    return f"sent {amount}"  # <b>not bold</b>\n'
        "```\n"
        '> quoted <img src=x onerror="window.pwned=1">\n'
        "- [docs](https://example.com/docs)\n"
        "- [bad](javascript:window.pwned=2)"
    )
    await ann.page.get_by_role("button", name="Preview").click()
    await expect(ann.page.get_by_test_id("composer-preview").locator("strong")).to_have_text("done")
    await ann.page.get_by_role("button", name="Preview").click()
    await box.press("Enter")

    body = bob.message("Deploy is").first
    await expect(body.locator("strong")).to_have_text("done")
    await expect(body.locator("s")).to_have_text("old")
    await expect(body.locator("em")).to_have_text("new")
    await expect(body.locator("blockquote")).to_contain_text('<img src=x onerror="window.pwned=1">')
    code = body.get_by_test_id("code-block")
    await expect(code).to_have_attribute("data-lang", "python")
    await expect(code.locator(".hljs-keyword").first).to_have_text("def")
    await expect(code).to_contain_text("<b>not bold</b>")
    link = body.get_by_role("link", name="docs")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(link).to_have_attribute("target", "_blank")
    assert await body.locator('a[href^="javascript:"], img, b, script').count() == 0
    await expect(body).to_contain_text("[bad](javascript:window.pwned=2)")
    # The mention of Bob is highlighted as his own inside the formatted text.
    await expect(body.locator("span.bg-amber-200", has_text="@" + bob.handle)).to_have_count(1)
    assert await bob.page.evaluate("() => window.pwned") is None
    assert any("/markdown-" in u for u in scripts), scripts
    assert any("/highlight-" in u for u in scripts), scripts

    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await bob.page.get_by_test_id("message").filter(has=body).screenshot(path=DOCS_IMAGES / "formatted-message.png")


async def test_reacting_with_an_emoji_from_the_picker_shows_who_reacted(people: People) -> None:
    ann, bob = await _pair(people)
    message = bob.page.get_by_test_id("message").filter(has=bob.message("hello from ann"))
    await message.hover()
    await message.get_by_role("button", name="Add reaction").click()
    await message.get_by_role("menuitem", name="More emoji").click()
    picker = bob.page.get_by_test_id("emoji-picker")
    await picker.get_by_role("searchbox", name="Search emoji").fill("tada")
    await picker.get_by_role("button", name="party popper").click()
    await expect(picker).to_have_count(0)

    chip = ann.page.get_by_test_id("reaction").filter(has_text="🎉")
    await expect(chip).to_have_text("🎉 1")
    await chip.hover()
    await expect(ann.page.get_by_role("tooltip")).to_have_text(f"{bob.display_name} reacted with :tada:")
    # Bob's own view says "you", and the picker remembers the emoji as recently used.
    own = bob.page.get_by_test_id("reaction").filter(has_text="🎉")
    await expect(own).to_have_attribute("aria-pressed", "true")
    await own.hover()
    await expect(bob.page.get_by_role("tooltip")).to_have_text("You reacted with :tada:")
    assert await bob.page.evaluate("() => JSON.parse(localStorage.getItem('tipline.emoji.recent'))") == ["🎉"]

    # A multi-codepoint emoji (a ZWJ sequence) is a reaction too.
    await message.hover()
    await message.get_by_role("button", name="Add reaction").click()
    await message.get_by_role("menuitem", name="More emoji").click()
    await picker.get_by_role("searchbox", name="Search emoji").fill("woman technologist")
    await picker.get_by_role("button", name="woman technologist").click()
    await expect(ann.page.get_by_test_id("reaction").filter(has_text="👩‍💻")).to_have_text("👩‍💻 1")


async def test_the_emoji_picker_on_a_phone_in_the_dark_theme(people: People) -> None:
    ann, bob = await _pair(people, viewport=PHONE_390, color_scheme="dark")
    page = bob.page
    assert await page.evaluate("() => document.documentElement.classList.contains('dark')")
    await page.get_by_role("button", name="Insert emoji").click()
    picker = page.get_by_test_id("emoji-picker")
    await expect(picker.get_by_role("region", name="Smileys & emotion")).to_be_visible()
    box = await picker.bounding_box()
    assert box is not None
    # A sheet inside the screen: nothing cut off at 390 px.
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_390["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_390["height"], box
    # Dark, not the light theme's white.
    color = await picker.evaluate("el => getComputedStyle(el).backgroundColor")
    values = [float(x) for x in color[color.index("(") + 1 : color.index(")")].replace(",", " ").split()[:3]]
    lightness = values[0] if color.startswith("oklch") else sum(values) / 3 / 255
    assert lightness < 0.35, color
    await picker.get_by_role("searchbox", name="Search emoji").fill("party")
    await expect(picker.get_by_role("button", name="party popper")).to_be_visible()
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=DOCS_IMAGES / "emoji-picker.png")
    await picker.get_by_role("button", name="party popper").click()
    await expect(page.get_by_test_id("composer")).to_have_value("🎉")
    await page.get_by_test_id("composer").press("Enter")
    await ann.wait_message("🎉")
