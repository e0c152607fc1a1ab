"""The order routers are included in is chosen for speed (the busiest first); it must never
change which route answers a path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi.routing import APIRoute

from tests.conftest import make_settings
from tipline.app import build_runtime, create_app


def template_regex(path: str) -> re.Pattern[str]:
    # As Starlette compiles a path without a convertor: a parameter is one path segment.
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


def flatten(routes: Sequence[Any]) -> list[APIRoute]:
    """The API routes in the order they are tried (FastAPI keeps an included router as one entry)."""
    out: list[APIRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            out += flatten(included.routes)
        elif isinstance(route, APIRoute):
            out.append(route)
    return out


def test_every_route_answers_its_own_paths() -> None:
    rt = build_runtime(make_settings(), database_url="postgresql://localhost/unused", jwt_key=b"k" * 64)
    app = create_app(rt)
    routes = flatten(app.routes)
    assert any(r.path == "/conversations/{conversation_id}/messages" for r in routes[:2])
    assert len(routes) > 50
    shadowed = []
    for i, route in enumerate(routes):
        # A concrete path of this route: its literal segments, a number for each parameter.
        concrete = re.sub(r"\{[^}]+\}", "12345", route.path)
        for earlier in routes[:i]:
            if earlier.methods & route.methods and template_regex(earlier.path).match(concrete):
                shadowed.append(f"{sorted(route.methods)} {route.path} is answered by {earlier.path}")
    assert shadowed == []
