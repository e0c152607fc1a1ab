"""The peers benchmark's short form (bench/peers/run.py has the long one): every target with 50
members for a few seconds, Synapse left out. Checks behaviour, not speed: every target delivers
every message of the latency phase to every member, the JSON has its keys and positive ratios,
the chart is written. The peers' virtualenvs are installed on the first run (a warm uv cache
makes that a few seconds) and reused after."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench

TARGETS = ("tipline_1", "tipline_4", "django_channels", "python_socketio")


def run_peers(out: Path) -> tuple[int, str, str]:
    args = ["--no-synapse", "--members", "50", "--duration", "2", "--warmup", "0.5", "--latency-duration", "1"]
    args += ["--steady-msgs-per-s", "10", "20"]
    return run_bench("peers/run.py", [*args, "--out", str(out)], timeout=600)


def test_peers_short_form(tmp_path: Path) -> None:
    code, stdout, stderr = run_peers(tmp_path)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "peers.json").read_text())
    assert (tmp_path / "peers.png").stat().st_size > 0
    assert "sends" not in result and "vs_synapse_sends" not in result

    for key in ("vs_django_channels", "vs_python_socketio", "four_nodes_vs_one"):
        assert isinstance(result[key], float) and result[key] > 0, key
    # The fixed-load phases ran for Tipline's two configurations only, at each offered rate:
    # 10 and 20 messages/s to 50 members is far below what either handles, so it all arrives.
    assert result["steady_msgs_per_s"] == [10.0, 20.0]
    assert set(result["four_nodes_vs_one_at_equal_load"]) == {"10", "20"}
    for rate in ("10", "20"):
        assert isinstance(result["four_nodes_vs_one_at_equal_load"][rate], float), rate
        assert set(result["steady_deliveries_per_cpu_s"][rate]) == {"tipline_1", "tipline_4"}
        assert f"four_nodes_vs_one_at_equal_load[{rate}] >= 0.85" in result["goals"]
    for target in ("tipline_1", "tipline_4"):
        held = result["results"][target]["steady"]
        assert [h["msgs_per_s"] for h in held] == [10, 20], target
        for h in held:
            assert h["sent"] > 0, target
            assert 0.6 * h["msgs_per_s"] * 50 <= h["deliveries_per_s"] <= 1.4 * h["msgs_per_s"] * 50, (target, h)
    assert result["results"]["django_channels"]["steady"] is None
    for target in TARGETS:
        r = result["results"][target]
        lat, sat = r["latency"], r["saturation"]
        # No loss: every message of the latency phase reached every member, the sender included.
        assert lat["expected"] == lat["messages"] * 50
        assert lat["delivered"] == lat["expected"], target
        # ... and so did every message of the whole run, saturation included.
        assert r["deliveries_missing"] == 0 and sat["unreturned"] == 0 and sat["lost"] == 0, target
        assert lat["p50_ms"] is not None and lat["p99_ms"] >= lat["p50_ms"], target
        assert sat["deliveries_per_s"] > 0 and sat["deliveries_per_cpu_s"] > 0 and sat["acked_per_s"] > 0, target
        assert sat["closed_connections"] == 0 and sat["errors"] == [], target
        assert set(sat["server_cpu_pct_by_kind"]) >= {"app", "redis"}, target
        for key in ("deliveries_per_cpu_s", "p50_ms", "p99_ms", "acked_per_s", "bytes_per_conn", "machine_busy_pct"):
            assert target in result[key], (key, target)
    # Tipline's server CPU counts the PostgreSQL backends of its database; the 4-node run had 4 apps.
    assert "postgres" in result["results"]["tipline_1"]["saturation"]["server_cpu_pct_by_kind"]
    assert result["results"]["tipline_4"]["nodes"] == 4
    assert result["results"]["tipline_1"]["latency"]["seq_gaps"] == 0
    assert {"date", "git_commit", "cpu_count", "load_avg_at_start"} <= set(result)
