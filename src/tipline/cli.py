"""The `tipline` command: dev, serve, migrate, config."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

from tipline.config import Settings, get_settings

log = logging.getLogger("tipline")


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from tipline.storage.db import start_embedded_postgres

    return start_embedded_postgres(settings.data_dir)


def _dev_secret(data_dir: Path) -> bytes:
    """`tipline dev` keeps a generated key in DATA_DIR so sessions survive restarts."""
    path = data_dir / "jwt_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def _jwt_key(settings: Settings, *, dev: bool) -> bytes:
    if settings.jwt_secret is not None:
        key = settings.jwt_secret.get_secret_value().encode()
        if len(key) < 32:
            sys.exit("JWT_SECRET must be at least 32 characters")
        return key
    if dev:
        return _dev_secret(settings.data_dir)
    sys.exit("JWT_SECRET is not set: `tipline serve` needs a secret key (32+ random characters)")


def _serve(settings: Settings, *, dev: bool, migrate: bool) -> None:
    import uvicorn

    from tipline.app import build_runtime, create_app
    from tipline.storage.migrate import upgrade

    url = _database_url(settings)
    if migrate:
        upgrade(url)
    rt = build_runtime(settings, database_url=url, jwt_key=_jwt_key(settings, dev=dev))
    app = create_app(rt)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws=settings.ws_impl,
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level=settings.log_level,
        # Proxy headers are trusted only when an operator says which proxies to trust.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )
    log.info("Tipline on http://%s:%d (API docs at /docs)", settings.host, settings.port)
    from tipline.server import GracefulServer

    GracefulServer(config, rt).run()


def _openapi_json(settings: Settings) -> str:
    import orjson

    from tipline.app import build_runtime, create_app

    # The engine connects lazily, so no database is touched to describe the API.
    rt = build_runtime(settings, database_url="postgresql://localhost/unused", jwt_key=b"unused" * 8)
    return orjson.dumps(create_app(rt).openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _config_markdown() -> str:
    rows = ["| Setting | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        shown = "(unset)" if default is None else f"`{default}`"
        rows.append(f"| `{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def _masked(name: str, value: object) -> object:
    if value and "secret" in name:
        return "***"
    if isinstance(value, str) and "://" in value and "@" in value:
        # postgresql://user:password@host/db -> postgresql://user:***@host/db
        scheme, rest = value.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return value


def _admin_grant(settings: Settings, login: str, *, admin: bool) -> None:
    import asyncio

    from tipline.app import build_runtime
    from tipline.domain.moderation.actions import do_grant_admin
    from tipline.errors import DomainError

    rt = build_runtime(settings, database_url=_database_url(settings), jwt_key=b"unused" * 8)

    async def run() -> int:
        try:
            return await do_grant_admin(rt, login=login, admin=admin)
        finally:
            await rt.engine.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as exc:
        sys.exit(exc.message)
    print(f"user {user_id} is {'now' if admin else 'no longer'} a server admin")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tipline", description="Tipline chat server")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run with embedded defaults (own PostgreSQL, in-process bus), migrating first")
    serve = sub.add_parser("serve", help="run for production (JWT_SECRET required)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("openapi", help="print the OpenAPI document (JSON) without starting a server")
    admin = sub.add_parser("admin", help="server administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    grant = admin_sub.add_parser("grant", help="make an account (by @handle or email) a server admin")
    grant.add_argument("login", help="@handle or email of an existing account")
    grant.add_argument("--revoke", action="store_true", help="take server admin away instead")
    cfg = sub.add_parser("config", help="print the settings (or the README table with --markdown)")
    cfg.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if args.command == "dev":
        _serve(settings, dev=True, migrate=True)
    elif args.command == "serve":
        _serve(settings, dev=False, migrate=args.migrate)
    elif args.command == "migrate":
        from tipline.storage.migrate import upgrade

        upgrade(_database_url(settings))
        print("migrations applied")
    elif args.command == "admin":
        _admin_grant(settings, args.login, admin=not args.revoke)
    elif args.command == "openapi":
        print(_openapi_json(settings))
    elif args.command == "config":
        if args.markdown:
            print(_config_markdown())
        else:
            for name, value in settings.model_dump().items():
                print(f"{name.upper()}={_masked(name, value)}")


if __name__ == "__main__":
    main()
