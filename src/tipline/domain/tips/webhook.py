"""Signed webhooks for tip.pending, tip.confirmed and tip.failed (docs/subsystems/tipping.md).

Each POST body is JSON ``{"event", "delivered_at", "tip"}``; ``X-Tipline-Signature`` is
``sha256=<hex HMAC-SHA256 of "<X-Tipline-Timestamp>.<body>" with TIP_WEBHOOK_SECRET>``, so a
receiver can check both origin and freshness. Delivery happens after the state change has
committed, from the node that made it, with a few retries; it is a notification, not the
record (the conversation's events and the API are).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any

import httpx
import orjson

from tipline.config import Settings

log = logging.getLogger(__name__)
ATTEMPTS = 4
_tasks: set[asyncio.Task[None]] = set()


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def schedule(settings: Settings, event: str, tip: dict[str, Any]) -> None:
    """Deliver in the background (the caller has committed already)."""
    if settings.tip_webhook_url is None:
        return
    task = asyncio.create_task(_deliver(settings, event, tip), name=f"webhook-{event}")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _deliver(settings: Settings, event: str, tip: dict[str, Any]) -> None:
    assert settings.tip_webhook_url is not None
    secret = settings.tip_webhook_secret.get_secret_value().encode() if settings.tip_webhook_secret else b""
    body = orjson.dumps({"event": event, "delivered_at": time.time(), "tip": tip})
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Tipline-Event": event,
        "X-Tipline-Timestamp": timestamp,
        "X-Tipline-Signature": signature(secret, timestamp, body),
    }
    async with httpx.AsyncClient(timeout=5.0) as client:
        for attempt in range(ATTEMPTS):
            try:
                response = await client.post(settings.tip_webhook_url, content=body, headers=headers)
                if response.status_code < 500:
                    return
            except httpx.HTTPError as exc:
                log.warning("tip webhook %s: %s", event, type(exc).__name__)
            await asyncio.sleep(0.5 * 2**attempt)
    log.error("tip webhook %s for %s not delivered after %d attempts", event, tip.get("intent_id"), ATTEMPTS)
