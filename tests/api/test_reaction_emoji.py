"""Any emoji the web client's picker offers is a valid reaction (docs/subsystems/messages.md, Reactions).

The picker's data (emojibase) includes multi-codepoint emoji: ZWJ sequences with skin tones (the
longest is 10 code points), tag-sequence flags, keycaps, regional-indicator flags, and emoji
written with U+FE0F. Each is stored and counted as the exact string sent.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.helpers import create_conversation, send_http, signup

PICKER_EMOJI = [
    "🎉",
    "👍\ufe0f",
    "❤️",
    "👩‍💻",
    "🧑🏻‍❤️‍💋‍🧑🏼",
    "🏴󠁧󠁢󠁥󠁮󠁧󠁿",
    "#️⃣",
    "🇫🇷",
    "👋🏽",
]


@pytest.mark.parametrize("emoji", PICKER_EMOJI)
async def test_a_multi_codepoint_emoji_is_one_reaction(api: httpx.AsyncClient, emoji: str) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "react to me")).json()["message_id"]
    path = f"/messages/{mid}/reactions/{quote(emoji, safe='')}"
    for user in (alice, bob):
        r = await api.put(path, headers=user.headers)
        assert r.status_code == 200, r.text
    assert r.json()["reactions"] == [{"emoji": emoji, "count": 2, "user_ids": [alice.id, bob.id]}]
    r = await api.delete(path, headers=bob.headers)
    assert r.json()["reactions"] == [{"emoji": emoji, "count": 1, "user_ids": [alice.id]}]


async def test_the_same_emoji_with_and_without_fe0f_are_different_strings_to_the_server(api: httpx.AsyncClient) -> None:
    # The server keeps what it is sent; the web client picks the spelling already on the message
    # (lib/emoji.ts canonicalEmoji) so a picker's "👍\uFE0F" joins a quick-bar "👍".
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    mid = (await send_http(api, alice, cid, "x")).json()["message_id"]
    plain, with_fe0f = quote("👍", safe=""), quote("👍\ufe0f", safe="")
    await api.put(f"/messages/{mid}/reactions/{plain}", headers=alice.headers)
    r = await api.put(f"/messages/{mid}/reactions/{with_fe0f}", headers=alice.headers)
    assert [x["emoji"] for x in r.json()["reactions"]] == ["👍", "👍\ufe0f"]
