"""Shapes of link previews: as messages carry them, and their events (docs/subsystems/previews.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


class PreviewImageOut(BaseModel):
    # The stored copy's size; its bytes come from GET /previews/{id}/image (a signed URL).
    width: int
    height: int


class PreviewOut(BaseModel):
    """A link's preview under its message. The image, if any, is Tipline's copy."""

    id: int
    url: str
    title: str | None
    description: str | None
    site_name: str | None
    image: PreviewImageOut | None


def preview_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    image = None
    if row["image_key"] is not None:
        image = {"width": row["image_width"], "height": row["image_height"]}
    return {
        "id": row["id"],
        "url": row["url"],
        "title": row["title"],
        "description": row["description"],
        "site_name": row["site_name"],
        "image": image,
    }
