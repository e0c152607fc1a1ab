"""scripts/run.sh rebuilds the web client only when what it is built from changed
(scripts/lib.sh: web_build_needed, build_web_when_changed; docs/operations.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "scripts" / "lib.sh"


def bash(script: str, web: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{LIB}"; {script}', "bash", str(web)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def needed(web: Path) -> bool:
    r = bash('web_build_needed "$1"', web)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0


def make_web(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "src" / "features").mkdir(parents=True)
    (web / "public").mkdir()
    (web / "src" / "main.tsx").write_text("console.log('one')\n")
    (web / "src" / "features" / "a.tsx").write_text("export const a = 1;\n")
    (web / "public" / "favicon.svg").write_text("<svg/>")
    (web / "index.html").write_text("<!doctype html>")
    (web / "vite.config.ts").write_text("export default {};\n")
    (web / "package.json").write_text("{}")
    (web / "package-lock.json").write_text("{}")
    # A stand-in for `npm run build`: an index.html in dist/, as Vite writes it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text('#!/bin/sh\nmkdir -p dist && echo built >> ../builds.log && echo "<html>" > dist/index.html\n')
    npm.chmod(0o755)
    return web


def build(web: Path) -> str:
    env = {**os.environ, "PATH": f"{web.parent / 'bin'}:{os.environ['PATH']}"}
    r = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{LIB}"; build_web_when_changed "$1"', "bash", str(web)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def builds(web: Path) -> int:
    log = web.parent / "builds.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_builds_when_there_is_no_build_and_then_skips_until_a_source_changes(tmp_path: Path) -> None:
    web = make_web(tmp_path)
    assert needed(web)  # never built
    build(web)
    assert builds(web) == 1 and (web / "dist" / ".tipline-sources.sha256").is_file()
    assert not needed(web)
    assert "not rebuilding" in build(web)
    assert builds(web) == 1
    # Touching a file without changing it is no change (content, not modification times).
    os.utime(web / "src" / "main.tsx", (1, 1))
    assert not needed(web)

    for change in (
        lambda: (web / "src" / "features" / "a.tsx").write_text("export const a = 2;\n"),
        lambda: (web / "src" / "features" / "b.ts").write_text("export {};\n"),  # a new file
        lambda: (web / "src" / "features" / "b.ts").rename(web / "src" / "features" / "c.ts"),  # a rename
        lambda: (web / "index.html").write_text("<!doctype html><title>x</title>"),
        lambda: (web / "package-lock.json").write_text('{"lockfileVersion": 3}'),
        lambda: (web / "vite.config.ts").write_text("export default { build: {} };\n"),
        lambda: (web / "public" / "favicon.svg").write_text("<svg></svg>"),
        lambda: (web / "src" / "features" / "c.ts").unlink(),  # a removed file
    ):
        before = builds(web)
        change()
        assert needed(web)
        build(web)
        assert builds(web) == before + 1
        assert not needed(web)


def test_a_build_without_its_stamp_or_index_is_rebuilt(tmp_path: Path) -> None:
    web = make_web(tmp_path)
    build(web)
    # `npm run build` run by hand (or by the browser tests) empties dist/, stamp included.
    (web / "dist" / ".tipline-sources.sha256").unlink()
    assert needed(web)
    build(web)
    (web / "dist" / "index.html").unlink()
    assert needed(web)


def test_run_script_builds_through_the_check() -> None:
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert "build_web_when_changed web" in run and "npm run build" not in run
