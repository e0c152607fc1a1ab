"""The `tipline` command: dev, serve, cluster, migrate, config, admin, check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipline.config import Settings, get_settings

if TYPE_CHECKING:
    from tipline.chain.anvil import Anvil

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


def _dev_chain(settings: Settings) -> tuple[Settings, Anvil | None]:
    """With no CHAIN_RPC_URL, `tipline dev` tips on a local anvil node it starts and stops."""
    if settings.chain_rpc_url:
        return settings, None
    import asyncio

    from tipline.chain.anvil import DEV_ACCOUNTS
    from tipline.chain.deploy import start_dev_chain

    try:
        settings, node = asyncio.run(start_dev_chain(settings))
    except FileNotFoundError as exc:
        # Chat works without a chain: say how to get one rather than refusing to start.
        log.warning("no local chain, tipping is off: %s", exc)
        return settings, None
    log.info(
        "local chain %s (chain id %d, pid %d): TipJar at %s, demo token %s; development accounts %s... are funded "
        "(import anvil's well-known test keys into a wallet to tip)",
        node.url,
        node.chain_id,
        node.pid,
        settings.tip_contract_address,
        settings.tip_tokens[-1],
        ", ".join(DEV_ACCOUNTS[:3]),
    )
    return settings, node


def _watcher(settings: Settings) -> int:
    """The chain watcher alone, for deployments that run it as its own service. Every app node
    also runs one; a PostgreSQL advisory lock keeps exactly one active, so this is only about
    where the work happens. Its events reach the nodes' sockets over the bus (REDIS_URL)."""
    import asyncio
    import signal

    if not settings.chain_rpc_url or not settings.tip_contract_address:
        print("error: the watcher needs CHAIN_RPC_URL and TIP_CONTRACT_ADDRESS", file=sys.stderr)
        return 2
    from tipline.app import build_runtime
    from tipline.chain.watcher import ChainWatcher

    async def run() -> int:
        rt = build_runtime(settings, database_url=_database_url(settings), jwt_key=b"unused" * 8)
        await rt.bus.start(lambda topic, payload: None)  # publishes only
        watcher = ChainWatcher(rt, rpc_url=settings.chain_rpc_url or "", contract=settings.tip_contract_address or "")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher.start()
        log.info("chain watcher process started")
        try:
            await stop.wait()
        finally:
            await watcher.stop()
            await rt.bus.close()
            await rt.engine.dispose()
        return 0

    return asyncio.run(run())


def _serve(settings: Settings, *, dev: bool, migrate: bool) -> None:
    import uvicorn

    from tipline.app import build_runtime, create_app
    from tipline.gateway.wire import ws_protocol
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
        ws=ws_protocol(settings.ws_impl),
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level=settings.log_level,
        # Logging is set up once by tipline.logs (JSON, request ids, no query strings).
        log_config=None,
        access_log=False,
        # Proxy headers are trusted only when an operator says which proxies to trust.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # After the close frames (1012): a client that does not read cannot answer its close,
        # and HTTP requests still running are given this long too, so a stop stays bounded.
        timeout_graceful_shutdown=settings.shutdown_close_s,
    )
    log.info("Tipline on http://%s:%d (API docs at /docs)", settings.host, settings.port)
    from tipline.server import GracefulServer

    try:
        GracefulServer(config, rt).run()
    except KeyboardInterrupt:
        # uvicorn raises the Ctrl-C again once its graceful shutdown is over: nothing is left to
        # stop here but what `finally` blocks and exit hooks stop (anvil, the embedded PostgreSQL).
        log.info("stopped")


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


def _read_password(settings: Settings) -> str | None:
    """ADMIN_PASSWORD, else one line on standard input (piped, or typed without echo); never argv."""
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value()
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password for the new admin: ")
        if first != getpass.getpass("Again: "):
            sys.exit("the passwords differ")
        return first or None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


def _admin_create(settings: Settings, *, email: str, handle: str | None) -> int:
    from tipline.app import build_runtime
    from tipline.domain.accounts.actions import do_create_admin
    from tipline.errors import DomainError

    password = _read_password(settings)

    async def run() -> int:
        rt = build_runtime(settings, database_url=_database_url(settings), jwt_key=b"unused" * 8)
        try:
            me, created = await do_create_admin(rt, email=email, password=password, handle=handle)
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await rt.engine.dispose()
        print(f"{'created' if created else 'promoted'} admin @{me.handle} <{me.email}> (id {me.id})")
        return 0

    return asyncio.run(run())


def _check(settings: Settings) -> int:
    """Configuration, database, Redis and migrations; one line each, exit 1 if any fails."""
    results: list[tuple[str, bool, str]] = []

    def record(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    key = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    record("config JWT_SECRET", len(key) >= 32, "set" if len(key) >= 32 else "missing or under 32 characters")
    try:
        from tipline.domain.accounts.oidc import parse_providers

        providers = parse_providers(settings)
        record("config OIDC_PROVIDERS", True, ", ".join(providers) or "none configured")
    except ValueError as exc:
        record("config OIDC_PROVIDERS", False, str(exc))
    if not settings.database_url:
        record("database", False, "DATABASE_URL is not set (the embedded PostgreSQL is for `tipline dev`)")
    else:
        asyncio.run(_check_database(settings.database_url, record))
    if settings.redis_url:
        asyncio.run(_check_redis(settings, record))
    else:
        record("redis", True, "REDIS_URL not set: in-process bus (one node only)")
    return 0 if all(ok for _, ok, _ in results) else 1


async def _check_database(url: str, record: Callable[[str, bool, str], None]) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

    from tipline.storage.db import create_engine
    from tipline.storage.migrate import alembic_config

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:

            def revisions(sync: Connection) -> set[str]:
                return set(MigrationContext.configure(sync).get_current_heads())

            current = await conn.run_sync(revisions)
        record("database", True, "reachable")
        heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
        if current == heads:
            record("migrations", True, f"at head ({', '.join(sorted(heads))})")
        else:
            shown = ", ".join(sorted(current)) or "none"
            record("migrations", False, f"at {shown}, head is {', '.join(sorted(heads))}: run `tipline migrate`")
    except Exception as exc:
        record("database", False, f"unreachable ({type(exc).__name__})")
    finally:
        await engine.dispose()


async def _check_redis(settings: Settings, record: Callable[[str, bool, str], None]) -> None:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    assert settings.redis_url is not None
    client: Any = (
        RedisCluster.from_url(settings.redis_url) if settings.redis_cluster else Redis.from_url(settings.redis_url)
    )
    try:
        await asyncio.wait_for(client.ping(), 5)
        record("redis", True, "reachable")
    except Exception as exc:
        record("redis", False, f"unreachable ({type(exc).__name__})")
    finally:
        await client.aclose()


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
    cluster = sub.add_parser(
        "cluster", help="run N nodes behind HAProxy on one machine, with PostgreSQL and Redis (docs/operations.md)"
    )
    cluster.add_argument("--nodes", type=int, default=3, help="how many app nodes (processes)")
    cluster.add_argument("--port", type=int, default=None, help="the load balancer's port (default: PORT)")
    cluster.add_argument(
        "--redis-cluster",
        action="store_true",
        help="sharded pub/sub on a 3-shard Redis Cluster (scripts/redis-cluster.sh)",
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("watcher", help="run only the chain watcher (tips), e.g. as its own service")
    sub.add_parser("openapi", help="print the OpenAPI document (JSON) without starting a server")
    cfg = sub.add_parser("config", help="print the settings (or the README table with --markdown)")
    cfg.add_argument("--markdown", action="store_true")
    admin = sub.add_parser("admin", help="server administration: create or grant admin accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    grant = admin_sub.add_parser("grant", help="make an account (by @handle or email) a server admin")
    grant.add_argument("login", help="@handle or email of an existing account")
    grant.add_argument("--revoke", action="store_true", help="take server admin away instead")
    create = admin_sub.add_parser(
        "create",
        help="make an account an admin, creating it when there is none (password from ADMIN_PASSWORD or stdin)",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--handle", help="handle of a new account (default: from the email address)")
    sub.add_parser("check", help="check configuration, database, Redis and migrations; exit 1 on any failure")
    args = parser.parse_args(argv)

    settings = get_settings()
    from tipline.logs import configure

    configure(settings)
    if args.command == "dev":
        settings, chain = _dev_chain(settings)
        try:
            _serve(settings, dev=True, migrate=True)
        finally:
            if chain is not None:
                chain.stop()
    elif args.command == "serve":
        _serve(settings, dev=False, migrate=args.migrate)
    elif args.command == "cluster":
        from tipline.cluster import run_cluster

        run_cluster(
            settings,
            nodes=args.nodes,
            port=args.port or settings.port,
            redis_cluster=args.redis_cluster,
            # Every node signs and checks tokens with the same key.
            jwt_secret=_jwt_key(settings, dev=True).decode(),
        )
    elif args.command == "watcher":
        sys.exit(_watcher(settings))
    elif args.command == "migrate":
        from tipline.storage.migrate import upgrade

        upgrade(_database_url(settings))
        print("migrations applied")
    elif args.command == "admin" and args.admin_command == "grant":
        _admin_grant(settings, args.login, admin=not args.revoke)
    elif args.command == "admin":
        sys.exit(_admin_create(settings, email=args.email, handle=args.handle))
    elif args.command == "openapi":
        print(_openapi_json(settings))
    elif args.command == "check":
        sys.exit(_check(settings))
    elif args.command == "config":
        if args.markdown:
            print(_config_markdown())
        else:
            for name, value in settings.model_dump().items():
                print(f"{name.upper()}={_masked(name, value)}")


if __name__ == "__main__":
    main()
