"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tipline.api.deps import Rt
from tipline.storage.db import database_answers

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready"}})
async def readyz(rt: Rt) -> JSONResponse:
    """Ready for traffic: not shutting down, the database answers, the bus is connected."""
    checks: dict[str, bool] = {"accepting": not rt.shutting_down, "bus": rt.bus.healthy()}
    checks["database"] = await database_answers(rt.engine)
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
