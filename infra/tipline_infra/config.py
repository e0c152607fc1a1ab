"""Per-environment settings of the AWS deployment: the one place that differs between dev and prod.

Anything an operator must supply for their own account (domain, hosted zone, alert email, image tag)
comes from CDK context (`cdk deploy -c env=prod -c domain=chat.example.org ...`), so the values
below stay generic and the same code deploys every environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


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
    budget_scale_down: bool  # on 100 % of the budget spent, pin the app tier to app_min_tasks
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
    oidc_callback_path: str = "/auth/oidc/cognito/callback"
    cognito_domain_prefix: str | None = None

    @property
    def has_certificate(self) -> bool:
        return bool(self.domain and self.hosted_zone_id)

    @property
    def prod(self) -> bool:
        return self.name == "prod"


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
        budget_scale_down=True,
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
        budget_scale_down=False,
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
    "budgetScaleDown": "budget_scale_down",
    "cognitoDomainPrefix": "cognito_domain_prefix",
    "oidcCallbackPath": "oidc_callback_path",
}


def load(env: str, context: dict[str, Any] | None = None) -> EnvConfig:
    """The named environment's settings with the operator's context values applied."""
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}: one of {', '.join(ENVIRONMENTS)}")
    cfg = ENVIRONMENTS[env]
    changes: dict[str, Any] = {}
    for key, attr in _CONTEXT_KEYS.items():
        value = (context or {}).get(key)
        if value is None:
            continue
        if attr == "alert_emails":
            value = tuple(e.strip() for e in str(value).split(",") if e.strip())
        elif attr in ("chain_id", "monthly_budget_usd"):
            value = int(value)
        elif attr == "budget_scale_down":
            value = str(value).lower() in ("1", "true", "yes")
        changes[attr] = value
    if changes.get("domain") and not changes.get("hosted_zone_name", cfg.hosted_zone_name):
        # The zone is usually the parent of the chat host name (chat.example.org -> example.org).
        changes["hosted_zone_name"] = str(changes["domain"]).split(".", 1)[1]
    return replace(cfg, **changes)
