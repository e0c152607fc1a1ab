"""Chaos, long forms: steady traffic (default 150 clients in 30 conversations, 25 messages/s)
over a 3-node `tipline cluster`, on a PostgreSQL (the machine's PG 15 binaries, as the
postgres user, in a temporary directory) and a redis-server this run starts itself; then, one
at a time: (a) kill -9 a node (the cluster restarts it), (b) restart Redis, (c) restart
PostgreSQL, (d) a client that stops reading while its conversation is flooded, (e) a sign-out
and a member removal made through another node while Redis is down, and again while the node
holding their sockets is killed; then on the network
(tests/integration/chaos_network.py, as root: network namespaces and veth pairs): (f) a fourth
node's link to Redis goes down while it keeps PostgreSQL and its clients, (g) Redis turns slow
and lossy for every node, (h) the fourth node's link to PostgreSQL goes down.

    uv run python bench/chaos/run.py [--clients 150] [--conversations 30] [--rate 25]
                                     [--scenarios abcdefgh] [--out bench/results]

After each scenario the oracle checks every conversation: every acknowledged message is in
PostgreSQL, every stored message reached every member after resync, no duplicate, no sender's
sends stored out of the order sent; and reports reconnect-to-caught-up times, and for (e) how long
the revoked session's socket stayed open, how many of its sends were accepted after the
revocation and how many events the removed member still got, and for (f) and (h) when the cut-off
node's readiness turned false and when its clients had moved to the others. Each scenario prints one JSON object on
stdout; all of them go to bench/results/chaos.json. The short forms run in the test suite
(tests/integration/test_chaos.py) with the same code (tests/integration/chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.integration.chaos import (  # noqa: E402
    Workload,
    chaos_cluster,
    kill_node_scenario,
    passed,
    restart_postgres_scenario,
    restart_redis_scenario,
    revoke_and_remove_during_kill_scenario,
    revoke_and_remove_scenario,
    slow_reader_scenario,
)
from tests.integration.chaos_network import (  # noqa: E402
    ApartNode,
    apart_node,
    lose_postgres_scenario,
    lose_redis_scenario,
    slow_redis_scenario,
)

from common import BENCH, install_sigterm_handler, log, run_facts, write_result  # noqa: E402

TARGETS = {
    "acked_stored_pct": 100.0,
    "delivered_after_resync_pct": 100.0,
    "duplicates": 0,
    "per_sender_order_inversions": 0,
    "sends_accepted_after_revocation": 0,
    "events_after_removal": 0,
    "revoked_sessions_sockets_open_after_s": 2.0,
    "reconnect_to_caught_up_p95_s_after_kill": 3.0,
    "delivered_after_redis_returns_s": 10.0,
    # (f), (h): with the suite's thresholds (NODE_UNHEALTHY_CLOSE_S=2, HEALTH_PROBE_S=0.5).
    "readiness_false_after_s": 5.0,
    "clients_moved_by_s": 10.0,
}


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    workload = Workload(clients=args.clients, conversations=args.conversations, rate=args.rate)
    log(f"setup: {args.clients} clients, {args.conversations} conversations, {args.rate}/s over 3 nodes")
    async with chaos_cluster(workload) as (chaos, pg, redis), contextlib.AsyncExitStack() as stack:
        apart: ApartNode | None = None
        for key in args.scenarios:
            if key in "fh" and apart is None:
                apart = await stack.enter_async_context(apart_node(chaos, pg, redis))
            log(f"scenario {key}")
            if key == "a":
                result = await kill_node_scenario(chaos)
            elif key == "b":
                result = await restart_redis_scenario(chaos, redis, outage_s=args.outage)
            elif key == "c":
                result = await restart_postgres_scenario(chaos, pg)
            elif key == "e":
                result = await revoke_and_remove_scenario(chaos, redis, outage_s=args.outage)
                print(json.dumps(result | {"passed": passed(result)}), flush=True)
                results.append(result | {"passed": passed(result)})
                result = await revoke_and_remove_during_kill_scenario(chaos)
            elif key == "f":
                assert apart is not None
                result = await lose_redis_scenario(chaos, apart, hold=args.cut)
            elif key == "g":
                result = await slow_redis_scenario(chaos, hold=args.cut)
            elif key == "h":
                assert apart is not None
                result = await lose_postgres_scenario(chaos, apart, hold=args.cut)
            else:
                result = await slow_reader_scenario(chaos, messages=args.flood)
            result["passed"] = passed(result)
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def main() -> None:
    install_sigterm_handler()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=150)
    p.add_argument("--conversations", type=int, default=30)
    p.add_argument("--rate", type=float, default=25.0)
    p.add_argument("--scenarios", default="abcdefgh")
    p.add_argument("--cut", type=float, default=15.0, help="seconds a link stays cut or slow in (f), (g), (h)")
    p.add_argument("--outage", type=float, default=5.0, help="seconds Redis stays down in (b)")
    p.add_argument("--flood", type=int, default=2500, help="large messages sent at the stalled client in (d)")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args()
    results = asyncio.run(run(args))
    path = write_result(
        {"benchmark": "chaos", "targets": TARGETS, "scenarios": results, **run_facts()}, args.out, "chaos"
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
