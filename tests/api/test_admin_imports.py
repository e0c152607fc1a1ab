"""`GET /admin/imports` and `GET /admin/imports/{id}`: the import runs for the admin console,
newest first with their counts; server admins only (not members, not tokens, not anonymous)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.domain.imports.exports import build_mattermost
from tests.helpers import signup
from tipline.domain.imports.actions import do_import
from tipline.domain.imports.mattermost import MattermostExport
from tipline.domain.imports.schemas import ImportFormatError
from tipline.domain.moderation.actions import do_grant_admin


async def test_admins_see_import_runs_newest_first(api: httpx.AsyncClient, server: Server, tmp_path: Path) -> None:
    admin = await signup(api)
    await do_grant_admin(server.rt, login=admin.handle)
    fx = build_mattermost(tmp_path / "team.jsonl", posts_per_channel=30)
    await do_import(server.rt, export=MattermostExport(fx.path, max_file_bytes=2**24), file_name="team.jsonl")
    bad = tmp_path / "broken.jsonl"
    bad.write_bytes(b'{"type":"version","version":1}\n{oops\n')
    with pytest.raises(ImportFormatError):
        await do_import(server.rt, export=MattermostExport(bad, max_file_bytes=2**24), file_name="broken.jsonl")

    r = await api.get("/admin/imports", headers=admin.headers)
    assert r.status_code == 200, r.text
    failed, done = r.json()
    assert failed["file_name"] == "broken.jsonl" and failed["state"] == "failed"
    assert "broken.jsonl:2" in failed["last_error"] and failed["total"] is None
    assert done["file_name"] == "team.jsonl" and done["state"] == "done" and done["source"] == "mattermost"
    assert done["processed"] == done["total"] == fx.posts + fx.replies
    assert done["counts"]["created"]["messages"] == fx.posts
    assert done["finished_at"] is not None and done["last_error"] is None

    one = await api.get(f"/admin/imports/{done['id']}", headers=admin.headers)
    assert one.status_code == 200 and one.json() == done
    assert (await api.get("/admin/imports?limit=1", headers=admin.headers)).json() == [failed]
    missing = await api.get("/admin/imports/999999", headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "import_not_found"
    assert (await api.get("/admin/imports/0", headers=admin.headers)).status_code == 422
    assert (await api.get("/admin/imports?limit=0", headers=admin.headers)).status_code == 422


async def test_import_runs_are_for_server_admins_only(api: httpx.AsyncClient, server: Server) -> None:
    member = await signup(api)
    admin = await signup(api)
    await do_grant_admin(server.rt, login=admin.handle)
    for path in ("/admin/imports", "/admin/imports/1"):
        refused = await api.get(path, headers=member.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "not_a_server_admin"
        assert (await api.get(path)).status_code == 401
    # An admin's personal access token, whatever its scopes, does not reach administration.
    token = await api.post(
        "/me/tokens",
        headers=admin.headers,
        json={"name": "all", "scopes": ["messages:read", "conversations:read", "tips:read"], "expires_in_days": 1},
    )
    assert token.status_code == 201, token.text
    with_token = await api.get("/admin/imports", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert with_token.status_code == 403 and with_token.json()["code"] == "insufficient_scope"
