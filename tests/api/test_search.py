"""Search over HTTP: who can find what, query syntax, CJK and substrings, highlights, paging,
people and channels."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import User, create_conversation, send_http, signup


async def search(api: httpx.AsyncClient, user: User, q: str, **params: Any) -> httpx.Response:
    return await api.get("/search/messages", headers=user.headers, params={"q": q, **params})


def bodies(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [h["body"] for h in r.json()["hits"]]


async def test_only_members_find_and_a_member_who_left_finds_nothing(api: httpx.AsyncClient) -> None:
    alice, bob, eve = await signup(api), await signup(api), await signup(api)
    group = (await create_conversation(api, alice, "group", [bob]))["id"]
    channel = (await create_conversation(api, alice, "public", [bob], name="lobby"))["id"]
    await send_http(api, alice, group, "the secret heron plan")
    await send_http(api, alice, channel, "a public heron sighting")
    assert sorted(bodies(await search(api, bob, "heron"))) == ["a public heron sighting", "the secret heron plan"]
    # Not a member: nothing, not even from a public channel they have not joined.
    assert bodies(await search(api, eve, "heron")) == []
    r = await search(api, eve, "heron", conversation_id=group)
    assert bodies(r) == []
    # Bob leaves the channel: neither what was sent before nor after he left is found.
    assert (await api.post(f"/conversations/{channel}/leave", headers=bob.headers)).status_code == 204
    await send_http(api, alice, channel, "another heron after bob left")
    assert bodies(await search(api, bob, "heron")) == ["the secret heron plan"]


async def test_deleted_messages_are_never_found(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    mid = (await send_http(api, alice, cid, "ephemeral walrus")).json()["message_id"]
    assert bodies(await search(api, alice, "walrus")) == ["ephemeral walrus"]
    assert (await api.delete(f"/messages/{mid}", headers=alice.headers)).status_code == 200
    assert bodies(await search(api, alice, "walrus")) == []
    assert bodies(await search(api, alice, "walr", mode="substring")) == []


async def test_edits_are_searchable_at_once(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    mid = (await send_http(api, alice, cid, "old wording")).json()["message_id"]
    await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": "new phrasing"})
    assert bodies(await search(api, alice, "wording")) == []
    assert bodies(await search(api, alice, "phrasing")) == ["new phrasing"]


async def test_web_search_syntax_phrase_minus_or_and_stemming(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    for body in ("red apple pie", "apple red wine", "green apple", "red cherries", "running late"):
        await send_http(api, alice, cid, body)
    assert sorted(bodies(await search(api, alice, "red apple"))) == ["apple red wine", "red apple pie"]
    assert bodies(await search(api, alice, '"red apple"')) == ["red apple pie"]
    assert sorted(bodies(await search(api, alice, "apple -red"))) == ["green apple"]
    assert sorted(bodies(await search(api, alice, "cherry or green"))) == ["green apple", "red cherries"]
    assert bodies(await search(api, alice, "runs")) == ["running late"]  # English stemming
    r = await search(api, alice, "red apple")
    assert r.json()["mode"] == "words" and r.json()["sort"] == "relevance"


async def test_ranked_by_relevance_or_recent(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    await send_http(api, alice, cid, "otter otter otter otter")
    await send_http(api, alice, cid, "an otter among many other words in a rather long sentence here")
    ranked = (await search(api, alice, "otter")).json()["hits"]
    assert ranked[0]["body"] == "otter otter otter otter" and ranked[0]["rank"] > ranked[1]["rank"]
    recent = (await search(api, alice, "otter", sort="recent")).json()["hits"]
    assert recent[0]["body"].startswith("an otter")


async def test_filters_conversation_sender_dates(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    c1 = (await create_conversation(api, alice, "group", [bob]))["id"]
    c2 = (await create_conversation(api, alice, "group", [bob]))["id"]
    await send_http(api, alice, c1, "lantern from alice")
    await send_http(api, bob, c1, "lantern from bob")
    await send_http(api, bob, c2, "lantern elsewhere")
    assert sorted(bodies(await search(api, alice, "lantern", conversation_id=c1))) == [
        "lantern from alice",
        "lantern from bob",
    ]
    assert sorted(bodies(await search(api, alice, "lantern", sender_id=bob.id))) == [
        "lantern elsewhere",
        "lantern from bob",
    ]
    hits = (await search(api, alice, "lantern")).json()["hits"]
    newest = max(h["created_at"] for h in hits)
    assert bodies(await search(api, alice, "lantern", after=newest)) == ["lantern elsewhere"]
    assert len(bodies(await search(api, alice, "lantern", before=newest))) == 2
    r = await search(api, alice, "lantern", after=newest, before=newest)
    assert r.status_code == 422 and r.json()["code"] == "bad_date_range"


async def test_cjk_and_substring(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    await send_http(api, alice, cid, "明日は東京タワーに行きます")
    await send_http(api, alice, cid, "北京烤鸭很好吃")
    await send_http(api, alice, cid, "서울에서 만나요")
    await send_http(api, alice, cid, "the configuration file is 100% broken_now")
    r = await search(api, alice, "東京")
    assert r.json()["mode"] == "substring" and bodies(r) == ["明日は東京タワーに行きます"]
    assert bodies(await search(api, alice, "烤鸭")) == ["北京烤鸭很好吃"]
    assert bodies(await search(api, alice, "서울")) == ["서울에서 만나요"]
    # Inside a word, and LIKE wildcards taken literally.
    assert bodies(await search(api, alice, "FIGURAT", mode="substring")) == [
        "the configuration file is 100% broken_now"
    ]
    assert len(bodies(await search(api, alice, "0% b", mode="substring"))) == 1
    assert bodies(await search(api, alice, "n_w", mode="substring")) == []
    # Only stop words: nothing to match by word, so the text itself is looked for.
    r = await search(api, alice, "is")
    assert r.json()["mode"] == "substring" and len(bodies(r)) == 1


async def test_highlights_are_plain_text_pieces(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    await send_http(api, alice, cid, "<img src=x onerror=alert(1)> the falcon \x02flies\x03 <b>home</b>")
    hit = (await search(api, alice, "falcon")).json()["hits"][0]
    pieces = hit["highlight"]
    assert [p["text"] for p in pieces if p["match"]] == ["falcon"]
    joined = "".join(p["text"] for p in pieces)
    # No markers leak, and nothing was turned into markup by the server.
    assert "\x02" not in joined and "\x03" not in joined and "<mark>" not in joined
    assert hit["body"].startswith("<img")  # the body is returned as it was written, as text
    sub = (await search(api, alice, "ALCO", mode="substring")).json()["hits"][0]["highlight"]
    assert [p["text"] for p in sub if p["match"]] == ["alco"]
    assert "".join(p["text"] for p in sub) == hit["body"]


async def test_paging_with_a_cursor(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    for i in range(7):
        await send_http(api, alice, cid, f"beacon number {i}" + " beacon" * (i % 3))
    for params in ({"sort": "relevance"}, {"sort": "recent"}, {"mode": "substring"}):
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            r = await search(api, alice, "beacon", limit=3, **params, **({"cursor": cursor} if cursor else {}))
            assert r.status_code == 200, r.text
            seen += [h["id"] for h in r.json()["hits"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 7 and len(set(seen)) == 7, params
    r = await search(api, alice, "beacon", cursor="bm90LWEtY3Vyc29y")
    assert r.status_code == 422 and r.json()["code"] == "bad_cursor"


async def test_bad_queries_answer_422(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    for params in ({"q": ""}, {"q": "x" * 201}, {"q": "a", "limit": 0}, {"q": "a", "mode": "regex"}):
        r = await api.get("/search/messages", headers=alice.headers, params=params)
        assert r.status_code == 422, params
    r = await api.get("/search/messages", headers=alice.headers, params={"q": "   "})
    assert r.status_code == 422 and r.json()["code"] == "query_empty"
    assert (await api.get("/search/messages", params={"q": "a"})).status_code == 401


async def test_user_search_by_name_handle_prefix_and_exact_email(api: httpx.AsyncClient) -> None:
    me = await signup(api)
    zed = await signup(api, "zedonk_one")
    await signup(api, "zedonk_two")
    r = await api.get("/search/users", headers=me.headers, params={"q": "@zedonk"})
    assert r.json()["matched_by"] == "handle"
    assert sorted(u["handle"] for u in r.json()["users"]) == ["zedonk_one", "zedonk_two"]
    r = await api.get("/search/users", headers=me.headers, params={"q": "Zedonk_One"})
    assert r.json()["matched_by"] == "name" and r.json()["users"][0]["id"] == zed.id
    r = await api.get("/search/users", headers=me.headers, params={"q": zed.email.upper()})
    assert r.json()["matched_by"] == "email" and [u["id"] for u in r.json()["users"]] == [zed.id]
    # Only an exact address: part of one finds nobody, and emails are never shown.
    r = await api.get("/search/users", headers=me.headers, params={"q": "zedonk_one@example.co"})
    assert r.json()["users"] == []
    assert "email" not in r.text.replace('"matched_by":"email"', "")


async def test_channel_directory_search_by_name_or_topic(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    r = await api.post(
        "/conversations",
        headers=alice.headers,
        json={"kind": "public", "name": "gardening", "topic": "tomatoes and basil", "member_ids": []},
    )
    assert r.status_code == 201
    await create_conversation(api, alice, "private", name="gardening-secret")
    for q in ("garden", "BASIL"):
        found = (await api.get("/search/channels", headers=alice.headers, params={"q": q})).json()
        assert [c["name"] for c in found] == ["gardening"], q


async def test_user_search_by_linked_wallet_address(api: httpx.AsyncClient) -> None:
    from tests.domain.wallets.helpers import new_wallet, siwe_body

    alice, bob = await signup(api), await signup(api)
    wallet = new_wallet()
    linked = await api.post("/me/wallets", headers=alice.headers, json=await siwe_body(api, wallet))
    assert linked.status_code == 201, linked.text
    for query in (wallet.address, wallet.address.lower()):
        r = await api.get("/search/users", headers=bob.headers, params={"q": query})
        assert r.status_code == 200, r.text
        assert (r.json()["matched_by"], [u["handle"] for u in r.json()["users"]]) == ("wallet", [alice.handle])
    # An address nobody linked finds nobody (and never a partial match).
    r = await api.get("/search/users", headers=bob.headers, params={"q": new_wallet().address})
    assert r.json()["users"] == []


async def test_has_attachment_filter(api: httpx.AsyncClient) -> None:
    from tests.media_support import image_bytes, upload

    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    upload_id, done = await upload(
        api, alice, cid, image_bytes("PNG", (8, 8)), filename="p.png", content_type="image/png"
    )
    assert done.status_code == 200, done.text
    assert (await send_http(api, alice, cid, "harbour photo", attachment_ids=[upload_id])).status_code == 201
    assert (await send_http(api, alice, cid, "harbour words only")).status_code == 201
    assert bodies(await search(api, alice, "harbour", has_attachment="true")) == ["harbour photo"]
    assert bodies(await search(api, alice, "harbour", has_attachment="false")) == ["harbour words only"]
    assert sorted(bodies(await search(api, alice, "harbour"))) == ["harbour photo", "harbour words only"]
    assert bodies(await search(api, alice, "harb", mode="substring", has_attachment="true")) == ["harbour photo"]


async def test_hits_name_their_sender_and_snippets_keep_short_words(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    for n in (1, 2, 3):
        await send_http(api, alice, cid, f"channel update {n}")
    await send_http(api, bob, cid, "my channel update is late")
    for mode in ("words", "substring"):
        hits = (await search(api, bob, "channel update", mode=mode, sort="recent")).json()["hits"]
        # Each hit says who wrote it: Bob's own words under Bob, Alice's under Alice.
        assert [(h["sender"]["handle"], h["sender"]["display_name"]) for h in hits] == [
            (bob.handle, bob.handle.title()),
            *[(alice.handle, alice.handle.title())] * 3,
        ]
        assert all(h["sender"]["id"] == h["sender_id"] for h in hits)
        # The snippets keep the numbers (and every other short word): three distinct results.
        snippets = ["".join(p["text"] for p in h["highlight"]) for h in hits]
        assert snippets == ["my channel update is late", "channel update 3", "channel update 2", "channel update 1"]
    words = (await search(api, bob, "channel update", mode="words", sort="recent")).json()["hits"]
    assert [p["text"] for p in words[1]["highlight"] if p["match"]] == ["channel", "update"]


async def test_a_long_message_snippet_is_a_window_marked_with_ellipses(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]
    before = " ".join(f"w{i}" for i in range(60))
    after = " ".join(f"z{i}" for i in range(60))
    await send_http(api, alice, cid, f"{before} the kingfisher at 6 am {after}")
    pieces = (await search(api, alice, "kingfisher")).json()["hits"][0]["highlight"]
    text = "".join(p["text"] for p in pieces)
    assert text.startswith("… ") and text.endswith(" …")
    assert "kingfisher at 6 am z0" in text and len(text.split()) <= 37
