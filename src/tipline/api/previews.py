"""HTTP routes for link previews: a preview's stored image, and removing a preview."""

from __future__ import annotations

from fastapi import APIRouter

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.media.schemas import DownloadOut
from tipline.domain.messages.schemas import MessageOut
from tipline.domain.previews import actions

router = APIRouter(tags=["previews"])


@router.get("/previews/{preview_id}/image", response_model=DownloadOut)
async def preview_image(preview_id: IdPath, rt: Rt, caller: CurrentCaller) -> DownloadOut:
    """A short-lived URL of the preview's image, Tipline's own copy (members of its conversation)."""
    return await actions.get_preview_image(rt, user_id=caller.user_id, preview_id=preview_id)


@router.delete("/previews/{preview_id}", response_model=MessageOut)
async def remove_preview(preview_id: IdPath, rt: Rt, caller: CurrentCaller) -> MessageOut:
    """Remove a link preview from a message: its sender, or the conversation's owners and admins.
    Members see ``preview.removed``. Answers the message as it is now."""
    return await actions.do_remove_preview(rt, user_id=caller.user_id, preview_id=preview_id)
