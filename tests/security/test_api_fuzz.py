"""API fuzzing: schemathesis generates requests for every operation of Tipline's own OpenAPI
document and sends them, signed in, to a real node. No answer may be a server error, and every
documented answer must match its schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.helpers import PASSWORD, User, create_conversation, send_http

from .conftest import LiveNode

SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "web" / "openapi.json")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
async def fuzz_context(live_node: LiveNode, live_api: Any, live_users: list[User]) -> dict[str, Any]:
    """Give the fuzzer something to find: a group, a channel and a few messages with low ids."""
    owner, other, _ = live_users
    group = await create_conversation(live_api, owner, "group", [other], name="fuzz group")
    await create_conversation(live_api, owner, "public", [], name="fuzz channel")
    for i in range(3):
        await send_http(live_api, owner, group["id"], f"fuzz seed {i}")
    return {"base_url": live_node.base_url, "headers": owner.headers, "node": live_node, "spare": live_users[2]}


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_schema_holds(case: schemathesis.Case, fuzz_context: dict[str, Any]) -> None:
    headers = fuzz_context["headers"]
    if case.path.startswith("/auth/signout"):
        # Sign out a throwaway session: signing the fuzzing session out would turn every
        # later case into a plain 401.
        spare: User = fuzz_context["spare"]
        r = requests.post(
            f"{fuzz_context['base_url']}/auth/signin", json={"email": spare.email, "password": PASSWORD}, timeout=10
        )
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    case.call_and_validate(base_url=fuzz_context["base_url"], headers=headers, checks=CHECKS)


def test_the_node_logged_no_unhandled_exception(fuzz_context: dict[str, Any]) -> None:
    node: LiveNode = fuzz_context["node"]
    text = node.log_text()
    assert node.alive()
    assert "Traceback" not in text, text[-4000:]
    assert "Exception in ASGI application" not in text
