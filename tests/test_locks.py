"""Every dependency is locked to an exact version with a hash, for Python (uv.lock) and for
every npm lock file in the repository, so an install fetches exactly what was reviewed."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_pinned_with_a_hash() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    unhashed = []
    for package in lock["package"]:
        source = package.get("source", {})
        if "editable" in source or "virtual" in source or "directory" in source:
            continue  # Tipline itself
        assert "version" in package, package["name"]
        artifacts = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        if not artifacts or not all(a.get("hash", "").startswith("sha256:") for a in artifacts):
            unhashed.append(package["name"])
    assert unhashed == []
    assert len(lock["package"]) > 50


def test_every_npm_package_is_pinned_with_an_integrity_hash() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*package-lock.json"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "web/package-lock.json" in tracked
    for name in tracked:
        lock = json.loads((ROOT / name).read_text())
        missing = [
            path
            for path, entry in lock["packages"].items()
            if path and not entry.get("link") and not entry.get("integrity", "").startswith("sha512-")
        ]
        assert missing == [], f"{name}: {missing[:5]}"
