"""The reconnect storm's short form (bench/storm/run.py has the long one): 300 sockets on one node
of a 3-node cluster and 30 on the others, traffic, kill -9 of that node. Checks behaviour, not
speed: every one of its clients came back through the balancer with the web client's backoff,
resumed and caught up; no client less than REPLAY_LIMIT behind was told to reload; no node died
for good; the oracle passes; the JSON has its keys and the chart is written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench

KEYS = {
    "sockets_on_killed_node",
    "reconnected_95_s",
    "reconnected_100_s",
    "caught_up_95_s",
    "caught_up_100_s",
    "killed_node_restarted_after_s",
    "killed_node_ready_after_s",
    "reconnect_attempts",
    "error_frames",
    "reloads",
    "unwarranted_reloads",
    "pg_connections_max",
    "machine_cpu_pct_mean",
    "client_cpu_pct_mean",
    "node_cpu_pct_max",
    "client_was_the_limit",
    "curve",
    "samples",
    "note",
    "load_avg_at_start",
    "git_commit",
}


def test_storm_short_form(tmp_path: Path) -> None:
    args = ["--sockets", "300", "--others", "30", "--rate", "20", "--warmup", "2", "--after", "1", "--timeout", "60"]
    code, stdout, stderr = run_bench("storm/run.py", [*args, "--out", str(tmp_path)], timeout=400)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "storm.json").read_text())
    assert (tmp_path / "storm.png").stat().st_size > 0
    assert set(result) >= KEYS, KEYS - set(result)

    assert result["sockets_on_killed_node"] == 300 and result["sockets_on_other_nodes"] == 30
    # Every client of the killed node has a socket again, resumed and holds what was stored.
    assert result["caught_up_clients"] == 300
    assert result["caught_up_100_s"] is not None and result["reconnected_100_s"] is not None
    assert result["reconnect_attempts"] >= 300
    assert result["unwarranted_reloads"] == 0
    # The supervisor restarted the killed node; every node is up at the end.
    assert result["killed_node_restarted_after_s"] is not None and result["killed_node_ready_after_s"] is not None
    assert result["nodes_fallen_over"] == 0
    assert result["sent"] > 0 and result["stored"] >= result["sent"]
    assert result["oracle_passed"], result
    assert result["acked_not_stored"] == 0 and result["stored_not_delivered"] == 0 and result["duplicates"] == 0
    assert result["pg_connections_max"] > 0 and result["samples"]
