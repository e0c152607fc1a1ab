"""HTTP routes for a person's data: export and account deletion, and their admin twins.

See docs/subsystems/accounts.md ("Your data: export and deletion").
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip
from tipline.domain.privacy import actions
from tipline.domain.privacy.schemas import AccountDeleted, DeleteAccountIn, ExportOut
from tipline.storage.objects import Delivery

router = APIRouter(tags=["privacy"])

ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "the export's zip"},
    404: {"description": "no such export of yours, or it expired"},
    409: {"description": "the export is not ready yet"},
}


@router.post("/me/exports", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def request_export(rt: Rt, caller: CurrentCaller) -> ExportOut:
    """Ask for a zip of everything Tipline keeps about me. It is built in the background: poll
    `GET /me/exports/{id}` for `progress` and `state`; one still being built is answered again."""
    return await actions.do_request_export(rt, user_id=caller.user_id, requested_by=caller.user_id)


@router.get("/me/exports", response_model=list[ExportOut])
async def list_exports(rt: Rt, caller: CurrentCaller) -> list[ExportOut]:
    """The exports I asked for (of my data, or as an admin of someone's), newest first."""
    return await actions.list_exports(rt, user_id=caller.user_id)


@router.get("/me/exports/{export_id}", response_model=ExportOut)
async def get_export(export_id: uuid.UUID, rt: Rt, caller: CurrentCaller) -> ExportOut:
    return await actions.get_export(rt, user_id=caller.user_id, export_id=export_id)


@router.get("/me/exports/{export_id}/download", response_class=Response, responses=ZIP)
async def download_export(export_id: uuid.UUID, rt: Rt, caller: CurrentCaller) -> Response:
    """The zip, to whoever asked for it only, with their bearer token (never a link that works alone)."""
    data, filename = await actions.read_export(rt, user_id=caller.user_id, export_id=export_id)
    delivery = Delivery(content_type="application/zip", filename=filename, inline=False)
    headers = {"Content-Disposition": delivery.disposition(), "Cache-Control": "no-store"}
    return Response(data, media_type="application/zip", headers=headers)


@router.post("/me/delete", response_model=AccountDeleted)
async def delete_account(body: DeleteAccountIn, rt: Rt, caller: CurrentCaller) -> AccountDeleted:
    """Delete my account for good, confirmed with my password or a current second-factor code.

    Every session and token is revoked (open sockets close), personal data is erased, messages
    are erased or kept as a deleted user's (DELETED_USER_MESSAGES), attachments are purged, and
    tips stay only as on-chain facts. `409 last_admin`: the server's last admin cannot.
    """
    return await actions.do_delete_account(rt, user_id=caller.user_id, body=body)


@router.post("/admin/users/{user_id}/export", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def admin_export_user(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> ExportOut:
    """Admins only: an export of someone's data, downloadable by the admin (audit-logged)."""
    return await actions.do_admin_request_export(rt, admin_id=caller.user_id, target_id=user_id, ip=client_ip(request))


@router.post("/admin/users/{user_id}/delete", response_model=AccountDeleted)
async def admin_delete_user(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> AccountDeleted:
    """Admins only: delete someone's account as they could themselves (audit-logged)."""
    return await actions.do_admin_delete_user(rt, admin_id=caller.user_id, target_id=user_id, ip=client_ip(request))
