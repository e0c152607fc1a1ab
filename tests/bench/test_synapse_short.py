"""The Tipline-vs-Synapse durable-send comparison (bench/peers/synapse.py) end to end, tiny: 4 clients
for 2 s on each side. Both acknowledge messages, and every acknowledged message is stored (the script
counts each side's database before dropping it: Tipline's `messages`, Synapse's `events` of type
m.room.message in the bench rooms, plus every acked event id looked up). No timing assertions.

The first run installs Synapse from PyPI into bench/results/tmp/peers/synapse-venv, hence the
generous timeout; later runs reuse it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import ROOT, run_bench
from tests.conftest import ADMIN_URL

SIDE_KEYS = {
    "acked_messages_per_s",
    "ack_p50_ms",
    "ack_p99_ms",
    "server_cpu_s",
    "acked_per_server_cpu_s",
    "version",
    "acks_total",
    "stored_messages",
    "acks_equal_rows",
}


def test_synapse_comparison_short(tmp_path: Path) -> None:
    args = ["--clients", "4", "--duration", "2", "--warmup", "1", "--database-url", ADMIN_URL, "--out", str(tmp_path)]
    code, stdout, stderr = run_bench("peers/synapse.py", args, timeout=300)
    assert code == 0, stderr[-3000:]

    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "peers-sends.json").read_text())
    assert (tmp_path / "peers-sends.png").stat().st_size > 0
    assert {"workload", "tipline", "synapse", "vs_synapse_sends", "vs_synapse_sends_per_cpu"} <= result.keys()
    assert result["workload"]["clients"] == 4

    tipline, synapse = result["tipline"], result["synapse"]
    for side in (tipline, synapse):
        assert side.keys() >= SIDE_KEYS
        assert side["acks_in_window"] > 0 and side["acked_messages_per_s"] > 0
        assert side["server_cpu_s"] > 0
        assert side["outstanding_after_stop"] == 0 and side["errors"] == 0
    # Every acknowledged message is in the database, and nothing was stored unacknowledged.
    assert tipline["stored_messages"] == tipline["acks_new"] == tipline["acks_total"] - tipline["duplicate_acks"]
    assert tipline["acks_equal_rows"] is True and tipline["seq_gaps"] == 0
    assert synapse["stored_messages"] == synapse["acks_total"] == synapse["acked_event_ids_stored"]
    assert synapse["acks_equal_rows"] is True
    pins = (ROOT / "bench" / "peers" / "requirements-synapse.txt").read_text()
    assert f"matrix-synapse=={synapse['version']}" in pins.splitlines()
    assert result["vs_synapse_sends"] == round(tipline["acked_messages_per_s"] / synapse["acked_messages_per_s"], 2)
