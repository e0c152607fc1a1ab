"""Contract ABIs and bytecode produced by ``contracts/build.mjs`` (generated JSON, never edited).

The JSON files in ``artifacts/`` are written by the contract build (run by scripts/lib.sh) and
committed, so the Python package needs no compiler; tests/chain/test_artifacts.py fails when
they no longer match the Solidity sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    # What the constructor leaves at the address: a deployment is verified against it.
    deployed_bytecode: str

    def constructor_inputs(self) -> list[str]:
        for item in self.abi:
            if item["type"] == "constructor":
                return [i["type"] for i in item["inputs"]]
        return []


@cache
def artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `node contracts/build.mjs` (scripts/lib.sh does)")
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ARTIFACTS_DIR / "manifest.json").read_text())
    return data
