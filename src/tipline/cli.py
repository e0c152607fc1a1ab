"""The `tipline` command: dev, serve, cluster, migrate, config, admin, check, import, export."""

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
    from eth_account.signers.local import LocalAccount
    from starlette.types import ASGIApp

    from tipline.chain.anvil import Anvil
    from tipline.chain.token import TokenSpec

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


def _dev_vapid(settings: Settings) -> Settings:
    """`tipline dev` keeps generated Web Push (VAPID) keys in DATA_DIR, like its JWT secret."""
    from tipline.domain.notifications.push import dev_vapid_settings

    return dev_vapid_settings(settings)


def _dev_chain(settings: Settings) -> tuple[Settings, Anvil | None]:
    """With no CHAIN_RPC_URL, `tipline dev` tips on a local anvil node it starts and stops."""
    if settings.chain_rpc_url:
        return settings, None
    import asyncio

    from tipline.chain.anvil import DEV_ACCOUNTS
    from tipline.chain.deploy import start_dev_chain

    try:
        # Kept beside the embedded PostgreSQL: the tips it holds point at this chain's blocks.
        settings, node = asyncio.run(start_dev_chain(settings, state_dir=settings.data_dir / "chain"))
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


def _unwind_on_sigterm() -> None:
    """SIGTERM (`kill`, `docker stop`, systemd) unwinds the process as Ctrl-C does, so ``finally``
    blocks and exit hooks stop what it started (anvil, the embedded PostgreSQL); the default
    action ends the process on the spot and leaves them running. While uvicorn serves it takes
    the signal over, and raises it again once its graceful shutdown is done: that lands here."""
    import signal
    from types import FrameType

    def unwind(signum: int, frame: FrameType | None) -> None:
        # A second SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, unwind)


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
    from tipline.watcher import ChainWatcher

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


def _serve(settings: Settings, *, dev: bool, migrate: bool, banner: bool = False) -> None:
    import socket

    from tipline.app import build_runtime, create_app
    from tipline.storage.migrate import upgrade

    url = _database_url(settings)
    if migrate:
        upgrade(url)
    rt = build_runtime(settings, database_url=url, jwt_key=_jwt_key(settings, dev=dev))
    fastapi_app = create_app(rt)
    node = fastapi_app.state.node
    app: ASGIApp = fastapi_app
    if settings.forwarded_trusted_hops:
        from tipline.api.middleware import TrustedHops

        app = TrustedHops(app, hops=settings.forwarded_trusted_hops)
    log.info("Tipline on http://%s:%d (API docs at /docs)", settings.host, settings.port)
    from tipline.server import GracefulServer

    class BannerServer(GracefulServer):
        """`tipline dev` in a terminal: the address to open, printed once the server really
        listens, after the start-up lines rather than lost among them."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(_dev_banner(settings), file=sys.stderr, flush=True)

    config = _uvicorn_config(settings, app)
    server = BannerServer(config, node) if banner else GracefulServer(config, node)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn raises the Ctrl-C again once its graceful shutdown is over: nothing is left to
        # stop here but what `finally` blocks and exit hooks stop (anvil, the embedded PostgreSQL).
        log.info("stopped")


def _uvicorn_config(settings: Settings, app: ASGIApp) -> Any:
    import uvicorn

    from tipline.gateway.wire import ws_protocol

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws=ws_protocol(settings.ws_impl),
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        # No transport-level pings: every client sends the protocol's heartbeat, and a socket silent
        # for WS_IDLE_TIMEOUT_S is closed by the idle sweeper, which finds a dead peer as well. A ping
        # task per socket cost about 3 µs of CPU per socket per second (bench/idle: 15 % of a core
        # at 50,000 sockets) for nothing the sweeper does not already do.
        ws_ping_interval=None,
        ws_ping_timeout=None,
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


def _dev_banner(settings: Settings) -> str:
    from tipline.logs import banner

    data = None if settings.database_url else f"{settings.data_dir} (embedded PostgreSQL)"
    return banner(settings, data=data)


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


def _check(settings: Settings, *, command: str = "serve", config_only: bool = False) -> int:
    """What `tipline <command>` needs: its settings, then (unless config_only) the database, Redis
    and migrations it would use; one line each, exit 1 if any fails."""
    results: list[tuple[str, bool, str]] = []

    def record(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    if command == "serve":
        key = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
        record("config JWT_SECRET", len(key) >= 32, "set" if len(key) >= 32 else "missing or under 32 characters")
        try:
            from tipline.backends.oidc import parse_providers

            providers = parse_providers(settings)
            record("config OIDC_PROVIDERS", True, ", ".join(providers) or "none configured")
        except ValueError as exc:
            record("config OIDC_PROVIDERS", False, str(exc))
        _check_media(settings, record)
        _check_mail(settings, record)
    if command in ("serve", "watcher"):
        _check_tipping(settings, record, required=command == "watcher")
    if not settings.database_url:
        record("database", False, "DATABASE_URL is not set (the embedded PostgreSQL is for `tipline dev`)")
    elif config_only:
        _check_url("database", settings.database_url, ("postgresql",), record)
    else:
        asyncio.run(_check_database(settings.database_url, record))
    if command == "migrate":
        pass  # migrations touch the database only
    elif settings.redis_url and config_only:
        _check_url("redis", settings.redis_url, ("redis", "rediss"), record)
    elif settings.redis_url:
        asyncio.run(_check_redis(settings, record))
    elif settings.redis_cluster:
        record("redis", False, "REDIS_CLUSTER is set but REDIS_URL is not")
    else:
        record("redis", True, "REDIS_URL not set: in-process bus (one node only)")
    return 0 if all(ok for _, ok, _ in results) else 1


def _check_url(name: str, url: str, schemes: tuple[str, ...], record: Callable[[str, bool, str], None]) -> None:
    """--config-only: the URL is well formed, without contacting what it names."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port, parts = None, urlsplit("")
    # postgresql+asyncpg:// and the like name a driver after the scheme.
    if parts.scheme.split("+")[0] in schemes and parts.hostname:
        record(name, True, f"{parts.hostname}:{port or 'default port'} (not contacted: --config-only)")
    else:
        record(name, False, f"not a {' or '.join(s + '://' for s in schemes)} URL")


def _check_mail(settings: Settings, record: Callable[[str, bool, str], None]) -> None:
    """Verification links must reach the mailbox: a mail service, and for SES a sender address on a
    domain (the identity the stack verifies), not the localhost default."""
    from email.utils import parseaddr

    if settings.mail_backend == "ses":
        address = parseaddr(settings.mail_from)[1]
        if "." not in address.rpartition("@")[2]:
            record(
                "config mail",
                False,
                f"MAIL_BACKEND=ses needs MAIL_FROM on the domain verified in SES, not {settings.mail_from!r}",
            )
        else:
            record("config mail", True, f"ses, from {address}, region {settings.ses_region or 'from the environment'}")
    elif settings.email_verification and settings.smtp_host is None:
        record(
            "config mail",
            False,
            "EMAIL_VERIFICATION is on but SMTP_HOST is not set: verification links would only be "
            "written to DATA_DIR/mail (set SMTP_HOST or MAIL_BACKEND=ses, or EMAIL_VERIFICATION=false: sign-up "
            "then signs in at once and says when an address is taken)",
        )
    else:
        record("config mail", True, settings.smtp_host or "verification off, no mail server")


def _check_tipping(settings: Settings, record: Callable[[str, bool, str], None], *, required: bool) -> None:
    """Tipping is on exactly when TIP_CONTRACT_ADDRESS is set, and then needs a chain node to confirm tips."""
    from urllib.parse import urlsplit

    rpc, contract = settings.chain_rpc_url, settings.tip_contract_address
    if rpc is not None and (urlsplit(rpc).scheme not in ("http", "https") or not urlsplit(rpc).hostname):
        # A generated placeholder secret nobody replaced looks like this.
        record("config CHAIN_RPC_URL", False, "not an http(s):// URL")
    if contract and not rpc:
        record(
            "config tipping", False, "TIP_CONTRACT_ADDRESS is set but CHAIN_RPC_URL is not: no tip would be confirmed"
        )
    elif contract:
        tokens = ", ".join(t.split(":")[0] for t in settings.tip_tokens)
        coins = f"{settings.tip_native_symbol}{', ' + tokens if tokens else ''}"
        record("config tipping", True, f"on: chain {settings.chain_id}, TipJar {contract}, {coins}")
    elif required:
        record("config tipping", False, "`tipline watcher` needs CHAIN_RPC_URL and TIP_CONTRACT_ADDRESS")
    else:
        record("config tipping", True, "off (TIP_CONTRACT_ADDRESS is not set)")


def _check_media(settings: Settings, record: Callable[[str, bool, str], None]) -> None:
    if settings.media_backend == "local":
        record("config media", True, f"local disk ({settings.media_dir or settings.data_dir / 'media'})")
    elif "s3_bucket" not in settings.model_fields_set:
        # The default name suits a compose file's own store, never an S3 account someone forgot to name.
        record("config media", False, "MEDIA_BACKEND=s3 but S3_BUCKET is not set")
    elif (settings.s3_access_key_id is None) != (settings.s3_secret_access_key is None):
        record("config media", False, "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or neither: a role)")
    else:
        where = settings.s3_endpoint_url or f"AWS S3, {settings.s3_region}"
        record("config media", True, f"s3 bucket {settings.s3_bucket} ({where})")


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


def _read_deployer_key(settings: Settings) -> str | None:
    """DEPLOYER_PRIVATE_KEY, else one line on standard input (piped, or typed without echo); never argv."""
    if settings.deployer_private_key is not None:
        return settings.deployer_private_key.get_secret_value()
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Deployer private key (hex): ") or None
    return sys.stdin.readline().strip() or None


def _token_deploy(settings: Settings, *, name: str, symbol: str, supply: str) -> int:
    """Exit 2 for bad input or setup (nothing sent), 1 when the chain refuses or the check fails."""
    from tipline.chain.token import TokenInputError, load_key, parse_spec
    from tipline.domain.tips.tokens import configured_tokens

    try:
        spec = parse_spec(name=name, symbol=symbol, supply=supply, taken=list(configured_tokens(settings)))
        if not settings.chain_rpc_url:
            raise TokenInputError("CHAIN_RPC_URL is not set: point it (and CHAIN_ID) at the chain to deploy on")
        account = load_key(_read_deployer_key(settings))
    except TokenInputError as exc:
        _say(f"error: {exc}")
        return 2
    return asyncio.run(_deploy_token(settings, settings.chain_rpc_url, account=account, spec=spec))


def _say(line: str) -> None:
    print(line, file=sys.stderr)


async def _deploy_token(settings: Settings, rpc_url: str, *, account: LocalAccount, spec: TokenSpec) -> int:
    import httpx

    from tipline.chain.rpc import Rpc, RpcError
    from tipline.chain.token import TOKEN_CONTRACT, TokenDeployError, TokenInputError, deploy_token

    # Provider URLs often carry an API key in their path: only the host is ever shown.
    where = f"CHAIN_RPC_URL ({httpx.URL(rpc_url).host or 'no host'})"
    rpc = Rpc(rpc_url)
    try:
        done = await deploy_token(
            rpc,
            account=account,
            chain_id=settings.chain_id,
            spec=spec,
            poll_s=settings.chain_poll_interval_s,
            progress=_say,
        )
    except TokenInputError as exc:
        _say(f"error: {exc}")
        return 2
    except RpcError as exc:
        _say(f"error: the node at {where} refused: {exc}")
        return 1
    except TokenDeployError as exc:
        _say(f"error: {exc}")
        return 1
    except (httpx.HTTPError, ValueError) as exc:
        # The exception's own text may quote the URL; its kind and status say enough.
        status = f" (HTTP {exc.response.status_code})" if isinstance(exc, httpx.HTTPStatusError) else ""
        _say(f"error: cannot use the JSON-RPC node at {where}: {type(exc).__name__}{status}")
        return 2
    finally:
        await rpc.close()
    _say(
        f"deployed {done.name} ({done.symbol}) at {done.address} in block {done.block_number} "
        f"(transaction {done.tx_hash}); verified: {TOKEN_CONTRACT}'s code, name, symbol, {done.decimals} "
        f"decimals, total supply {spec.supply} {done.symbol}, all held by {done.deployer}"
    )
    _say('add it to TIP_TOKENS on every node (docs/subsystems/tipping.md, "Your own token"):')
    print("TIP_TOKENS=" + ",".join([*settings.tip_tokens, done.tip_tokens_entry]))
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = _load_settings()
    from tipline.logs import configure

    log_format = configure(settings, dev=args.command == "dev")
    if args.command in ("dev", "serve"):
        _unwind_on_sigterm()
    _run(settings, args, log_format=log_format)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tipline", description="Tipline chat server")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_server_parsers(sub)
    sub.add_parser("openapi", help="print the OpenAPI document (JSON) without starting a server")
    sub.add_parser("protocol-ts", help="print the WebSocket protocol's constants for the web client (TypeScript)")
    cfg = sub.add_parser("config", help="print the settings (or the README table with --markdown)")
    cfg.add_argument("--markdown", action="store_true")
    _add_admin_parsers(sub)
    _add_token_parsers(sub)
    from tipline.commands.imports import add_parsers as add_import_parsers

    add_import_parsers(sub)
    return parser


def _add_server_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    check = sub.add_parser(
        "check", help="check what a command needs: settings, database, Redis, migrations; exit 1 on any failure"
    )
    check.add_argument(
        "--for",
        dest="for_command",
        choices=("serve", "watcher", "migrate"),
        default="serve",
        help="the command whose needs to check (default: serve)",
    )
    check.add_argument(
        "--config-only", action="store_true", help="check the settings only, without contacting the database or Redis"
    )


def _add_admin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_token_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="Tipline's own ERC-20: deploy one to list in TIP_TOKENS")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_deploy = token_sub.add_parser(
        "deploy",
        help="deploy a fixed-supply ERC-20 (OpenZeppelin) on CHAIN_RPC_URL from DEPLOYER_PRIVATE_KEY (or stdin), "
        "verify it and print the TIP_TOKENS entry",
    )
    token_deploy.add_argument("--name", required=True, help='the token\'s name, e.g. "Acme Tips"')
    token_deploy.add_argument("--symbol", required=True, help="1 to 11 letters or digits, e.g. ACME")
    token_deploy.add_argument("--supply", required=True, help="whole tokens (18 decimals), all to the deployer")


def _load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        # The reason, without a traceback (a setting is wrong, not the program) and without the
        # value, which may be a secret.
        problems = exc.errors(include_url=False, include_context=False, include_input=False)
        sys.exit("\n".join(f"invalid setting {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in problems))


def _run(settings: Settings, args: argparse.Namespace, *, log_format: str) -> None:
    """The chosen command (exits with its status where it has one)."""
    if args.command == "dev":
        settings, chain = _dev_chain(settings)
        settings = _dev_vapid(settings)
        try:
            _serve(settings, dev=True, migrate=True, banner=log_format == "dev")
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
    elif args.command == "migrate":
        from tipline.storage.migrate import upgrade

        upgrade(_database_url(settings))
        print("migrations applied")
    elif args.command == "admin" and args.admin_command == "grant":
        _admin_grant(settings, args.login, admin=not args.revoke)
    elif args.command == "config":
        _print_config(settings, markdown=args.markdown)
    elif args.command == "protocol-ts":
        from tipline.protocol import web_constants_ts

        print(web_constants_ts(), end="")
    elif args.command == "openapi":
        print(_openapi_json(settings))
    else:
        sys.exit(_run_with_status(settings, args))


def _run_with_status(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "watcher":
        return _watcher(settings)
    if args.command == "admin":
        return _admin_create(settings, email=args.email, handle=args.handle)
    if args.command == "check":
        return _check(settings, command=args.for_command, config_only=args.config_only)
    if args.command == "token":
        return _token_deploy(settings, name=args.name, symbol=args.symbol, supply=args.supply)
    from tipline.commands.imports import run as run_import  # import, export

    return run_import(settings, args, database_url=_database_url(settings))


def _print_config(settings: Settings, *, markdown: bool) -> None:
    if markdown:
        print(_config_markdown())
        return
    for name, value in settings.model_dump().items():
        print(f"{name.upper()}={_masked(name, value)}")


if __name__ == "__main__":
    main()
