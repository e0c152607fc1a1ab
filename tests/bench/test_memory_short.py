"""The memory benchmark's short form (bench/memory/run.py runs 10,000 sockets): 30 sockets on two
WS_IMPLs, one server after the other on the same users. Checks that the run completes and its
JSON and chart are complete, the breakdown included; no memory-size assertions (at 30 sockets,
and on a shared machine, the figures say nothing).

The two are the default (websockets-sansio, with the fan-out's direct writer) and websockets,
which no other test serves; wsproto runs in tests/gateway/test_wire.py, and the benchmark's
steps do not depend on the implementation. Each WS_IMPL costs the run ~20 s."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench
from tests.conftest import ADMIN_URL

KEYS = {
    "connections",
    "bytes_per_conn",
    "target_bytes_per_conn",
    "meets_target",
    "bytes_per_conn_by_impl",
    "traced_bytes_per_conn_by_impl",
    "top_by_origin",
    "rlimit_nofile",
    "closed_by_server",
    "previous",
    "by_impl",
    "date",
    "git_commit",
    "cpu_count",
    "load_avg_at_start",
}
IMPLS = ("websockets-sansio", "websockets")
IMPL_KEYS = {"bytes_per_conn", "rss_before_connect_mib", "rss_after_connect_mib", "connect_s", "source_addresses"}
TRACED_KEYS = {"bytes_per_conn", "by_package", "by_origin", "by_file", "by_line", "object_types", "connections"}


def test_memory_short_form(tmp_path: Path) -> None:
    args = ["--connections", "30", "--traced-connections", "30", "--warmup-connections", "5", "--group-size", "5"]
    args += [arg for impl in IMPLS for arg in ("--ws-impl", impl)]
    code, stdout, stderr = run_bench(
        "memory/run.py", [*args, "--database-url", ADMIN_URL, "--out", str(tmp_path)], timeout=400
    )
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "memory.json").read_text())
    assert (tmp_path / "memory.png").stat().st_size > 0
    assert set(result) >= KEYS, KEYS - set(result)
    assert result["connections"] == 30 and result["target_bytes_per_conn"] == 16384
    assert result["previous"] is None  # a fresh output directory
    assert result["closed_by_server"] == 0
    assert list(result["by_impl"]) == list(IMPLS) and result["ws_impl"] == IMPLS[0]
    assert set(result["bytes_per_conn_by_impl"]) == set(result["traced_bytes_per_conn_by_impl"]) == set(IMPLS)
    for impl, figures in result["by_impl"].items():
        assert set(figures) >= IMPL_KEYS, (impl, IMPL_KEYS - set(figures))
        assert figures["ws_impl"] == impl and figures["connections"] == 30
        traced = figures["traced"]
        assert set(traced) >= TRACED_KEYS, (impl, TRACED_KEYS - set(traced))
        assert traced["connections"] == 30
        # Something was traced, and it is attributed somewhere.
        assert traced["bytes_per_conn"] > 0 and traced["by_package"] and traced["by_origin"]
        assert all({"where", "bytes_per_conn", "blocks_per_conn"} <= set(e) for e in traced["by_origin"])
