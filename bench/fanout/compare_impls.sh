#!/usr/bin/env bash
# Run the fan-out benchmark once per uvicorn WebSocket implementation and print a table,
# to choose WS_IMPL by measurement. Extra arguments go to every run, e.g.:
#   bash bench/fanout/compare_impls.sh --members 1000
# Each run takes about 2-3 minutes; results land in bench/results/fanout-<impl>.{json,png}.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=bench/results
prev=""
for arg in "$@"; do
  if [ "$prev" = "--out" ]; then out="$arg"; fi
  case "$arg" in --out=*) out="${arg#--out=}" ;; esac
  prev="$arg"
done

impls=(websockets-sansio websockets wsproto)
for impl in "${impls[@]}"; do
  echo "=== ws_impl=$impl" >&2
  uv run python bench/fanout/run.py --ws-impl "$impl" "$@" | tail -n 1 > /dev/null
done

uv run python - "$out" "${impls[@]}" <<'PY'
import json
import sys
from pathlib import Path

out, impls = Path(sys.argv[1]), sys.argv[2:]
cols = [
    ("ws_impl", "ws_impl"),
    ("deliveries_per_s", "deliveries/s"),
    ("baseline_deliveries_per_s", "baseline/s"),
    ("ratio_to_baseline", "ratio"),
    ("deliveries_per_server_cpu_s", "per CPU-s"),
    ("baseline_deliveries_per_server_cpu_s", "base per CPU-s"),
    ("server_us_per_delivery_unbatched", "us/delivery unbatched"),
    ("baseline_server_us_per_delivery", "base us/delivery"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("baseline_p99_ms", "base p99"),
    ("bytes_per_conn", "B/conn"),
    ("baseline_bytes_per_conn", "base B/conn"),
    ("server_cpu_pct", "srv CPU%"),
    ("other_processes_cpu_pct", "others CPU%"),
]
print("| " + " | ".join(h for _, h in cols) + " |")
print("|" + "---|" * len(cols))
for impl in impls:
    path = out / f"fanout-{impl}.json"
    if not path.exists():
        print(f"| {impl} | (no result) |")
        continue
    r = json.loads(path.read_text())
    print("| " + " | ".join(f"{r.get(k):,}" if isinstance(r.get(k), int) else str(r.get(k)) for k, _ in cols) + " |")
PY
