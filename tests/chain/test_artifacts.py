"""The committed contract artifacts are what the Solidity sources compile to."""

from __future__ import annotations

import hashlib
import json
import re
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


def test_own_token_is_openzeppelins_erc20_pinned_and_recorded() -> None:
    # Exact pin in package.json, the same version in the lock (with its integrity hash), and the
    # manifest names the version the artifacts were compiled against.
    package = json.loads((CONTRACTS / "package.json").read_text())
    version = package["devDependencies"]["@openzeppelin/contracts"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    locked = json.loads((CONTRACTS / "package-lock.json").read_text())["packages"][
        "node_modules/@openzeppelin/contracts"
    ]
    assert locked["version"] == version and locked["integrity"].startswith("sha512-")
    assert manifest()["libraries"] == {"@openzeppelin/contracts": version}
    token = artifact("TiplineToken")
    assert token.deployed_bytecode.startswith("0x60") and token.deployed_bytecode[2:] in token.bytecode
    # A plain ERC-20 with a fixed supply: no mint, no owner, nothing but the standard's writes.
    writes = {i["name"] for i in token.abi if i["type"] == "function" and i["stateMutability"] != "view"}
    assert writes == {"approve", "transfer", "transferFrom"}
    assert token.constructor_inputs() == ["string", "string", "uint256"]
