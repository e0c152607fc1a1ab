"""HTTP routes for the admin console's Imports view: the `tipline import` runs and their progress
(docs/subsystems/import.md). Server admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.imports import actions
from tipline.domain.imports.schemas import ImportRunOut

router = APIRouter(prefix="/admin/imports", tags=["admin"])


@router.get("", response_model=list[ImportRunOut])
async def list_imports(
    rt: Rt, caller: CurrentCaller, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ImportRunOut]:
    """Import runs, newest first, with their counts so far. `403 not_a_server_admin` for anyone else."""
    return await actions.list_runs(rt, caller_id=caller.user_id, limit=limit)


@router.get("/{run_id}", response_model=ImportRunOut)
async def get_import(run_id: IdPath, rt: Rt, caller: CurrentCaller) -> ImportRunOut:
    """One import run (`404 import_not_found`)."""
    return await actions.get_run(rt, caller_id=caller.user_id, run_id=run_id)
