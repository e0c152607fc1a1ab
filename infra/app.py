"""Tipline's CDK app: `cdk synth -c env=dev -c mailFrom='Tipline <no-reply@example.org>'` (or prod, or
`-c domain=...` instead of mailFrom) from infra/, see docs/deploy-aws.md."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Aspects, Tags

from infra.tipline_infra.config import load
from infra.tipline_infra.stateful import StatefulStack
from infra.tipline_infra.stateless import LambdaCheckovSkips, StatelessStack


def add_environment(app: App, env: str, context: dict[str, Any] | None = None) -> tuple[StatefulStack, StatelessStack]:
    """Both stacks of one environment. Stacks are environment-agnostic (no account/region): the
    account and region come from the credentials `cdk deploy` runs with."""
    cfg = load(env, context)
    stateful = StatefulStack(app, f"Tipline-{env}-stateful", cfg=cfg, description=f"Tipline {env}: network and data")
    stateless = StatelessStack(
        app, f"Tipline-{env}-stateless", cfg=cfg, data=stateful, description=f"Tipline {env}: app tier and edge"
    )
    for stack in (stateful, stateless):
        Tags.of(stack).add("project", "tipline")
        Tags.of(stack).add("environment", env)
        Aspects.of(stack).add(LambdaCheckovSkips())
    return stateful, stateless


def main() -> None:
    app = App()
    env = str(app.node.try_get_context("env") or "dev")
    keys = (
        "imageTag",
        "domain",
        "hostedZoneId",
        "hostedZoneName",
        "alertEmails",
        "chainId",
        "budgetUsd",
        "budgetAction",
        "budgetScaleDown",  # replaced by budgetAction: load() says so
        "cognitoDomainPrefix",
        "oidcCallbackPath",
        "tipContractAddress",
        "tipTokens",
        "mailFrom",
        "mailHostedZoneId",
    )
    add_environment(app, env, {k: app.node.try_get_context(k) for k in keys})
    app.synth()


if __name__ == "__main__":
    main()
