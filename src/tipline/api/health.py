"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tipline.api.deps import Rt

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready"}})
async def readyz(rt: Rt) -> JSONResponse:
    """Ready for traffic: not shutting down, the database answered the last probe, the bus is connected.

    The database check is the node's own probe (gateway/health.py, every ``HEALTH_PROBE_S``):
    the load balancer's checks cost no query, and readiness agrees with what the node does."""
    checks = {"accepting": not rt.shutting_down, "bus": rt.bus.healthy(), "database": rt.database_ok}
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
