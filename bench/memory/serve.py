"""`tipline` with a memory probe for bench/memory/run.py; never used outside the benchmark.

    uv run python bench/memory/serve.py serve --migrate      (with TIPLINE_BENCH_MEMORY_REPORT=<path>)

The same command line as `tipline`, plus two signal handlers installed before it starts:

* SIGUSR1: collect garbage, count live objects by type, and start tracemalloc (frames per trace
  from TIPLINE_BENCH_TRACEMALLOC_FRAMES, default 25). Tracing starts here, once the server is up
  and idle, so it records what was allocated from then on (the sockets connected next), and
  the start-up is not slowed down by it.
* SIGUSR2: collect garbage, take a snapshot, stop tracing, and write to the report path (as JSON,
  through a temporary file and a rename) what is still allocated, grouped several ways, and how
  the live object counts by type changed.

Signals reach only a process the benchmark started (by its PID), and the probe exists only in
this wrapper: the production command has no such hook and no route to one.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

REPORT = Path(os.environ["TIPLINE_BENCH_MEMORY_REPORT"])
FRAMES = int(os.environ.get("TIPLINE_BENCH_TRACEMALLOC_FRAMES", "25"))
TOP = 40
STDLIB = sysconfig.get_paths()["stdlib"].rstrip("/") + "/"
_types_before: dict[str, tuple[int, int]] = {}


def where(filename: str) -> tuple[str, str]:
    """(package, short file name) of a source file: the library, `tipline.<area>`, or the stdlib module."""
    if "site-packages/" in filename:
        rest = filename.split("site-packages/", 1)[1]
        return rest.split("/", 1)[0].removesuffix(".py"), rest
    if "/src/tipline/" in filename:
        rest = "tipline/" + filename.split("/src/tipline/", 1)[1]
        parts = rest.split("/")
        return ".".join(parts[:2]).removesuffix(".py"), rest
    if filename.startswith(STDLIB):
        rest = filename[len(STDLIB) :]
        return rest.split("/", 1)[0].removesuffix(".py"), rest
    return filename, filename


def is_stdlib(filename: str) -> bool:
    return filename.startswith(STDLIB) or filename.startswith("<")


def type_counts() -> dict[str, tuple[int, int]]:
    """Live gc-tracked objects by type: (count, bytes by sys.getsizeof, the object itself only)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for obj in gc.get_objects():
        t = type(obj)
        entry = counts[f"{t.__module__}.{t.__qualname__}"]
        entry[0] += 1
        entry[1] += sys.getsizeof(obj, 0)
    return {k: (v[0], v[1]) for k, v in counts.items()}


def start(signum: int, frame: FrameType | None) -> None:
    global _types_before
    gc.collect()
    _types_before = type_counts()
    tracemalloc.start(FRAMES)


def top(counter: Counter[str], blocks: Counter[str]) -> list[dict[str, Any]]:
    return [{"where": k, "bytes": v, "blocks": blocks[k]} for k, v in counter.most_common(TOP)]


def report(signum: int, frame: FrameType | None) -> None:
    t0 = time.monotonic()
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    overhead = tracemalloc.get_tracemalloc_memory()
    tracemalloc.stop()
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    by_package: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    by_line: Counter[str] = Counter()
    by_origin: Counter[str] = Counter()
    blocks: dict[str, Counter[str]] = {k: Counter() for k in ("package", "file", "line", "origin")}
    total = count = 0
    for stat in snapshot.statistics("traceback"):
        tb = stat.traceback
        size, n = stat.size, stat.count
        total += size
        count += n
        inner = tb[-1]  # frames run from the oldest to the most recent
        package, short = where(inner.filename)
        line = f"{short}:{inner.lineno}"
        # The innermost frame outside the standard library: which library or Tipline code asked
        # for it (an asyncio.Queue made by uvicorn's protocol counts as uvicorn's).
        origin = next((f for f in reversed(tb) if not is_stdlib(f.filename)), inner)
        origin_key = f"{where(origin.filename)[1]}:{origin.lineno}"
        for key, counter, value in (
            ("package", by_package, package),
            ("file", by_file, short),
            ("line", by_line, line),
            ("origin", by_origin, origin_key),
        ):
            counter[value] += size
            blocks[key][value] += n
    gc.collect()
    after = type_counts()
    types = []
    for name in set(after) | set(_types_before):
        n1, s1 = after.get(name, (0, 0))
        n0, s0 = _types_before.get(name, (0, 0))
        if n1 != n0:
            types.append({"type": name, "count": n1 - n0, "bytes": s1 - s0})
    types.sort(key=lambda t: -abs(t["bytes"]))
    data = {
        "traced_bytes": total,
        "traced_blocks": count,
        "tracemalloc_frames": FRAMES,
        "tracemalloc_overhead_bytes": overhead,
        "report_s": round(time.monotonic() - t0, 1),
        "by_package": top(by_package, blocks["package"]),
        "by_file": top(by_file, blocks["file"]),
        "by_line": top(by_line, blocks["line"]),
        "by_origin": top(by_origin, blocks["origin"]),
        "object_types": types[:TOP],
    }
    tmp = REPORT.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, REPORT)


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, report)

from tipline.cli import main  # noqa: E402  (the handlers are in place before the server starts)

main(sys.argv[1:])
