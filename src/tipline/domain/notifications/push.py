"""Web Push: VAPID keys, the encrypted request (RFC 8291 aes128gcm, RFC 8292 VAPID) and its outcome.

The payload is encrypted to the subscription's keys by ``pywebpush`` and signed with our VAPID key
(``py_vapid``); the request goes out with httpx, after ``access.endpoint_refusal`` has checked
that the endpoint's host is public. See docs/subsystems/notifications.md.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher

from tipline.config import Settings

TTL_S = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def generate_vapid_keys() -> tuple[str, str]:
    """A new P-256 key pair: (private scalar, uncompressed public point), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64(private), _b64(public)


def dev_vapid_settings(settings: Settings) -> Settings:
    """`tipline dev` without VAPID keys: generate a pair once and keep it in DATA_DIR/vapid.json
    (like the dev JWT secret), so browsers' subscriptions survive restarts."""
    if settings.vapid_private_key is not None and settings.vapid_public_key:
        return settings
    path = settings.data_dir / "vapid.json"
    if not path.exists():
        private, public = generate_vapid_keys()
        _write_private(path, json.dumps({"private_key": private, "public_key": public}))
    keys = json.loads(path.read_text())
    return settings.model_copy(
        update={"vapid_private_key": _secret(keys["private_key"]), "vapid_public_key": keys["public_key"]}
    )


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def _write_private(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


def push_enabled(settings: Settings) -> bool:
    return settings.vapid_private_key is not None and bool(settings.vapid_public_key)


@dataclass(frozen=True)
class PushResult:
    status: int

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """The subscription no longer exists (unsubscribed, expired): forget it."""
        return self.status in (404, 410)

    @property
    def retry(self) -> bool:
        return self.status == 429 or self.status >= 500


def build_request(settings: Settings, subscription: dict[str, Any], payload: bytes) -> tuple[bytes, dict[str, str]]:
    """The encrypted body and headers of one push."""
    assert settings.vapid_private_key is not None
    encoded = WebPusher(subscription).encode(payload, content_encoding="aes128gcm")
    parts = urlsplit(subscription["endpoint"])
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": settings.vapid_subject,
    }
    vapid = Vapid02.from_raw(settings.vapid_private_key.get_secret_value().encode())
    headers = {
        **{str(k): str(v) for k, v in vapid.sign(claims).items()},
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_S),
        "Urgency": "high",
    }
    return bytes(encoded["body"]), headers


async def send_push(
    client: httpx.AsyncClient, settings: Settings, subscription: dict[str, Any], payload: bytes
) -> PushResult:
    body, headers = build_request(settings, subscription, payload)
    # No redirects: a push service answers where it is asked, and a redirect could point inside.
    response = await client.post(
        subscription["endpoint"], content=body, headers=headers, timeout=settings.push_timeout_s, follow_redirects=False
    )
    return PushResult(status=response.status_code)
