"""Run Tipline with the built web client, as `tipline serve --migrate` will once create_app mounts it.

Configuration comes from the environment, like `tipline serve` (DATABASE_URL, JWT_SECRET, PORT,
PUBLIC_URL, ALLOWED_ORIGINS, ARGON2_*...), plus WEB_DIST: the built client to serve.
mount_web is idempotent, so this keeps working after create_app calls it itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn

from tipline.app import build_runtime, create_app
from tipline.config import Settings
from tipline.gateway.wire import ws_protocol
from tipline.storage.migrate import upgrade
from tipline.web import mount_web


def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    if settings.database_url is None or settings.jwt_secret is None:
        sys.exit("launcher: DATABASE_URL and JWT_SECRET are required")
    upgrade(settings.database_url)
    rt = build_runtime(
        settings, database_url=settings.database_url, jwt_key=settings.jwt_secret.get_secret_value().encode()
    )
    app = create_app(rt)
    mount_web(app, Path(os.environ["WEB_DIST"]))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ws=ws_protocol(settings.ws_impl),
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
