"""The order routers are included in is chosen for speed (the busiest first); it must never
change which route answers a path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi.routing import APIRoute

from tests.conftest import make_settings
from tipline.api.deps import get_caller, get_token_claims
from tipline.api.twofactor import get_enrolling_caller
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


def api_routes() -> list[APIRoute]:
    rt = build_runtime(make_settings(), database_url="postgresql://localhost/unused", jwt_key=b"k" * 64)
    return flatten(create_app(rt).routes)


def test_every_route_answers_its_own_paths() -> None:
    routes = api_routes()
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


def calls(dependant: Any) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= calls(sub)
    return found


def test_only_the_history_route_checks_its_session_itself() -> None:
    """``UncheckedSession`` skips the session check of ``get_caller``: allowed only where the
    action reads the session with its own access check (``access_session_reader``), and a new
    use must be added here on purpose."""
    unchecked = set()
    enrolling = set()
    for route in api_routes():
        used = calls(route.dependant)
        if get_token_claims in used and get_caller not in used:
            # ``EnrollingCaller`` checks the session too (``access_session_enrolling``) but lets a
            # session that must first enrol a second factor (REQUIRE_2FA) through: only these.
            target = enrolling if get_enrolling_caller in used else unchecked
            target |= {(method, route.path) for method in route.methods}
    assert unchecked == {("GET", "/conversations/{conversation_id}/messages")}
    assert enrolling == {
        ("GET", "/me"),
        ("POST", "/auth/signout"),
        ("GET", "/me/2fa"),
        ("POST", "/me/2fa/totp"),
        ("POST", "/me/2fa/totp/confirm"),
        ("POST", "/me/2fa/totp/disable"),
        ("POST", "/me/2fa/recovery-codes"),
        ("GET", "/me/passkeys"),
        ("POST", "/me/passkeys/options"),
        ("POST", "/me/passkeys"),
        ("DELETE", "/me/passkeys/{passkey_id}"),
    }
