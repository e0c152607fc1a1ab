"""/docs in Chromium: Swagger UI renders Tipline's operations under the page's own CSP, which
reports no violation."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EServer

WATCH_CSP = """
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


async def test_api_docs_render_with_no_csp_violation(browser: Browser, e2e_server: E2EServer) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.add_init_script(WATCH_CSP)
        await page.goto(f"{e2e_server.base_url}/docs")
        await expect(page.locator(".opblock-summary-path", has_text="/auth/signin").first).to_be_visible(timeout=15000)
        assert await page.evaluate("() => window.__csp") == []
    finally:
        await context.close()
