"""After the bus lost messages (a Redis outage), tell every local socket where each of its
conversations stands, so clients resume whatever they missed (docs/protocol.md, `sync`)."""

from __future__ import annotations

from tipline.domain.conversations.actions import read_last_seqs
from tipline.gateway.hub import Hub
from tipline.protocol import SyncFrameOut, encode
from tipline.runtime import Runtime


async def resync_all(rt: Runtime, hub: Hub) -> int:
    """Push a ``sync`` frame to every local socket; returns how many sockets were told."""
    conns = hub.all_connections()
    if not conns:
        return 0
    last = await read_last_seqs(rt, [cid for conn in conns for cid in conn.conversations])
    for conn in conns:
        frame: SyncFrameOut = {
            "type": "sync",
            "conversations": [{"id": cid, "last_seq": last[cid]} for cid in sorted(conn.conversations) if cid in last],
        }
        conn.push(encode(frame))
    return len(conns)
