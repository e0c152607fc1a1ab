"""Tipline's settings: the only module that reads the environment.

Every setting is documented here (its ``description``) and in the README's table,
which ``tipline config --markdown`` regenerates. Names are plain upper-case
environment variables (``DATABASE_URL``, ``JWT_SECRET``...), so the same names work
in a shell, a ``.env`` file, a container and the AWS task definition.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
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
        description="Comma-separated addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto "
        "are trusted: the client address is the rightmost X-Forwarded-For entry not in this list (unset: none, "
        "the client address is the socket peer). `*` is refused (it takes the leftmost entry, which the client "
        "writes); for proxies without fixed addresses use FORWARDED_TRUSTED_HOPS.",
    )
    forwarded_trusted_hops: int = Field(
        0,
        ge=0,
        description="How many reverse proxies, each appending the address it received from to X-Forwarded-For, "
        "stand in front of every node (1 behind one load balancer; 2 on AWS: CloudFront, then the ALB): the "
        "client address is the entry that many from the right end, whatever the client wrote before it. Only "
        "for nodes that nothing but those proxies can reach. 0: off. Not together with FORWARDED_ALLOW_IPS.",
    )
    shutdown_grace_s: float = Field(
        2.0,
        description="On SIGTERM, how long readiness reports false before sockets are closed (1012), so a "
        "load balancer stops sending new clients first.",
    )
    shutdown_drain_s: float = Field(
        10.0,
        gt=0,
        description="On SIGTERM, after the grace period: at most this long for the sends already accepted to "
        "commit and be acknowledged before the sockets are closed (a send still waiting then is committed "
        "before exit, and its client retries it with the same client_msg_id).",
    )
    shutdown_close_s: int = Field(
        3,
        ge=1,
        description="On SIGTERM, after the sockets were sent their close (1012): at most this long for clients "
        "to answer and for HTTP requests still running, before they are dropped.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    gc_freeze: bool = Field(
        True,
        description="After start-up, move every object alive then out of the garbage collector's sight "
        "(`gc.freeze()`), so full collections scan only what serving allocates: shorter pauses, lower "
        "tail latency.",
    )

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
    bus_heartbeat_s: float = Field(
        2.0,
        gt=0,
        description="With REDIS_URL: a bus connection that received nothing for this long is sent a PING, and "
        "counts as lost if that is not answered within as long again (so a cut link to Redis is noticed "
        "within two to three times this). Too low on a starved machine and a slow reply reads as an outage.",
    )
    db_pool_size: int = Field(10, description="Connections kept in the database pool per process.")
    db_max_overflow: int = Field(10, description="Extra connections the pool may open under load.")
    db_connect_timeout_s: float = Field(
        5.0, gt=0, description="How long opening a database connection may take before it counts as failed."
    )
    db_tcp_user_timeout_s: float = Field(
        15.0,
        gt=0,
        description="A database connection whose sent data stays unacknowledged this long (the network to "
        "PostgreSQL is cut) is dropped by the kernel (TCP_USER_TIMEOUT, with TCP keepalives for idle "
        "connections), so a query on it fails instead of hanging for many minutes.",
    )
    node_unhealthy_close_s: float = Field(
        10.0,
        gt=0,
        description="A node that has not reached PostgreSQL, or the bus, for this long closes its sockets "
        "(1012) so clients reconnect to a node that can serve them, refuses new ones, and leaves send "
        "routing until it reaches both again. Readiness turns false at once.",
    )
    health_probe_s: float = Field(
        1.0, gt=0, description="How often a node checks that PostgreSQL answers (for readiness and the above)."
    )

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
    email_verification: bool = Field(
        True,
        description="Sign-up answers the same whether or not the email has an account (202) and mails a "
        "verification link; the account signs in once the link is followed. Off: sign-up signs in at once "
        "and says when an email is taken (docs/security.md).",
    )
    email_verification_ttl_s: int = Field(
        24 * 3600, ge=60, description="Lifetime of an email verification link, in seconds (used at most once)."
    )
    unverified_accounts: Literal["block", "allow"] = Field(
        "block",
        description="With EMAIL_VERIFICATION: `block` (an account signs in only once its email link is followed) "
        "or `allow` (it signs in and is used at once; sign-up then tells whoever signs in afterwards whether the "
        "address had an account, docs/security.md).",
    )
    password_reset_ttl_s: int = Field(
        3600, ge=60, description="Lifetime of a password reset link, in seconds (used at most once)."
    )
    require_2fa: Literal["off", "admins", "everyone"] = Field(
        "off",
        description="Who must have a second factor (an authenticator app or a passkey): `off`, `admins` or "
        "`everyone`. A session of such an account without one may only enrol one (`403 "
        "two_factor_enrollment_required` elsewhere) until it has (docs/subsystems/accounts.md).",
    )
    two_factor_challenge_ttl_s: int = Field(
        300, ge=30, description="Lifetime of a sign-in's second step (and of a passkey ceremony), in seconds."
    )
    email_change_ttl_s: int = Field(
        24 * 3600, ge=60, description="Lifetime of the link that confirms a new email address, in seconds."
    )

    # --- mail (docs/subsystems/accounts.md) ------------------------------------------------------
    smtp_host: str | None = Field(
        None,
        description="SMTP server mail is sent through. Unset: each mail is written to `DATA_DIR/mail/<id>.eml` "
        "and the log names the file (the embedded default; not for production).",
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "starttls",
        description="`starttls` (upgrade a plain connection, usually port 587), `tls` (TLS from the start, "
        "usually 465) or `none` (plain text: a relay on the same host or network only).",
    )
    smtp_username: str | None = Field(None, description="SMTP user name. Unset: no authentication.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (with SMTP_USERNAME).")
    smtp_timeout_s: float = Field(
        30.0, gt=0, description="How long one delivery (SMTP or SES) may take before it is retried."
    )
    mail_from: str = Field("Tipline <no-reply@localhost>", description="`From:` address of the mail Tipline sends.")
    mail_backend: Literal["smtp", "ses"] = Field(
        "smtp",
        description="How mail leaves: `smtp` (through SMTP_HOST; without it, into DATA_DIR/mail) or `ses` (the "
        "Amazon SES API with boto3's default credentials, e.g. an ECS task role: no SMTP password; the MAIL_FROM "
        "domain must be a verified SES identity). See docs/deploy-aws.md.",
    )
    ses_region: str | None = Field(
        None, description="AWS region of the SES identity (MAIL_BACKEND=ses). Unset: boto3's default region."
    )
    mail_worker: bool = Field(
        True,
        description="Send the outbox's mail from this node, and settle password reset and verification resend "
        "requests into it. Any number of nodes may: each claims different rows (FOR UPDATE SKIP LOCKED). Off: "
        "other nodes do.",
    )
    mail_poll_interval_s: float = Field(
        2.0, gt=0, description="How often each node looks for mail due to be sent in the outbox, in seconds."
    )
    mail_retry_base_s: float = Field(
        10.0,
        gt=0,
        description="Delay before retrying a mail the SMTP server did not take; it doubles (with jitter) on each "
        "attempt, up to MAIL_RETRY_MAX_S. A mail the server refuses for good (5xx) is not retried.",
    )
    mail_retry_max_s: float = Field(3600.0, gt=0, description="Longest delay between two attempts at one mail.")

    # --- notifications (docs/subsystems/notifications.md) --------------------------------------
    vapid_private_key: SecretStr | None = Field(
        None,
        description="Web Push (VAPID) private key: the raw P-256 key, base64url. `tipline dev` generates one in "
        "DATA_DIR/vapid.json; unset with `serve`: no Web Push.",
    )
    vapid_public_key: str | None = Field(
        None, description="Web Push (VAPID) public key (uncompressed P-256 point, base64url), given to browsers."
    )
    vapid_subject: str = Field(
        "mailto:admin@localhost",
        description="Contact that push services see in the VAPID claims (`mailto:` or `https:` URL).",
    )
    notify_worker: bool = Field(
        True,
        description="Run the notification worker on this node (finds DMs and mentions, sends Web Push and the "
        "email digests). Any number of nodes may: they share the work through row locks.",
    )
    notify_poll_interval_s: float = Field(
        1.0, gt=0, description="How often the notification worker looks for new messages and due pushes, in seconds."
    )
    email_notify_delay_s: float = Field(
        600.0,
        ge=0,
        description="A DM or mention still unread this long after it was sent is mailed (one digest per person).",
    )
    push_timeout_s: float = Field(10.0, gt=0, description="Timeout of one request to a push service, in seconds.")
    push_allowed_private_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated hosts (or IP addresses) a push endpoint may have although they resolve to a "
        "loopback or private address (tests only; push endpoints are public https URLs of browser vendors).",
    )
    mention_all_max_members: int = Field(
        20,
        ge=0,
        description="@here and @channel are open to every member of a conversation up to this many members; in "
        "larger ones only its owners and admins may use them.",
    )

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
    typing_fanout_max_members: int = Field(
        1000,
        ge=0,
        description="`typing` frames are passed on only in conversations of at most this many members; in "
        "larger ones they are dropped without an error. Each node keeps a conversation's member count up to 10 s.",
    )
    read_receipts_max_members: int = Field(
        20,
        ge=0,
        description='Read positions are pushed live, and shown as "Seen by" names, in conversations of at most '
        "this many members; larger ones show a count (GET /conversations/{id}/receipts).",
    )
    read_receipts_interval_s: float = Field(
        1.0, ge=0, description="At most one read-position event per member per conversation per this many seconds."
    )
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
    rate_reset_per_ip: str = Field(
        "10/3600", description="Password reset and email change requests per client IP (each may send mail)."
    )
    rate_reset_per_email: str = Field(
        "3/3600", description="Password reset and email change requests per email address (each may send mail)."
    )
    rate_twofactor_per_user: str = Field(
        "10/300", description="Second-factor code checks (sign-in, disable) per account: `count/seconds`."
    )
    rate_twofactor_per_ip: str = Field("30/300", description="Second-factor code checks per client IP.")
    rate_send_per_user: str = Field("60/10", description="Messages sent per user (WebSocket and HTTP).")
    rate_send_per_ip: str = Field("600/10", description="Messages sent per client IP.")
    rate_connect_per_user: str = Field("30/60", description="WebSocket connections opened per user.")
    rate_connect_per_ip: str = Field("120/60", description="WebSocket connections opened per client IP.")
    rate_api_per_token: str = Field(
        "600/60",
        description="HTTP calls and WebSocket sends per personal access token (a budget of its own, "
        "apart from its user's).",
    )
    bots_by_users: bool = Field(
        False, description="Any user may create bot accounts (`POST /bots`); false: administrators only."
    )

    # --- integrations: webhooks, slash commands, the outbound HTTP guard -------------------------
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names and networks (CIDR or single addresses) that server-side "
        "requests to user-given URLs (slash commands, outgoing webhooks, link previews) may reach although they "
        "are loopback, private, link-local or otherwise non-public (e.g. `127.0.0.1,intranet.example,10.1.0.0/16`). "
        "Empty: only public addresses (docs/security.md).",
    )
    integrations_worker: bool = Field(
        True, description="Run the outgoing-webhook worker on this node (it scans for new messages and delivers)."
    )
    outgoing_webhook_poll_s: float = Field(
        1.0, gt=0, description="How often the outgoing-webhook worker looks for new messages and due deliveries."
    )
    outgoing_webhook_timeout_s: float = Field(
        10.0, gt=0, description="Time limit of one outgoing-webhook delivery (connection, redirects, answer)."
    )
    outgoing_webhook_concurrency: int = Field(
        16, ge=1, description="Outgoing-webhook deliveries one node makes at once (a hanging endpoint holds one slot)."
    )
    outgoing_webhook_max_attempts: int = Field(
        6, ge=1, description="Attempts per outgoing-webhook delivery before it is given up (and counted as failed)."
    )
    outgoing_webhook_retry_base_s: float = Field(
        5.0, gt=0, description="First retry delay of a failed outgoing-webhook delivery; it doubles per attempt."
    )
    outgoing_webhook_retry_max_s: float = Field(
        600.0, gt=0, description="Longest delay between two attempts of an outgoing-webhook delivery."
    )
    link_previews: bool = Field(
        True,
        description="Fetch a preview (title, description, image) of the first links of new messages, through the "
        "outbound guard, and run the link preview worker on this node (docs/subsystems/previews.md).",
    )
    link_preview_max_links: int = Field(3, ge=1, le=10, description="Links of one message that get a preview.")
    link_preview_poll_s: float = Field(
        1.0, gt=0, description="How often the link preview worker looks for new messages with links, in seconds."
    )
    link_preview_timeout_s: float = Field(
        5.0, gt=0, description="Time limit of fetching one linked page, or its image (connection, redirects, answer)."
    )
    link_preview_max_bytes: int = Field(
        524288, ge=1024, description="Largest linked page read for its preview (a larger one gets no preview)."
    )
    link_preview_image_max_bytes: int = Field(
        2097152, ge=1024, description="Largest preview image fetched (a larger one is left out of the preview)."
    )
    link_preview_concurrency: int = Field(
        8, ge=1, description="Links one node fetches at once for previews (a slow site holds one slot)."
    )
    slash_command_timeout_s: float = Field(
        5.0, gt=0, description="How long a slash command's integration has to answer before the caller gets an error."
    )
    integration_response_max_bytes: int = Field(
        65536, ge=1024, description="Largest answer read from a slash command or outgoing webhook."
    )
    rate_incoming_webhook: str = Field("60/60", description="Messages posted per incoming webhook: `count/seconds`.")
    rate_slash_command_per_user: str = Field("30/60", description="Slash commands run per user: `count/seconds`.")

    # --- wallets (Sign-In with Ethereum) ---------------------------------------------------
    # CHAIN_ID and CHAIN_RPC_URL (tipping, below) also bind wallet sign-in: the chain id a message must
    # name, and the node that checks EIP-1271 signatures of contract wallets (unset: EOA wallets only).
    siwe_domain: str | None = Field(
        None,
        description="Domain (host[:port]) a Sign-In with Ethereum message must name. Unset: PUBLIC_URL's.",
    )
    siwe_uri: str | None = Field(
        None, description="Origin a Sign-In with Ethereum message's URI must be on. Unset: PUBLIC_URL's origin."
    )
    siwe_nonce_ttl_s: int = Field(300, description="Lifetime of a sign-in nonce, in seconds (used at most once).")
    siwe_clock_skew_s: int = Field(
        60, description="Clock difference allowed on a sign-in message's issued-at, expiry and not-before."
    )

    # --- media ---------------------------------------------------------------------------------
    media_backend: Literal["local", "s3"] = Field(
        "local",
        description="Where attachments and avatars are stored: `local` (files under MEDIA_DIR, uploads and "
        "signed downloads served by Tipline itself) or `s3` (any S3-compatible store, see S3_*).",
    )
    media_dir: Path | None = Field(None, description="Folder of the local media store. Unset: DATA_DIR/media.")
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint (e.g. http://127.0.0.1:9000 for an S3-compatible server). Unset: AWS S3."
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description="S3 endpoint as browsers reach it, for presigned upload and download URLs, when it differs "
        "from S3_ENDPOINT_URL (e.g. http://localhost:9000 for a compose service named `minio`). Unset: the same.",
    )
    s3_region: str = Field("us-east-1", description="Region of the S3 bucket.")
    s3_bucket: str = Field("tipline-media", description="S3 bucket holding attachments and avatars.")
    s3_access_key_id: SecretStr | None = Field(
        None, description="S3 access key id. Unset: boto3's default chain (task role, instance profile...)."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key (with S3_ACCESS_KEY_ID).")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="S3 URL style; `path` for most self-hosted S3-compatible servers."
    )
    media_url_ttl_s: int = Field(
        300, ge=1, le=604800, description="Lifetime of a signed attachment download URL, in seconds."
    )
    media_upload_ttl_s: int = Field(
        900, ge=1, le=604800, description="Lifetime of a presigned upload (POST) policy, in seconds."
    )
    media_max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest image attachment, in bytes.")
    media_max_audio_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest audio attachment, in bytes.")
    media_max_video_bytes: int = Field(200 * 1024 * 1024, ge=1, description="Largest video attachment, in bytes.")
    media_max_file_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest other attachment, in bytes.")
    media_max_avatar_bytes: int = Field(5 * 1024 * 1024, ge=1, description="Largest avatar upload, in bytes.")
    media_max_image_pixels: int = Field(
        50_000_000, ge=1, description="Images with more pixels are refused (decompression-bomb guard)."
    )
    media_max_attachments: int = Field(10, ge=1, le=100, description="Most attachments on one message.")
    media_thumbnail_px: int = Field(320, ge=16, le=2048, description="Longest side of an image thumbnail.")
    media_avatar_px: int = Field(256, ge=16, le=2048, description="Side of the square avatar image.")
    media_orphan_ttl_s: int = Field(
        86400, ge=60, description="Uploads never attached to a message are deleted after this many seconds."
    )
    media_cleaner_interval_s: float = Field(
        3600.0, gt=0, description="How often each node looks for orphaned uploads to delete, in seconds."
    )

    # --- server settings (admins change the rest at run time: docs/subsystems/admin.md) ----------
    server_settings_cache_ttl_s: float = Field(
        5.0,
        ge=0,
        description="How long each process keeps the server settings admins edit before reading them again, "
        "in seconds (a change reaches other nodes within this time).",
    )
    retention_interval_s: float = Field(
        3600.0, gt=0, description="How often each node deletes messages past their retention, in seconds."
    )
    retention_batch: int = Field(500, ge=1, le=10_000, description="Messages deleted per transaction by retention.")
    custom_emoji_max_bytes: int = Field(
        256 * 1024, ge=1, le=5 * 1024 * 1024, description="Largest custom emoji image an admin may upload, in bytes."
    )

    # --- privacy: data export and account deletion (docs/subsystems/accounts.md) ----------------
    deleted_user_messages: Literal["erase", "keep"] = Field(
        "erase",
        description="What happens to a deleted account's messages: `erase` (their text goes, a tombstone keeps "
        "the conversation's order) or `keep` (the text stays, shown as from a deleted user). Attachments "
        "are purged either way.",
    )
    export_ttl_days: float = Field(
        7.0, gt=0, description="A data export's zip can be downloaded for this many days, then it is purged."
    )
    export_poll_interval_s: float = Field(
        2.0, gt=0, description="How often each node's export worker looks for requested data exports, in seconds."
    )

    # --- message cache -------------------------------------------------------------------------
    message_cache: bool = Field(
        True,
        description="With REDIS_URL: keep each conversation's latest messages in Redis and serve history "
        "pages and resume from there (docs/subsystems/messages.md). No cache without Redis.",
    )
    message_cache_size: int = Field(200, ge=1, description="Messages kept in the cache per conversation.")
    message_cache_max_age_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="Messages older than this (seconds) leave the cache."
    )

    # --- send routing (many nodes) ---------------------------------------------------------------
    send_routing: bool = Field(
        True,
        description="With REDIS_URL: a busy conversation's sends are committed by one node, its owner "
        "(rendezvous hashing over the live nodes), which the other nodes forward them to, so one group "
        "commit reaches every node as one burst (docs/subsystems/messages.md). Off: each node commits "
        "the sends it receives.",
    )
    send_routing_min_rate: float = Field(
        10.0,
        ge=0,
        description="With send routing: a node forwards a conversation's sends to its owner while it takes "
        "at least this many a second for it; quieter conversations commit where they arrive (a commit "
        "would group few sends, and forwarding costs two Redis hops). 0: always forward.",
    )
    socket_recheck_s: float = Field(
        30.0,
        gt=0,
        description="How often a node re-checks its open sockets' sessions, memberships and blocks against "
        "PostgreSQL while the bus is up (a backstop: the bus normally delivers each change at once).",
    )
    socket_recheck_outage_s: float = Field(
        1.0,
        gt=0,
        description="How often a node re-checks its open sockets against PostgreSQL while the bus is down, so "
        "a sign-out, deactivation or removal made meanwhile still closes or unsubscribes them.",
    )
    send_forward_timeout_s: float = Field(
        3.0,
        gt=0,
        description="With send routing: how long a node waits for the owner's answer to a forwarded send "
        "before committing it itself (client_msg_id keeps that idempotent).",
    )
    node_ttl_s: float = Field(
        3.0,
        gt=0,
        description="With send routing: a node that has not refreshed its registry entry for this long "
        "(it refreshes every third of it) stops owning conversations.",
    )

    @field_validator(
        "rate_signup_per_ip",
        "rate_signin_per_ip",
        "rate_signin_per_email",
        "rate_reset_per_ip",
        "rate_reset_per_email",
        "rate_twofactor_per_user",
        "rate_twofactor_per_ip",
        "rate_send_per_user",
        "rate_send_per_ip",
        "rate_connect_per_user",
        "rate_connect_per_ip",
        "rate_api_per_token",
        "rate_incoming_webhook",
        "rate_slash_command_per_user",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        count, sep, window = value.partition("/")
        if not sep or int(count) < 1 or float(window) <= 0:
            raise ValueError("a rate is `count/seconds`, e.g. 10/60")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _no_wildcard_proxy(cls, value: str | None) -> str | None:
        if value is not None and "*" in (part.strip() for part in value.split(",")):
            raise ValueError(
                "`*` trusts any peer, and X-Forwarded-For's leftmost entry, which the client writes: list "
                "your proxies' addresses, or set FORWARDED_TRUSTED_HOPS (1 behind one load balancer)"
            )
        return value

    @field_validator("forwarded_trusted_hops")
    @classmethod
    def _one_proxy_trust(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("forwarded_allow_ips"):
            raise ValueError("set FORWARDED_ALLOW_IPS or FORWARDED_TRUSTED_HOPS, not both")
        return value

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_outbound_allow(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("push_allowed_private_hosts", mode="before")
    @classmethod
    def _split_push_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value

    def origin_allowed(self, origin: str) -> bool:
        origin = origin.rstrip("/")
        return origin in self.allowed_origins or origin == self.public_url.rstrip("/")

    # --- OIDC sign-in and operations ------------------------------------------------------------
    oidc_providers: str | None = Field(
        None,
        description='OpenID Connect providers for "Sign in with ...", a JSON list of objects: `name` (a-z, 0-9, _), '
        "`display_name`, `issuer`, `client_id`, optional `scopes` (default `openid email profile`). Each "
        "provider's client secret is read from `OIDC_<NAME>_CLIENT_SECRET` (none: a public client with PKCE). "
        "See docs/subsystems/accounts.md.",
    )
    oidc_state_ttl_s: int = Field(600, description="How long a started OIDC sign-in (state, nonce) stays usable.")
    oidc_clock_skew_s: int = Field(60, description="Clock skew allowed when checking an ID token's exp and iat.")
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"],
        description="Comma-separated ID token signature algorithms accepted (asymmetric only).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that /metrics requires. Unset: /metrics answers only loopback clients.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log format: one JSON object per line (`json`) or plain text (`text`). Unset: JSON, except "
        "`tipline dev` writing to a terminal, which prints short readable lines and a banner with the address to open.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP endpoint for OpenTelemetry traces (e.g. http://collector:4318). Unset: no tracing. "
        "Needs the `otel` extra (`pip install tipline[otel]`).",
    )
    otel_service_name: str = Field("tipline", description="`service.name` of the traces.")
    admin_password: SecretStr | None = Field(
        None,
        description="Password for `tipline admin create` when it is not piped on standard input (never in argv).",
    )

    @field_validator("oidc_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            value = [a.strip() for a in value.split(",") if a.strip()]
        if isinstance(value, list) and any(str(a).upper().startswith("HS") or a == "none" for a in value):
            raise ValueError("only asymmetric signature algorithms may verify ID tokens")
        return value

    def oidc_client_secret(self, name: str) -> str | None:
        """A provider's client secret, from `OIDC_<NAME>_CLIENT_SECRET` (secrets never sit in the JSON)."""
        return os.environ.get(f"OIDC_{name.upper()}_CLIENT_SECRET") or None

    # --- tipping (docs/subsystems/tipping.md) ---------------------------------------------------
    chain_rpc_url: str | None = Field(
        None,
        description="Ethereum JSON-RPC URL of the chain tips are sent on (an L2 or mainnet), also used to check "
        "EIP-1271 signatures of contract wallets at sign-in. Unset: `tipline dev` starts a local anvil node with "
        "TipJar and a demo token deployed; `tipline serve` runs without tipping (EOA wallet sign-in only).",
    )
    chain_id: int = Field(
        31337,
        description="Chain id tips and Sign-In with Ethereum messages must be on; the watcher refuses a node on "
        "another (31337: the local dev chain).",
    )
    tip_contract_address: str | None = Field(
        None, description="Address of the deployed TipJar contract (see docs/subsystems/tipping.md, Deploying)."
    )
    chain_confirmations: int = Field(
        2, ge=1, description="Blocks (the tip's own included) before a tip is confirmed; raise it on mainnet."
    )
    chain_poll_interval_s: float = Field(0.5, gt=0, description="How often the chain watcher looks for new blocks.")
    chain_reorg_depth: int = Field(
        64, ge=1, description="How many blocks back the watcher re-checks confirmed tips for reorgs."
    )
    chain_explorer_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="A block explorer's base URL (e.g. `https://basescan.org`): the web client links a tip's "
        "transaction to `<url>/tx/<hash>`. Unset: the hash is shown without a link.",
    )
    tip_native_symbol: str = Field("ETH", description="Symbol shown for tips in the chain's native coin.")
    tip_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="ERC-20 tokens one may tip, comma-separated `SYMBOL:0xaddress:decimals` (the native coin is "
        "always offered). Never list a fee-on-transfer or rebasing token: tips must arrive in full.",
    )
    tip_min_amount: Decimal = Field(
        Decimal("0.000001"), gt=0, description="Smallest tip, in whole units of the coin or token."
    )
    tip_max_amount: Decimal = Field(Decimal("1000"), gt=0, description="Largest tip, in whole units.")
    tip_intent_ttl_s: float = Field(
        900.0,
        gt=0,
        description="A tip intent whose transaction has not landed this long after it was issued (or reported, or "
        "dropped by a reorg) expires.",
    )
    rate_tip_per_user: str = Field("20/60", description="Tip intents issued per user: `count/seconds`.")
    tip_webhook_url: str | None = Field(
        None, description="URL that receives tip.pending, tip.confirmed and tip.failed as signed JSON POSTs."
    )
    tip_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for the `X-Tipline-Signature` header of tip webhooks."
    )
    dev_chain_block_time_s: int = Field(
        1, ge=1, description="`tipline dev` only: the local anvil node mines a block this often."
    )
    deployer_private_key: SecretStr | None = Field(
        None,
        description="`tipline token deploy` only: hex private key of the account that pays for the deployment and "
        "receives the whole supply; read from standard input when unset (never in argv, never stored or logged).",
    )

    @field_validator("tip_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("tip_tokens")
    @classmethod
    def _check_tokens(cls, value: list[str]) -> list[str]:
        for spec in value:
            parts = spec.split(":")
            if len(parts) != 3 or not re.fullmatch(r"0x[0-9a-fA-F]{40}", parts[1]) or not parts[2].isdigit():
                raise ValueError(f"a tip token is `SYMBOL:0xaddress:decimals`, not {spec!r}")
        return value

    @field_validator("tip_contract_address")
    @classmethod
    def _check_contract(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
            raise ValueError("TIP_CONTRACT_ADDRESS is a 0x-prefixed 20-byte hex address")
        return None if value is None else value.lower()

    @field_validator("rate_tip_per_user")
    @classmethod
    def _check_tip_rate(cls, value: str) -> str:
        return cls._check_rate(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
