"""The interactive API docs at /docs come from Tipline's own origin: no CDN, no inline script."""

from __future__ import annotations

import re

import httpx


async def test_docs_page_loads_swagger_ui_from_this_origin(api: httpx.AsyncClient) -> None:
    r = await api.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/docs/") for s in sources), sources
    assert "<script>" not in r.text  # every script is a file: the policy allows no inline one
    for path in sources:
        asset = await api.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css"), path
    start = (await api.get("/docs/start.js")).text
    assert '"/openapi.json"' in start
    # The document it renders is the app's own.
    assert (await api.get("/openapi.json")).json()["info"]["title"] == "Tipline"


async def test_docs_are_not_in_the_api_schema(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith("/docs") for p in paths)
