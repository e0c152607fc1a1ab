"""Tipline's settings: the only module that reads the environment.

Every setting is documented here (its ``description``) and in the README's table,
which ``tipline config --markdown`` regenerates. Names are plain upper-case
environment variables (``DATABASE_URL``, ``JWT_SECRET``...), so the same names work
in a shell, a ``.env`` file, a container and the AWS task definition.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- serving ---------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the HTTP/WebSocket server binds to.")
    port: int = Field(8000, description="Port the HTTP/WebSocket server listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The URL users reach Tipline at; its origin is always allowed for WebSockets.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"],
        description="Comma-separated browser origins allowed to open a WebSocket (the Origin check).",
    )
    data_dir: Path = Field(
        Path(".tipline"),
        description="Where the embedded defaults keep their state (PostgreSQL data, dev secret).",
    )
    web_dist: Path = Field(
        Path("web/dist"),
        description="Built web client served at / (`cd web && npm run build`); nothing is served if it has "
        "no index.html.",
    )
    ws_impl: Literal["websockets-sansio", "websockets", "wsproto"] = Field(
        "websockets-sansio",
        description="uvicorn's WebSocket implementation (chosen by bench/fanout; see docs/architecture.md).",
    )
    ws_compression: bool = Field(
        False,
        description="Offer permessage-deflate on WebSockets. Off by default: compressing each event once per "
        "socket costs more CPU in fan-out than the bandwidth it saves on small chat frames.",
    )
    forwarded_allow_ips: str | None = Field(
        None,
        description="Comma-separated proxy addresses whose X-Forwarded-For/-Proto are trusted (unset: "
        "none, the client address is the socket peer).",
    )
    shutdown_grace_s: float = Field(
        2.0,
        description="On SIGTERM, how long readiness reports false before sockets are closed (1012), so a "
        "load balancer stops sending new clients first.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")

    # --- storage ---------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db). Unset: Tipline starts "
        "its own PostgreSQL in DATA_DIR/pgdata.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL for the bus between app nodes (redis://host:6379/0; rediss:// for TLS). "
        "Unset: the in-process bus (a single node).",
    )
    redis_cluster: bool = Field(
        False, description="REDIS_URL is a Redis Cluster node: the bus uses sharded pub/sub (SPUBLISH/SSUBSCRIBE)."
    )
    bus_channel_prefix: str = Field(
        "tipline:", description="Prefix of the bus's Redis channels; deployments sharing one Redis use different ones."
    )
    db_pool_size: int = Field(10, description="Connections kept in the database pool per process.")
    db_max_overflow: int = Field(10, description="Extra connections the pool may open under load.")

    # --- accounts and tokens -------------------------------------------------------------------
    jwt_secret: SecretStr | None = Field(
        None,
        description="HMAC key for access tokens (32+ random bytes). Required by `tipline serve`; "
        "`tipline dev` generates one in DATA_DIR if unset.",
    )
    jwt_issuer: str = Field("tipline", description="`iss` claim of access tokens.")
    jwt_audience: str = Field("tipline", description="`aud` claim of access tokens.")
    access_token_ttl_s: int = Field(900, description="Lifetime of an access token, in seconds.")
    refresh_token_ttl_s: int = Field(
        30 * 24 * 3600, description="Lifetime of a refresh token (and an idle session), in seconds."
    )
    password_min_length: int = Field(10, description="Minimum password length.")
    argon2_time_cost: int = Field(3, description="argon2id passes (time cost).")
    argon2_memory_kib: int = Field(65536, description="argon2id memory cost, in KiB.")
    argon2_parallelism: int = Field(4, description="argon2id lanes.")

    # --- messages and the gateway --------------------------------------------------------------
    message_max_chars: int = Field(4000, description="Longest message body, in characters.")
    history_page_max: int = Field(100, description="Most messages one history page returns.")
    replay_limit: int = Field(
        1000,
        description="Most events a resume replays per conversation; further behind, the client is "
        "told to reload that conversation.",
    )
    ws_max_frame_bytes: int = Field(
        65536, description="Largest WebSocket frame accepted; larger closes the socket with 1009."
    )
    http_max_body_bytes: int = Field(1_048_576, description="Largest HTTP request body; larger gets 413.")
    ws_auth_timeout_s: float = Field(10.0, description="Time a new socket has to authenticate.")
    ws_idle_timeout_s: float = Field(
        75.0, description="A socket that sends no frame (not even a ping) for this long is closed."
    )
    ws_heartbeat_s: float = Field(25.0, description="Heartbeat interval suggested to clients.")
    ws_queue_max: int = Field(
        2000, description="Events queued for one socket before it is closed as a slow consumer (4008)."
    )
    typing_throttle_s: float = Field(2.0, description="At most one typing event per user per conversation.")
    presence_fanout_max_members: int = Field(
        100,
        description="Presence changes are pushed to people who share a conversation of at most this many "
        "members with the user; in larger channels clients ask GET /presence for who they show.",
    )
    presence_ttl_s: float = Field(
        60.0,
        description="With Redis: how long a node's presence entries live unless refreshed (a node that "
        "dies stops counting after this).",
    )
    away_after_s: float = Field(
        300.0, description="Sent to clients in `ready`: idle time after which a client reports `away`."
    )
    send_batch_max: int = Field(256, description="Most sends committed in one transaction (group commit).")

    # --- rate limits (per node with the embedded default; shared by all nodes over Redis) ----
    rate_limits: bool = Field(True, description="Enforce the rate limits below.")
    rate_signup_per_ip: str = Field("10/3600", description="Sign-ups per client IP: `count/seconds`.")
    rate_signin_per_ip: str = Field("30/300", description="Sign-in attempts per client IP.")
    rate_signin_per_email: str = Field("10/300", description="Sign-in attempts per email address.")
    rate_send_per_user: str = Field("60/10", description="Messages sent per user (WebSocket and HTTP).")
    rate_send_per_ip: str = Field("600/10", description="Messages sent per client IP.")
    rate_connect_per_user: str = Field("30/60", description="WebSocket connections opened per user.")
    rate_connect_per_ip: str = Field("120/60", description="WebSocket connections opened per client IP.")

    # --- message cache ---
    message_cache: bool = Field(
        True,
        description="With REDIS_URL: keep each conversation's latest messages in Redis and serve history "
        "pages and resume from there (docs/subsystems/messages.md). No cache without Redis.",
    )
    message_cache_size: int = Field(200, ge=1, description="Messages kept in the cache per conversation.")
    message_cache_max_age_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="Messages older than this (seconds) leave the cache."
    )

    @field_validator(
        "rate_signup_per_ip",
        "rate_signin_per_ip",
        "rate_signin_per_email",
        "rate_send_per_user",
        "rate_send_per_ip",
        "rate_connect_per_user",
        "rate_connect_per_ip",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        count, sep, window = value.partition("/")
        if not sep or int(count) < 1 or float(window) <= 0:
            raise ValueError("a rate is `count/seconds`, e.g. 10/60")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    def origin_allowed(self, origin: str) -> bool:
        origin = origin.rstrip("/")
        return origin in self.allowed_origins or origin == self.public_url.rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
