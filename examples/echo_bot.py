"""An echo bot for Tipline, on the Python client (clients/python).

It answers every message that mentions it (``@handle``) and every message of a direct
conversation with it, in a reply to that message: ``echo: <the text>``.

    TIPLINE_URL=https://chat.example.com TIPLINE_TOKEN=tlp_… python examples/echo_bot.py

The token is a bot token (Settings → Bots → a token) with the scopes ``messages:read``,
``messages:write`` and ``conversations:read``; it is read from the environment, never from the
command line (other users of the machine can read command lines). Invite the bot to a
conversation, or open a direct conversation with it.

The reply's ``client_msg_id`` is derived from the message it answers, so if the bot sees the same
message twice (a restart, a replay), the server stores the reply once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from tipline_client import AsyncTipline, Event, Realtime, TiplineError, ws_url_for

log = logging.getLogger("echo_bot")


class EchoBot:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = AsyncTipline(base_url, token)
        self.realtime = Realtime(ws_url_for(base_url), token)
        self.user_id = 0
        self.kinds: dict[int, str] = {}  # conversation id -> kind, looked up once

    async def kind_of(self, conversation_id: int) -> str:
        if conversation_id not in self.kinds:
            self.kinds[conversation_id] = str((await self.http.conversation(conversation_id)).kind)
        return self.kinds[conversation_id]

    async def on_message(self, event: Event) -> None:
        message = event.message
        if message.sender_id == self.user_id or message.deleted or event.conversation_id is None:
            return
        mentioned = self.user_id in (message.mention_ids or [])
        if not mentioned and await self.kind_of(event.conversation_id) != "direct":
            return
        try:
            await self.realtime.send(
                event.conversation_id,
                f"echo: {message.body}",
                client_msg_id=f"echo-{message.id}",
                reply_to=message.id,
            )
        except TiplineError as exc:
            log.warning("could not answer message %s: %s", message.id, exc.code)

    async def run(self, stop: asyncio.Event) -> None:
        me = await self.http.me()
        self.user_id = me.id
        self.realtime.on("message.created", self.on_message)
        await self.realtime.start()
        print(f"echo bot ready as @{me.handle}", flush=True)
        closed = asyncio.ensure_future(self.realtime.wait_closed())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                closed.result()  # the token was revoked or expired: say so
        finally:
            stopping.cancel()
            await self.realtime.close()
            await self.http.aclose()


async def main() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await EchoBot(os.environ["TIPLINE_URL"], os.environ["TIPLINE_TOKEN"]).run(stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
