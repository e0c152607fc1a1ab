"""Synthesize the CDK app once per test session, the way the CDK CLI runs it: a fresh Python process
per environment (so the measured time is a cold synth, jsii start-up included), with the context and
output folder passed in CDK_CONTEXT_JSON / CDK_OUTDIR. No AWS credentials or network are used."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# jsii (the CDK's Node runtime) unpacks aws-cdk-lib here, about 200 MB, instead of the home cache;
# .cache/ is ignored by git. Set before any test module imports aws_cdk.
os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(ROOT / ".cache" / "jsii"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROD_CONTEXT = {
    "env": "prod",
    "domain": "chat.example.org",
    "hostedZoneId": "Z0123456789EXAMPLE",
    "alertEmails": "ops@example.org",
    "imageTag": "v1.2.3",
    # prod tips (a TipJar and one token); dev, with no address, runs with tipping off.
    "tipContractAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "tipTokens": "USDC:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6",
    # No mailFrom: MAIL_FROM is no-reply@ the domain, and the DKIM records go in its hosted zone.
}
# dev has no domain: the mail domain comes from mailFrom, and with no hosted zone the stack outputs
# the DKIM records for the operator to add.
DEV_CONTEXT = {"env": "dev", "mailFrom": "Tipline Dev <no-reply@mail.example.net>"}


def jsii_env() -> dict[str, str]:
    return dict(os.environ)


@dataclass(eq=False)
class Synth:
    outdir: dict[str, Path]
    seconds: dict[str, float]  # wall-clock time of each cold synth
    cpu_seconds: dict[str, float]  # CPU time (user + system) of each synth process
    busy: dict[str, bool]  # the machine was already loaded beyond its cores when the synth started

    def template(self, env: str, part: str) -> dict[str, Any]:
        path = self.outdir[env] / f"Tipline-{env}-{part}.template.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def manifest(self, env: str) -> dict[str, Any]:
        return json.loads((self.outdir[env] / "manifest.json").read_text())  # type: ignore[no-any-return]

    def template_files(self) -> list[Path]:
        return sorted(p for out in self.outdir.values() for p in out.glob("*.template.json"))


def synth_env(context: dict[str, Any], outdir: Path) -> tuple[float, float, bool]:
    """Synthesize one environment in a fresh process: (wall seconds, CPU seconds, machine busy)."""
    env = jsii_env()
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    env["CDK_OUTDIR"] = str(outdir)
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-4000:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, busy


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    base = tmp_path_factory.mktemp("cdk")
    outdir = {"dev": base / "dev", "prod": base / "prod"}
    runs = {"dev": synth_env(DEV_CONTEXT, outdir["dev"]), "prod": synth_env(PROD_CONTEXT, outdir["prod"])}
    return Synth(
        outdir=outdir,
        seconds={k: v[0] for k, v in runs.items()},
        cpu_seconds={k: v[1] for k, v in runs.items()},
        busy={k: v[2] for k, v in runs.items()},
    )
