"""infra/cost_model.py: the cost table is recomputed from the benchmark JSON, and docs/deploy-aws.md
shows exactly what it computes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from infra.cost_model import ASSUMPTIONS, TIERS, Capacity, estimate, table

from tests.infra.conftest import ROOT


def test_capacity_is_read_from_the_benchmark_results() -> None:
    cap = Capacity.from_results()
    fanout = json.loads((ROOT / "bench/results/fanout-websockets-sansio.json").read_text())
    sends = json.loads((ROOT / "bench/results/sends.json").read_text())
    assert cap.bytes_per_conn == fanout["bytes_per_conn"]
    assert cap.cpu_s_per_delivery == fanout["server_us_per_delivery_unbatched"] / 1e6
    assert cap.cpu_s_per_send == sends["server_cpu_pct"] / 100 / sends["acked_messages_per_s"]
    assert any("sends.json" in s for s in cap.sources)


def test_totals_are_the_sum_of_items_and_grow_with_users() -> None:
    cap = Capacity.from_results()
    rows = [estimate(d, cap) for d in TIERS]
    for row in rows:
        assert abs(row["total"] - sum(row["items"].values())) < 0.05
        assert all(v >= 0 for v in row["items"].values())
    assert rows[0]["total"] < rows[1]["total"] < rows[2]["total"]
    # Economies of scale: the fixed part (load balancer, NAT, minimum capacity) is shared by more users.
    assert rows[2]["total"] / rows[2]["dau"] < rows[0]["total"] / rows[0]["dau"]


def test_a_server_that_measured_worse_needs_more_tasks() -> None:
    cap = Capacity.from_results()
    base = estimate(100_000, cap)["sizing"]
    heavier = replace(cap, bytes_per_conn=cap.bytes_per_conn * 40, cpu_s_per_delivery=cap.cpu_s_per_delivery * 40)
    worse = estimate(100_000, heavier)["sizing"]
    assert worse["sockets_per_task"] < base["sockets_per_task"]
    assert worse["peak_tasks"] > base["peak_tasks"]
    busier = estimate(100_000, cap, {**ASSUMPTIONS, "messages_per_dau_day": 4000})
    assert busier["sizing"]["aurora_acu_peak"] > estimate(100_000, cap)["sizing"]["aurora_acu_peak"]


def test_script_recomputes_the_table_from_another_results_folder(tmp_path: Path) -> None:
    for name in ("fanout-websockets-sansio.json", "sends.json"):
        shutil.copy(ROOT / "bench/results" / name, tmp_path / name)
    fanout = json.loads((tmp_path / "fanout-websockets-sansio.json").read_text())
    fanout["bytes_per_conn"] *= 50  # a much hungrier server
    (tmp_path / "fanout-websockets-sansio.json").write_text(json.dumps(fanout))
    done = subprocess.run(
        [sys.executable, "-m", "infra.cost_model", "--json", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["capacity"]["bytes_per_conn"] == fanout["bytes_per_conn"]
    assert report["prices_date"] and report["assumptions"] == ASSUMPTIONS
    hungry = report["tiers"][-1]["sizing"]["peak_tasks"]
    assert hungry > estimate(100_000, Capacity.from_results())["sizing"]["peak_tasks"]


def test_deploy_doc_shows_the_computed_table() -> None:
    doc = (ROOT / "docs" / "deploy-aws.md").read_text()
    assert table() in doc, "docs/deploy-aws.md is stale: paste `uv run python -m infra.cost_model` into it"
