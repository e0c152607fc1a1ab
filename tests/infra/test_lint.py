"""cfn-lint and checkov on the synthesized templates (offline)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import ROOT, Synth


def _checkov() -> str:
    # scripts/lib.sh (ensure_infra_tools) installs checkov in a tool environment of its own, because its
    # dependency pins conflict with Tipline's; PATH is the fallback for a system-wide install.
    local = ROOT / ".cache" / "uv-tools" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    assert found, "checkov is not installed: run `source scripts/lib.sh && ensure_infra_tools`"
    return found


def test_cfn_lint_finds_no_errors(synth: Synth) -> None:
    files = [str(p) for p in synth.template_files()]
    assert len(files) == 4
    done = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", *files], capture_output=True, text=True, timeout=600
    )
    matches = json.loads(done.stdout or "[]")
    errors = [m for m in matches if m["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]


def test_checkov_has_no_failures_and_every_skip_is_justified(synth: Synth, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    for p in synth.template_files():
        shutil.copy(p, folder / p.name)
    done = subprocess.run(
        [_checkov(), "--skip-download", "-o", "json", "--framework", "cloudformation", "-d", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{f['check_id']} {f['resource']}" for r in reports for f in r["results"]["failed_checks"]]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 500
    skipped = [s for r in reports for s in r["results"]["skipped_checks"]]
    assert skipped, "the skips recorded in the templates were not read"
    unjustified = [
        s["check_id"] for s in skipped if len((s["check_result"].get("suppress_comment") or "").strip()) < 20
    ]
    assert unjustified == []
