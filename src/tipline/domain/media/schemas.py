"""Request and response shapes for uploads, attachments and avatars."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import RowMapping

from tipline.domain.text import check_storable

ConversationId = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _check_filename(value: str) -> str:
    # Only the last path segment of what a browser reports; never used as a storage key.
    name = value.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise ValueError("a file name is needed")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("a file name cannot contain control characters")
    return name


Filename = Annotated[
    str, Field(min_length=1, max_length=255), AfterValidator(check_storable), AfterValidator(_check_filename)
]
ContentType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=127,
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+\-]*/[a-z0-9][a-z0-9!#$&^_.+\-]*$",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UploadIn(Strict):
    """An upload to be: what the browser says it will send."""

    purpose: Literal["attachment", "avatar"] = "attachment"
    conversation_id: ConversationId | None = Field(None, description="Required for attachments.")
    filename: Filename
    size: Annotated[int, Field(ge=1, le=2**53)]
    content_type: ContentType


class PresignedPostOut(BaseModel):
    """Send a multipart/form-data POST to ``url`` with every field, then the file last as ``file``."""

    url: str
    fields: dict[str, str]


class UploadOut(BaseModel):
    upload_id: uuid.UUID
    expires_at: datetime
    max_size: int
    post: PresignedPostOut


class AttachmentOut(BaseModel):
    id: uuid.UUID
    conversation_id: int | None
    message_id: int | None
    filename: str
    content_type: str
    kind: Literal["image", "audio", "video", "file"]
    size: int
    width: int | None = None
    height: int | None = None
    thumb_width: int | None = None
    thumb_height: int | None = None
    has_thumbnail: bool = False


class DownloadOut(BaseModel):
    url: str
    expires_at: datetime
    content_type: str
    inline: bool


class CropIn(Strict):
    x: Annotated[int, Field(ge=0, le=1_000_000)]
    y: Annotated[int, Field(ge=0, le=1_000_000)]
    size: Annotated[int, Field(ge=1, le=1_000_000)]


class AvatarIn(Strict):
    upload_id: uuid.UUID
    crop: CropIn | None = Field(None, description="The square to keep, in image pixels; unset: the centred one.")


class AvatarOut(BaseModel):
    user_id: int
    url: str | None = Field(description="Public URL of the current avatar; null when there is none.")


def attachment_dict(row: RowMapping) -> dict[str, Any]:
    """An attachment as clients see it (also inside message events and history)."""
    return {
        "id": str(row["id"]),
        "conversation_id": row["conversation_id"],
        "message_id": row["message_id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "kind": row["kind"],
        "size": row["size"],
        "width": row["width"],
        "height": row["height"],
        "thumb_width": row["thumb_width"],
        "thumb_height": row["thumb_height"],
        "has_thumbnail": row["thumb_key"] is not None,
    }
