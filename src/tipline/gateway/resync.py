"""After the bus lost messages (a Redis outage), tell every local socket where each of its
conversations stands, so clients resume whatever they missed (docs/protocol.md, `sync`)."""

from __future__ import annotations

from sqlalchemy import select

from tipline.domain.conversations.models import conversations
from tipline.gateway.protocol import encode
from tipline.runtime import Runtime


async def resync_all(rt: Runtime) -> int:
    """Push a ``sync`` frame to every local socket; returns how many sockets were told."""
    conns = rt.hub.all_connections()
    wanted = sorted({cid for conn in conns for cid in conn.conversations})
    if not conns:
        return 0
    last: dict[int, int] = {}
    async with rt.engine.connect() as db:
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            stmt = select(conversations.c.id, conversations.c.last_seq).where(conversations.c.id.in_(chunk))
            last.update({row[0]: row[1] for row in await db.execute(stmt)})
    for conn in conns:
        conn.push(
            encode(
                {
                    "type": "sync",
                    "conversations": [
                        {"id": cid, "last_seq": last[cid]} for cid in sorted(conn.conversations) if cid in last
                    ],
                }
            )
        )
    return len(conns)
