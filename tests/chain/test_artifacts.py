"""The committed contract artifacts are what the Solidity sources compile to."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from tipline.chain.artifacts import ARTIFACTS_DIR, artifact, manifest

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_manifest_hashes_match_sources() -> None:
    sources = {
        f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for d in ("src", "test")
        for p in sorted((CONTRACTS / d).glob("*.sol"))
    }
    assert manifest()["sources"] == sources, "contracts changed: run `node contracts/build.mjs`"


def test_every_artifact_has_abi_and_bytecode() -> None:
    jar = artifact("TipJar")
    assert jar.bytecode.startswith("0x60") and len(jar.bytecode) > 100
    assert {i.get("name") for i in jar.abi} >= {"tipNative", "tipToken", "Tipped", "Reentrancy", "ZeroAmount"}
    # No owner, no admin functions: the only state-changing entry points are the two tips.
    writes = {i["name"] for i in jar.abi if i["type"] == "function" and i["stateMutability"] != "view"}
    assert writes == {"tipNative", "tipToken"}
    assert not any(i["type"] in ("receive", "fallback") for i in jar.abi)


def test_recompiling_reproduces_the_artifacts() -> None:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, str(CONTRACTS / "build.mjs"), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (ARTIFACTS_DIR / "TipJar.json").is_file()
