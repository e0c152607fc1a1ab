"""Tipline's Python client: ``Tipline`` / ``AsyncTipline`` for the HTTP API (models generated
from the server's OpenAPI document, in ``tipline_client.models``), and ``Realtime`` (asyncio) or
``SyncRealtime`` (blocking) for the WebSocket protocol (acks, an outbox, resume).
See clients/python/README.md."""

from tipline_client import models
from tipline_client.errors import ConnectionClosed, TiplineError
from tipline_client.http import AsyncTipline, Call, Endpoints, Tipline, new_client_msg_id
from tipline_client.realtime import Event, Outbox, PendingSend, Realtime, ws_url_for
from tipline_client.sync_realtime import SyncRealtime

__all__ = [
    "AsyncTipline",
    "Call",
    "ConnectionClosed",
    "Endpoints",
    "Event",
    "Outbox",
    "PendingSend",
    "Realtime",
    "SyncRealtime",
    "Tipline",
    "TiplineError",
    "models",
    "new_client_msg_id",
    "ws_url_for",
]
