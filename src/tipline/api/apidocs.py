"""The interactive API documentation at ``/docs``, served from Tipline's own origin.

FastAPI's stock page loads Swagger UI from a CDN and starts it with an inline script, which the
strict Content-Security-Policy (and an offline install) refuses. Here the Swagger UI files come
from the ``swagger-ui-py`` package (its static files only) and the page starts it from a script file of its own.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
# Read as data: importing the package's framework adapters is not needed.
SWAGGER_UI_FILES = str(files("swagger_ui") / "static")

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tipline API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""

START = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""

# Swagger UI sets style attributes as it renders; nothing else may come from anywhere but here.
PAGE_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    )
)


def mount_api_docs(app: FastAPI) -> None:
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    async def start_script() -> Response:
        return Response(START, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    app.add_api_route("/docs", docs_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs/start.js", start_script, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI_FILES), name="api-docs-assets")
