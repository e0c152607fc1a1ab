"""The soak's short form (bench/soak/run.py has the long one), with the same code: a small chaos
workload over a real 3-node cluster for 45 s, a node killed with kill -9 every 15 s; the
oracle's invariants hold and the JSON has every figure. Timing and drift targets are the long
form's business: 45 s on a busy machine says nothing about them.

The second kill waits for the first node to be back (14.6 s from kill to ready with both cores
busy) and must fall well inside the run, or its restart would land after the drift span: hence
not less than 45 s."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench


def run_soak(out: Path) -> tuple[int, str, str]:
    args = [
        *("--duration-min", "0.75", "--kill-every-min", "0.25", "--sample-s", "1.5"),
        *("--clients", "12", "--conversations", "3", "--rate", "5", "--out", str(out)),
        # Tokens expire within the run: the clients must renew them to reconnect after each kill.
        *("--token-ttl-s", "15", "--refresh-every-s", "8"),
    ]
    return run_bench("soak/run.py", args, timeout=480)


def test_soak_short_form(tmp_path: Path) -> None:
    code, stdout, stderr = run_soak(tmp_path)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "soak.json").read_text())
    assert (tmp_path / "soak.png").stat().st_size > 0

    # The delivery invariants, from the chaos oracle after the final resync.
    assert result["sent"] > 0 and result["acked"] == result["stored"] > 0
    assert result["acked_stored_pct"] == 100.0 and result["acked_not_stored"] == 0
    assert result["delivered_after_resync_pct"] == 100.0 and result["stored_not_delivered"] == 0
    assert result["duplicates"] == 0 and result["conflicting_deliveries"] == 0
    assert result["per_sender_order_inversions"] == 0 and result["never_acked"] == 0
    assert result["invariants_passed"] is True
    assert result["token_refreshes"] >= 12

    # A kill at 15 s and at 30 s, each of a node other than node1, each restarted as a new process.
    kills = result["kills"]
    assert [k["node"] for k in kills] == ["node2", "node3"]
    for k in kills:
        assert k["new_pid"] != k["killed_pid"] and k["kill_to_ready_s"] > 0
        assert k["all_caught_up_after_ready_s"] is not None
    assert result["reconnects"] >= 1

    # Every sample has every figure for every node; a killed process shows up as a new pid.
    samples = result["samples"]
    assert len(samples) >= 15
    for s in samples:
        assert set(s["nodes"]) == {"node1", "node2", "node3"}
        # The total also counts the run's own checks on the database, so it is at least the nodes' sum.
        assert s["pg_connections"] >= sum(n["pg_connections"] for n in s["nodes"].values())
        assert all({"pid", "rss_mb", "fds", "pg_connections"} <= set(n) for n in s["nodes"].values())
    last = samples[-1]["nodes"]
    assert all(n["rss_mb"] > 0 and n["fds"] > 0 for n in last.values())
    assert last["node2"]["pid"] == kills[0]["new_pid"] and last["node3"]["pid"] == kills[1]["new_pid"]
    assert result["rss_mb"]["max"] > 0 and result["fds"]["max"] > 0 and result["pg_connections"]["max"] > 0

    # Drift: node1 kept its process and is measured; the restarted nodes are not compared across a restart.
    per_node = result["memory"]["per_node"]
    assert per_node["node1"]["restarted_in_span"] is False and per_node["node1"]["drift_pct"] is not None
    assert per_node["node1"]["samples_first_window"] >= 1 and per_node["node1"]["samples_last_window"] >= 1
    assert per_node["node3"]["restarted_in_span"] is True and per_node["node3"]["drift_pct"] is None
    assert result["memory_drift_pct_max"] == per_node["node1"]["drift_pct"]
    assert result["memory_drift_nodes_measured"] >= 1
    lives = {(p["node"], p["pid"]) for p in result["memory"]["per_process"]}
    assert {("node2", k["killed_pid"]) for k in kills[:1]} <= lives and len(lives) == 5
