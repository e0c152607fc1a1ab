"""The idle benchmark's short form (bench/idle/run.py asks for 50,000 sockets): 2,000 authenticated
sockets held from 2 loopback source addresses, 100 users (a room of 50 with a socket each, 1,950
sockets over the other 50), heartbeats every second so that a few seconds of idle see thousands
of them, and 4,000 asked for, so that the second idle window (the pings of 4,000 sockets over
the 2,000) and the estimate run too, as they do where RLIMIT_NOFILE holds fewer than 50,000.
Checks behaviour, not speed: every socket connected and stayed open, every ping was answered, the
RSS and CPU figures are there and plausible, and every room message reached every member; the
JSON has its keys and the chart is written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench
from tests.conftest import ADMIN_URL

KEYS = {
    "sockets",
    "users",
    "room_members",
    "source_addresses",
    "heartbeat_s",
    "rss_before_connect_mib",
    "rss_after_connect_mib",
    "rss_idle_mib",
    "bytes_per_socket_after_connect",
    "bytes_per_socket_idle",
    "target_rss_bytes",
    "connect_s",
    "connect_per_s",
    "connect_server_cpu_pct",
    "connect_client_cpu_pct",
    "idle_server_cpu_pct",
    "idle_client_cpu_pct",
    "target_idle_cpu_pct",
    "idle",
    "closed_while_idle",
    "closed_by_server",
    "room_delivered",
    "room_expected",
    "room_p50_ms",
    "room_p99_ms",
    "room_deliveries_per_s",
    "room_seq_gaps",
    "client_limited",
    "rlimit_nofile",
    "note",
    "samples",
    "phases",
    "meets_targets",
    "base_cpu_pct",
    "requested_sockets",
    "idle_at_requested_ping_rate",
    "estimate_at_requested",
    "ping_interval_s",
    "date",
    "git_commit",
    "cpu_count",
    "load_avg_at_start",
}


def test_idle_short_form(tmp_path: Path) -> None:
    args = ["--sockets", "4000", "--hold", "2000", "--users", "100", "--room", "50", "--per-source", "1000"]
    args += ["--heartbeat-s", "1", "--idle-window", "3", "--base-window", "1", "--settle-extra", "0.5"]
    args += ["--latency-duration", "1", "--warmup", "0.5", "--duration", "1", "--profile-idle", "0"]
    args += ["--database-url", ADMIN_URL, "--out", str(tmp_path)]
    code, stdout, stderr = run_bench("idle/run.py", args, timeout=400)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "idle.json").read_text())
    assert (tmp_path / "idle.png").stat().st_size > 0
    assert set(result) >= KEYS, KEYS - set(result)

    # All 2,000 connected, from two source addresses, and none was closed by the server.
    assert result["sockets"] == 2000 and result["users"] == 100 and result["room_members"] == 50
    assert result["source_addresses"] == ["127.0.0.2", "127.0.0.3"]
    assert result["closed_while_idle"] == 0 and result["closed_by_server"] == 0 and result["close_codes"] == []
    assert result["sockets_with_frames_before_ready"] == 0
    assert result["rlimit_nofile"]["soft"] >= 2000 + 4096
    assert result["requested_sockets"] == 4000
    # Heartbeats flowed and every one was answered (pongs of pings sent just before a window count
    # too), in the second window at twice the rate.
    idle, scaled = result["idle"], result["idle_at_requested_ping_rate"]
    for window in (idle, scaled):
        assert window["pings_sent"] > 0 and window["pongs_received"] >= window["pings_sent"]
        assert window["window_s"] > 0 and window["server_cpu_pct"] >= 0 and window["client_cpu_pct"] >= 0
    assert scaled["heartbeat_interval_s"] == 0.5 and scaled["pings_per_s"] > idle["pings_per_s"]
    estimate = result["estimate_at_requested"]
    assert estimate["sockets"] == 4000 and estimate["rss_idle_mib"] > result["rss_idle_mib"]
    assert estimate["idle_server_cpu_pct"] >= 0 and set(estimate["meets_targets"]) == set(result["meets_targets"])
    # RSS and CPU figures present and plausible: the server grew with its sockets, by less than a MiB each.
    assert 0 < result["rss_before_connect_mib"] < result["rss_after_connect_mib"]
    assert 0 < result["bytes_per_socket_idle"] < 2**20 and 0 < result["bytes_per_socket_after_connect"] < 2**20
    cores = 100 * result["cpu_count"]
    for key in ("idle_server_cpu_pct", "idle_client_cpu_pct", "connect_server_cpu_pct", "connect_client_cpu_pct"):
        assert 0 <= result[key] <= cores + 5, (key, result[key])
    assert result["connect_per_s"] > 0 and result["samples"]
    assert max(row[1] for row in result["samples"]) == 2000
    # The room's messages reached every member, in order, beside the other idle sockets.
    assert result["room_expected"] > 0 and result["room_delivered"] == result["room_expected"]
    assert result["room_seq_gaps"] == 0 and result["saturation"]["seq_checked"] > 0
    assert result["room_deliveries_per_s"] > 0
    assert result["latency"]["errors"] == [] and result["saturation"]["errors"] == []
