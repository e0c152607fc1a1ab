"""The kernel's floor under fan-out latency: one write to each of N loopback TCP sockets.

Whatever a server does above it, delivering one event to N sockets costs at least N ``send``
calls, and on loopback each call also runs the receiving side's TCP stack and wakes the
reader. This measures that floor on the machine at hand, the way the fan-out bench's server
and client sit: a writer process (this script, run as a subprocess) holds N connections to
a reader in the bench process and writes one ``--size``-byte payload to every socket, once
per round; the reader only counts bytes. The writer reports the wall and CPU time per write.

The spread of one fan-out can be no shorter than N times the time per write, so a latency
target below that is out of reach for one process on this machine, whatever the code does.

    uv run python bench/fanout/floor.py --port PORT --sockets 1000 --size 450 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import orjson
import uvloop


async def _writer(port: int, sockets: int, size: int, rounds: int, gap_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []
    for _ in range(sockets):
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transports.append(transport)
    await asyncio.sleep(0.5)
    payload = b"x" * size
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        c0, t0 = time.process_time(), time.perf_counter()
        for t in transports:
            t.write(payload)  # type: ignore[attr-defined]
        wall.append((time.perf_counter() - t0) * 1e6 / sockets)
        cpu.append((time.process_time() - c0) * 1e6 / sockets)
        await asyncio.sleep(gap_s)
    for t in transports:
        t.close()
    return {
        "sockets": sockets,
        "payload_bytes": size,
        "rounds": rounds,
        "us_per_write_p50": round(statistics.median(wall), 2),
        "us_per_write_min": round(min(wall), 2),
        "cpu_us_per_write_p50": round(statistics.median(cpu), 2),
        "spread_ms_p50": round(statistics.median(wall) * sockets / 1000, 2),
    }


class _Sink(asyncio.Protocol):
    """One reader socket; every socket of a run adds to the same byte count."""

    def __init__(self, received: list[int]) -> None:
        self.received = received

    def data_received(self, data: bytes) -> None:
        self.received[0] += len(data)


async def measure_floor(sockets: int, size: int, rounds: int = 20, gap_s: float = 0.3) -> dict[str, Any]:
    """Run the writer as a subprocess against a reader in this process; its figures, checked."""
    received = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Sink(received), "127.0.0.1", 0, backlog=sockets + 100)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--port",
            str(port),
            "--sockets",
            str(sockets),
            "--size",
            str(size),
            "--rounds",
            str(rounds),
            "--gap",
            str(gap_s),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"floor writer exited with {proc.returncode}")
        result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
        deadline = loop.time() + 10
        expected = sockets * size * rounds
        while received[0] < expected and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if received[0] != expected:
            raise RuntimeError(f"floor reader got {received[0]} of {expected} bytes")
        return result
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--size", type=int, default=450)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.3)
    args = parser.parse_args()
    result = uvloop.run(_writer(args.port, args.sockets, args.size, args.rounds, args.gap))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
