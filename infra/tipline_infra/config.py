"""Per-environment settings of the AWS deployment: the one place that differs between dev and prod.

Anything an operator must supply for their own account (domain, hosted zone, alert email, image tag)
comes from CDK context (`cdk deploy -c env=prod -c domain=chat.example.org ...`), so the values
below stay generic and the same code deploys every environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from email.utils import parseaddr
from typing import Any, Literal

# What spending the whole monthly budget does: only alert; cap the app tier at its minimum task
# count; or stop the app and watcher services (0 tasks: the site is down until restored).
BudgetAction = Literal["alert", "cap", "stop"]
BUDGET_ACTIONS: tuple[BudgetAction, ...] = ("alert", "cap", "stop")


@dataclass(frozen=True)
class EnvConfig:
    name: str
    # --- network ---
    max_azs: int
    nat_gateways: int
    # --- database: Aurora PostgreSQL Serverless v2 ---
    db_min_acu: float
    db_max_acu: float
    db_readers: int  # 0: writer only; each reader is another Serverless v2 instance
    db_backup_days: int
    db_max_connections_alarm: int
    # --- Redis: ElastiCache cluster mode ---
    redis_node_type: str
    redis_shards: int
    redis_replicas_per_shard: int
    # --- app tier: ECS Fargate ---
    app_cpu: int
    app_memory_mib: int
    app_min_tasks: int
    app_max_tasks: int
    app_target_cpu_pct: int
    app_target_requests_per_task: int
    app_target_connections_per_task: int
    watcher_cpu: int
    watcher_memory_mib: int
    alb_idle_timeout_s: int
    # --- operations ---
    log_retention_days: int
    p99_latency_alarm_s: float
    watcher_lag_alarm_blocks: int
    monthly_budget_usd: int
    budget_action: BudgetAction  # on 100 % of the budget spent (docs/deploy-aws.md, "Budget")
    # --- edge ---
    waf_signin_per_5min: int
    waf_signup_per_5min: int
    # --- from context (operator-specific) ---
    image_tag: str = "latest"
    domain: str | None = None  # e.g. chat.example.org; with hosted_zone_id, ACM + Route 53 are set up
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    alert_emails: tuple[str, ...] = ()
    chain_id: int = 8453
    # Tipping is on exactly when a TipJar address is given; without one the watcher is not deployed.
    tip_contract_address: str | None = None
    tip_tokens: tuple[str, ...] = ()  # SYMBOL:0xaddress:decimals, as TIP_TOKENS
    oidc_callback_path: str = "/auth/oidc/cognito/callback"
    cognito_domain_prefix: str | None = None
    # Mail goes out through Amazon SES (docs/deploy-aws.md, "Email"): MAIL_FROM, whose domain becomes
    # the SES domain identity. Default `Tipline <no-reply@<domain>>`; the stack needs one or the other.
    mail_from: str | None = None
    # The Route 53 zone the DKIM records go in; default the site's zone when the mail domain is in it.
    # Without a zone the stack outputs the records for the operator to add.
    mail_hosted_zone_id: str | None = None

    @property
    def has_certificate(self) -> bool:
        return bool(self.domain and self.hosted_zone_id)

    @property
    def prod(self) -> bool:
        return self.name == "prod"

    @property
    def tipping(self) -> bool:
        return self.tip_contract_address is not None

    @property
    def mail_sender(self) -> str | None:
        """MAIL_FROM as the tasks get it: the mailFrom input, else no-reply at the site's domain."""
        if self.mail_from:
            return self.mail_from
        return f"Tipline <no-reply@{self.domain}>" if self.domain else None

    @property
    def mail_domain(self) -> str | None:
        """The SES domain identity: the domain of MAIL_FROM's address."""
        sender = self.mail_sender
        return parseaddr(sender)[1].rpartition("@")[2].lower() if sender else None

    @property
    def mail_zone_id(self) -> str | None:
        """The hosted zone the DKIM records go in: mailHostedZoneId, else the site's zone if the mail
        domain is in it; None: the stack outputs the records for the operator to add."""
        domain = self.mail_domain
        if domain is None:
            return None
        if self.mail_hosted_zone_id:
            return self.mail_hosted_zone_id
        zone = self.hosted_zone_name
        if self.hosted_zone_id and zone and (domain == zone or domain.endswith("." + zone)):
            return self.hosted_zone_id
        return None
        if self.mail_hosted_zone_id:
            return self.mail_hosted_zone_id, self.mail_hosted_zone_name or domain
        zone = self.hosted_zone_name
        if self.hosted_zone_id and zone and (domain == zone or domain.endswith("." + zone)):
            return self.hosted_zone_id, zone
        return None


ENVIRONMENTS: dict[str, EnvConfig] = {
    "dev": EnvConfig(
        name="dev",
        max_azs=2,
        nat_gateways=1,
        db_min_acu=0.5,
        db_max_acu=4,
        db_readers=0,
        db_backup_days=7,
        db_max_connections_alarm=200,
        redis_node_type="cache.t4g.small",
        redis_shards=1,
        redis_replicas_per_shard=1,
        app_cpu=512,
        app_memory_mib=1024,
        app_min_tasks=1,
        app_max_tasks=4,
        app_target_cpu_pct=60,
        app_target_requests_per_task=1000,
        app_target_connections_per_task=2000,
        watcher_cpu=256,
        watcher_memory_mib=512,
        alb_idle_timeout_s=900,
        log_retention_days=14,
        p99_latency_alarm_s=1.0,
        watcher_lag_alarm_blocks=50,
        monthly_budget_usd=300,
        budget_action="cap",
        waf_signin_per_5min=300,
        waf_signup_per_5min=100,
    ),
    "prod": EnvConfig(
        name="prod",
        max_azs=3,
        nat_gateways=3,
        db_min_acu=2,
        db_max_acu=32,
        db_readers=1,
        db_backup_days=30,
        db_max_connections_alarm=1500,
        redis_node_type="cache.r7g.large",
        redis_shards=2,
        redis_replicas_per_shard=1,
        app_cpu=1024,
        app_memory_mib=2048,
        app_min_tasks=2,
        app_max_tasks=40,
        app_target_cpu_pct=60,
        app_target_requests_per_task=2000,
        app_target_connections_per_task=8000,
        watcher_cpu=256,
        watcher_memory_mib=512,
        alb_idle_timeout_s=900,
        log_retention_days=90,
        p99_latency_alarm_s=0.5,
        watcher_lag_alarm_blocks=20,
        monthly_budget_usd=5000,
        budget_action="alert",
        waf_signin_per_5min=300,
        waf_signup_per_5min=100,
    ),
}

# CDK context keys an operator may pass with -c key=value, mapped to EnvConfig fields.
_CONTEXT_KEYS = {
    "imageTag": "image_tag",
    "domain": "domain",
    "hostedZoneId": "hosted_zone_id",
    "hostedZoneName": "hosted_zone_name",
    "alertEmails": "alert_emails",
    "chainId": "chain_id",
    "budgetUsd": "monthly_budget_usd",
    "budgetAction": "budget_action",
    "cognitoDomainPrefix": "cognito_domain_prefix",
    "oidcCallbackPath": "oidc_callback_path",
    "tipContractAddress": "tip_contract_address",
    "tipTokens": "tip_tokens",
    "mailFrom": "mail_from",
    "mailHostedZoneId": "mail_hosted_zone_id",
}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def load(env: str, context: dict[str, Any] | None = None) -> EnvConfig:
    """The named environment's settings with the operator's context values applied."""
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}: one of {', '.join(ENVIRONMENTS)}")
    cfg = ENVIRONMENTS[env]
    if (context or {}).get("budgetScaleDown") is not None:
        raise ValueError("budgetScaleDown was replaced by budgetAction: alert, cap or stop")
    changes: dict[str, Any] = {}
    for key, attr in _CONTEXT_KEYS.items():
        value = (context or {}).get(key)
        if value is None:
            continue
        if attr == "alert_emails":
            value = tuple(e.strip() for e in str(value).split(",") if e.strip())
        elif attr in ("chain_id", "monthly_budget_usd"):
            value = int(value)
        elif attr == "budget_action":
            if value not in BUDGET_ACTIONS:
                raise ValueError(f"budgetAction is one of {', '.join(BUDGET_ACTIONS)}, not {value!r}")
        elif attr == "tip_contract_address":
            # The same checks Tipline makes at start-up, here so a typo fails the synth, not the deploy.
            if not _ADDRESS.fullmatch(str(value)):
                raise ValueError("tipContractAddress is a 0x-prefixed 20-byte hex address")
        elif attr == "mail_from":
            # An address on a real domain: SES verifies the domain, and Tipline refuses localhost.
            address = parseaddr(str(value))[1]
            if "@" not in address or "." not in address.rpartition("@")[2]:
                raise ValueError(
                    f"mailFrom is an address on your mail domain, e.g. 'Tipline <no-reply@example.org>', not {value!r}"
                )
        elif attr == "tip_tokens":
            value = tuple(t.strip() for t in str(value).split(",") if t.strip())
            for spec in value:
                parts = spec.split(":")
                if len(parts) != 3 or not _ADDRESS.fullmatch(parts[1]) or not parts[2].isdigit():
                    raise ValueError(f"a tipTokens entry is SYMBOL:0xaddress:decimals, not {spec!r}")
        changes[attr] = value
    if changes.get("tip_tokens") and not changes.get("tip_contract_address"):
        raise ValueError("tipTokens without tipContractAddress: tipping needs the TipJar's address")
    if changes.get("domain") and not changes.get("hosted_zone_name", cfg.hosted_zone_name):
        # The zone is usually the parent of the chat host name (chat.example.org -> example.org).
        changes["hosted_zone_name"] = str(changes["domain"]).split(".", 1)[1]
    return replace(cfg, **changes)
