"""GET /metrics for Prometheus: a bearer token from METRICS_TOKEN, or loopback clients only."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from tipline.api.deps import Rt, client_ip
from tipline.errors import Forbidden, Unauthorized

router = APIRouter(tags=["operations"])

LOOPBACK = {"127.0.0.1", "::1"}


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: Rt, request: Request) -> Response:
    token = rt.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise Unauthorized("send `Authorization: Bearer <METRICS_TOKEN>`", code="metrics_token_required")
    elif client_ip(request) not in LOOPBACK:
        raise Forbidden("set METRICS_TOKEN to read metrics from another host", code="metrics_forbidden")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
