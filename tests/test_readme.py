"""The README stays true: its settings table is the one the code generates (scripts/readme_settings.py),
and CI runs its test command."""

from __future__ import annotations

from pathlib import Path

from tipline.cli import _config_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_settings_table_is_current() -> None:
    assert _config_markdown() in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
