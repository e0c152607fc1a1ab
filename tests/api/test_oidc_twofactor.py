"""A second factor applies to a sign-in with an OpenID Connect provider too: the provider vouches for
the identity, not for this account's authenticator (docs/subsystems/accounts.md)."""

from __future__ import annotations

import httpx

from tests.api.test_oidc import Env, browser, env, monkeypatch_module, to_callback  # noqa: F401 (fixtures)
from tests.api.twofactor_helpers import code


async def test_oidc_sign_in_of_an_account_with_totp_asks_for_the_second_step(
    browser: httpx.AsyncClient,  # noqa: F811
    env: Env,  # noqa: F811
) -> None:
    first = (await browser.get(await to_callback(browser, env, "guarded"))).status_code
    assert first == 303
    pair = (await browser.post("/auth/oidc/complete")).json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    secret = (await browser.post("/me/2fa/totp", headers=headers)).json()["secret"]
    assert (await browser.post("/me/2fa/totp/confirm", headers=headers, json={"code": code(secret)})).status_code == 200

    assert (await browser.get(await to_callback(browser, env, "guarded"))).status_code == 303
    r = await browser.post("/auth/oidc/complete")
    assert r.status_code == 200
    step = r.json()
    assert step["second_factor_required"] is True and "access_token" not in step
    assert step["methods"] == ["totp", "recovery"]
    r = await browser.post("/auth/2fa/verify", json={"challenge": step["challenge"], "code": code(secret, 1)})
    assert r.status_code == 200 and r.json()["user"]["id"] == pair["user"]["id"]
