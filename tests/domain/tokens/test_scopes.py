"""The scope table names real routes only, and every route a token may call is in it."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_routes import api_routes
from tipline.domain.accounts.tokens import AccessClaims
from tipline.domain.tokens.access import hash_api_token, require_scope
from tipline.domain.tokens.scopes import ANY, ROUTE_SCOPES, SCOPES
from tipline.errors import Forbidden


def test_every_entry_is_a_route_and_every_scope_is_known() -> None:
    routes = {(method, route.path) for route in api_routes() for method in route.methods}
    assert set(ROUTE_SCOPES) - routes == set()
    assert set(ROUTE_SCOPES.values()) <= {*SCOPES, ANY}
    # Nothing that manages credentials, bots or the account is open to a token.
    for method, path in ROUTE_SCOPES:
        assert not path.startswith(("/auth", "/me/", "/bots", "/admin")), (method, path)


def test_require_scope() -> None:
    sid = uuid.uuid4()
    session = AccessClaims(user_id=1, session_id=sid)
    token = AccessClaims(user_id=1, session_id=sid, scopes=frozenset({"messages:read"}))
    require_scope(session, None)  # a signed-in session is not limited by scopes
    require_scope(token, "messages:read")
    require_scope(token, ANY)
    for needed in (None, "messages:write"):
        with pytest.raises(Forbidden) as refused:
            require_scope(token, needed)
        assert refused.value.code == "insufficient_scope"


def test_the_hash_is_of_the_random_part() -> None:
    assert hash_api_token("tlp_abc") == hash_api_token("tlp_abc")
    assert hash_api_token("tlp_abc") != hash_api_token("tlp_abd")
    assert len(hash_api_token("tlp_abc")) == 32
