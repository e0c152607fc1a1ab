"""A tip-thanks bot for Tipline, on the Python client (clients/python).

When a tip is confirmed on-chain in a conversation the bot is a member of, it thanks the tipper
there: ``Thank you @alice for tipping @bob 0.5 ETH!``. Bots receive the events of their
conversations over their socket, ``tip.confirmed`` included (docs/subsystems/integrations.md).

    TIPLINE_URL=https://chat.example.com TIPLINE_TOKEN=tlp_… python examples/tip_thanks_bot.py

The token is a bot token with ``messages:read``, ``messages:write`` and ``conversations:read``
(to look up the tipper's handle), read from the environment. Invite the bot to the conversations
where it should thank tippers.

The thanks' ``client_msg_id`` is derived from the tip, so a tip is thanked once even if the bot
sees its event again after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal

from tipline_client import AsyncTipline, Event, Realtime, TiplineError, ws_url_for

log = logging.getLogger("tip_thanks_bot")


def thanks_id(intent_id: str) -> str:
    """The thanks' client_msg_id: one per tip (ids are at most 64 characters, so a digest)."""
    return "thanks-" + hashlib.sha256(intent_id.encode()).hexdigest()[:40]


class TipThanksBot:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = AsyncTipline(base_url, token)
        self.realtime = Realtime(ws_url_for(base_url), token)
        self.handles: dict[int, str] = {}

    async def handle_of(self, user_id: int) -> str:
        if user_id not in self.handles:
            self.handles[user_id] = (await self.http.user(user_id)).handle
        return self.handles[user_id]

    async def on_tip_confirmed(self, event: Event) -> None:
        tip = event.tip
        if event.conversation_id is None or tip.tipper_id is None:
            return  # a tipper whose account is gone cannot be thanked
        tipper = await self.handle_of(tip.tipper_id)
        to = f" @{await self.handle_of(tip.recipient_id)}" if tip.recipient_id is not None else ""
        text = f"Thank you @{tipper} for tipping{to} {tip.amount_display} {tip.symbol}!"
        try:
            await self.realtime.send(event.conversation_id, text, client_msg_id=thanks_id(tip.intent_id))
        except TiplineError as exc:
            log.warning("could not thank for tip %s: %s", tip.intent_id, exc.code)

    async def run(self, stop: asyncio.Event) -> None:
        me = await self.http.me()
        self.realtime.on("tip.confirmed", self.on_tip_confirmed)
        await self.realtime.start()
        print(f"tip thanks bot ready as @{me.handle}", flush=True)
        closed = asyncio.ensure_future(self.realtime.wait_closed())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                closed.result()
        finally:
            stopping.cancel()
            await self.realtime.close()
            await self.http.aclose()


async def main() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await TipThanksBot(os.environ["TIPLINE_URL"], os.environ["TIPLINE_TOKEN"]).run(stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
