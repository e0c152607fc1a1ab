"""The cross-node benchmark's short form (bench/crossnode/run.py has the long one): 3 nodes on the
Redis bus, 6 groups of 5, 20 messages/s for 3 s. Checks behaviour, not speed: every message
reached every member once, no seq gap, some deliveries crossed nodes, the JSON has its keys and
the chart is written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench

KEYS = {
    "nodes",
    "conversations",
    "members",
    "messages_per_s",
    "deliveries_per_s",
    "cross_node_p50_ms",
    "cross_node_p99_ms",
    "same_node_p50_ms",
    "same_node_p99_ms",
    "echo_p50_ms",
    "echo_p99_ms",
    "cross_node_after_echo_p99_ms",
    "cross_node_deliveries",
    "missing_deliveries",
    "seq_gaps",
    "target_cross_node_p99_ms",
    "node_cpu_pct",
    "client_cpu_pct",
    "machine_busy_pct",
    "steal_pct",
    "other_processes_cpu_pct",
    "cdf_ms",
    "date",
    "git_commit",
    "cpu_count",
    "load_avg_at_start",
}


def test_crossnode_short_form(tmp_path: Path) -> None:
    args = ["--conversations", "6", "--members", "5", "--rate", "20", "--warmup", "1", "--duration", "3"]
    code, stdout, stderr = run_bench("crossnode/run.py", [*args, "--out", str(tmp_path)], timeout=400)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "crossnode.json").read_text())
    assert (tmp_path / "crossnode.png").stat().st_size > 0
    assert set(result) >= KEYS, KEYS - set(result)

    assert result["nodes"] == 3 and result["conversations"] == 6 and result["members"] == 5
    assert result["target_cross_node_p99_ms"] == 30
    # Every message of the run (warm-up included) reached every member, its sender included, once.
    assert result["messages_sent"] > 0
    assert result["deliveries_expected"] == result["messages_sent"] * 5
    assert result["missing_deliveries"] == 0 and result["duplicate_deliveries"] == 0
    assert result["seq_gaps"] == 0 and result["seq_checked"] > 0
    assert result["never_acked"] == 0 and result["error_frames"] == 0 and result["closed_connections"] == 0
    # Sockets go round-robin over the nodes: deliveries crossed nodes, and stayed on one too.
    assert result["cross_node_deliveries"] > 0 and result["same_node_deliveries"] > 0
    assert result["sockets_per_node"] == [10, 10, 10]
    assert set(result["node_cpu_pct"]) == {"node1", "node2", "node3"}
    assert result["cross_node_p99_ms"] >= result["cross_node_p50_ms"] > 0
    assert result["cdf_ms"]["cross_node"]
