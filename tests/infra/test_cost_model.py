"""infra/cost_model.py: the cost table is recomputed from the benchmark JSON, and docs/deploy-aws.md
shows exactly what it computes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from infra.cost_model import (
    ASSUMPTIONS,
    MATTERMOST_REFERENCE,
    TIERS,
    Capacity,
    comparison_table,
    concurrent_users_per_vcpu,
    estimate,
    mattermost_comparison,
    table,
)

from tests.infra.conftest import ROOT


def test_capacity_is_read_from_the_benchmark_results() -> None:
    cap = Capacity.from_results()
    fanout = json.loads((ROOT / "bench/results/fanout-websockets-sansio.json").read_text())
    sends = json.loads((ROOT / "bench/results/sends.json").read_text())
    memory = json.loads((ROOT / "bench/results/memory.json").read_text())
    history = json.loads((ROOT / "bench/results/history.json").read_text())
    idle = json.loads((ROOT / "bench/results/idle.json").read_text())
    # Memory per socket from the run that held the most sockets on one process.
    largest = max((memory["connections"], memory["bytes_per_conn"]), (idle["sockets"], idle["bytes_per_socket_idle"]))
    assert (cap.max_sockets_per_process, cap.bytes_per_conn) == largest
    held = idle["idle"]["server_cpu_pct"] - idle["base_cpu_pct"]
    assert cap.cpu_s_per_socket_s == max(0.0, held) / 100 / idle["sockets"]
    assert cap.cpu_s_per_delivery == fanout["server_us_per_delivery_unbatched"] / 1e6
    assert cap.cpu_s_per_send == sends["server_cpu_pct"] / 100 / sends["acked_messages_per_s"]
    assert cap.cpu_s_per_request == history["cpu_ms_per_page_db"] / 1e3
    names = ("sends.json", "memory.json", "history.json", "idle.json")
    assert all(any(name in s for s in cap.sources) for name in names)


def test_held_sockets_cost_cpu_of_their_own() -> None:
    cap = Capacity.from_results()
    quiet = estimate(1_000_000, replace(cap, cpu_s_per_socket_s=0.0))["sizing"]
    noisy = estimate(1_000_000, replace(cap, cpu_s_per_socket_s=1e-4))["sizing"]  # 30 vCPU at 300,000 sockets
    assert noisy["tasks_for_cpu"] > quiet["tasks_for_cpu"]
    assert (
        concurrent_users_per_vcpu(replace(cap, cpu_s_per_socket_s=1e-4))["by_cpu"]
        < concurrent_users_per_vcpu(replace(cap, cpu_s_per_socket_s=0.0))["by_cpu"]
    )


def test_a_task_never_holds_more_sockets_than_one_process_was_measured_holding() -> None:
    cap = Capacity.from_results()
    lean = replace(cap, bytes_per_conn=100.0)  # memory alone would allow millions
    sizing = estimate(1_000_000, lean)["sizing"]
    assert sizing["sockets_per_task"] == cap.max_sockets_per_process
    assert sizing["peak_tasks"] >= sizing["peak_sockets"] / cap.max_sockets_per_process
    more = replace(lean, max_sockets_per_process=cap.max_sockets_per_process * 5)
    assert estimate(1_000_000, more)["sizing"]["sockets_per_task"] == more.max_sockets_per_process


def test_a_million_users_say_which_profile_limits_to_raise() -> None:
    row = estimate(1_000_000, Capacity.from_results())
    limits = row["sizing"]["profile_limits_to_raise"]
    # A day of messages in the recent-message cache outgrows two shards of the largest node.
    assert any(limit.startswith("redis_shards 2 -> ") for limit in limits), limits
    shards = int(next(x for x in limits if x.startswith("redis_shards")).rsplit(" ", 1)[1])
    assert row["sizing"]["redis"].startswith(f"{shards * 2} x ")
    assert estimate(10_000, Capacity.from_results())["sizing"]["profile_limits_to_raise"] == []
    assert row["per_1000_dau"] == round(row["total"] / 1000, 2)


def test_users_per_vcpu_and_the_mattermost_comparison_follow_the_measurements() -> None:
    cap = Capacity.from_results()
    per = concurrent_users_per_vcpu(cap)
    assert per["users"] == min(per["by_cpu"], per["by_sockets"]) > 0
    slower = concurrent_users_per_vcpu(replace(cap, cpu_s_per_request=cap.cpu_s_per_request * 10))
    assert slower["by_cpu"] < per["by_cpu"]
    rows = mattermost_comparison(cap)
    assert [r["concurrent_users"] for r in rows] == [u for u, _, _ in MATTERMOST_REFERENCE]
    for r, (users, nodes, vcpus) in zip(rows, MATTERMOST_REFERENCE, strict=True):
        assert r["mattermost_app_vcpus"] == nodes * vcpus
        assert r["tipline_app_vcpus"] * per["users"] >= users
        assert r["ratio"] == round(per["users"] / (users / (nodes * vcpus)), 1)


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
    # No memory.json or idle.json: the fanout run's figures stand in, and held sockets cost no CPU.
    for name in ("fanout-websockets-sansio.json", "sends.json", "history.json"):
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
    assert report["capacity"]["max_sockets_per_process"] == fanout["members"]
    assert report["capacity"]["cpu_s_per_socket_s"] == 0.0
    assert report["concurrent_users_per_app_vcpu"]["users"] > 0 and report["mattermost_comparison"]
    assert report["prices_date"] and report["assumptions"] == ASSUMPTIONS
    hungry = report["tiers"][-1]["sizing"]["peak_tasks"]
    assert hungry > estimate(100_000, Capacity.from_results())["sizing"]["peak_tasks"]


def test_deploy_doc_shows_the_computed_table() -> None:
    doc = (ROOT / "docs" / "deploy-aws.md").read_text()
    assert table() in doc, "docs/deploy-aws.md is stale: paste `uv run python -m infra.cost_model` into it"
    assert comparison_table() in doc, "docs/deploy-aws.md's comparison with Mattermost is stale"
