"""The stateless stack: the app tier on ECS Fargate, the edge, identity client and operations.

Nothing here holds data: the stack can be destroyed and redeployed from the stateful stack's
outputs and an image tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    ArnFormat,
    Aws,
    CfnOutput,
    CfnRule,
    CfnRuleAssertion,
    CustomResource,
    Duration,
    Fn,
    IAspect,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from infra.tipline_infra.common import checkov_skip
from infra.tipline_infra.config import EnvConfig
from infra.tipline_infra.stateful import APP_PORT, REDIS_PORT, StatefulStack

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"
ORIGIN_HEADER = "X-Origin-Verify"
# The paths of Tipline's password sign-in and sign-up (src/tipline/api/auth.py).
SIGNIN_PATH = "/auth/signin"
SIGNUP_PATH = "/auth/signup"
WATCHER_LAG_METRIC = "WatcherLagBlocks"
# 80 % of the SES reputation levels at which AWS puts an account under review (5 % bounces, 0.1 % complaints).
MAIL_BOUNCE_ALARM = 0.04
MAIL_COMPLAINT_ALARM = 0.0008


@jsii.implements(IAspect)
class LambdaCheckovSkips:
    """Every function in this stack (ours and the custom-resource framework's) is a small control-plane
    hook that CloudFormation or SNS invokes rarely; the checks below are for data-path functions."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, lambda_.CfnFunction):
            checkov_skip(
                node,
                ("CKV_AWS_116", "invoked synchronously by CloudFormation/Step Functions or by SNS, which retries"),
                ("CKV_AWS_117", "calls only AWS APIs (ECS, Application Auto Scaling); a VPC adds nothing"),
                ("CKV_AWS_173", "its environment holds names and ARNs, no secrets"),
                ("CKV_AWS_115", "a control-plane hook run a few times per deploy; no concurrency to reserve"),
            )


class StatelessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, cfg: EnvConfig, data: StatefulStack, **kw: Any) -> None:
        super().__init__(scope, construct_id, **kw)
        self.cfg = cfg
        self.data = data
        self._imported: dict[str, sm.ISecret] = {}
        # CloudFront-scoped WAF rules and CloudFront's certificates live only in us-east-1.
        CfnRule(
            self,
            "UsEast1Only",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(Aws.REGION, "us-east-1"),
                    assert_description="Deploy the stateless stack in us-east-1 (CloudFront WAF and certificates).",
                )
            ],
        )

        self.ops_key = kms.Key(
            self, "OpsKey", description=f"Tipline {cfg.name}: logs and alerts", enable_key_rotation=True
        )
        for service in (f"logs.{Aws.REGION}.amazonaws.com", "cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
            self.ops_key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    principals=[iam.ServicePrincipal(service)],
                    resources=["*"],
                )
            )
        self.logs_app = self._log_group("AppLogs", "app")
        # Without a TipJar address tipping is off: no watcher service, no log group or alarm for it.
        self.logs_watcher = self._log_group("WatcherLogs", "watcher") if cfg.tipping else None
        self.logs_migrate = self._log_group("MigrateLogs", "migrate")

        self.cluster = ecs.Cluster(self, "Cluster", vpc=data.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.public_host = cfg.domain
        self._load_balancer()
        self._edge()
        self._identity()
        self._tasks()
        self._migration()
        self._services()
        self._operations()

        CfnOutput(self, "Url", value=self.public_url)
        CfnOutput(self, "MigrateTaskDefinition", value=self.migrate_task.task_definition_arn)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)

    # --- helpers ----------------------------------------------------------------------------
    def _log_group(self, cid: str, part: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            cid,
            log_group_name=f"/tipline/{self.cfg.name}/{part}",
            retention=_retention(self.cfg.log_retention_days),
            encryption_key=self.ops_key,
            removal_policy=RemovalPolicy.RETAIN if self.cfg.prod else RemovalPolicy.DESTROY,
        )

    # --- load balancer ----------------------------------------------------------------------
    def _load_balancer(self) -> None:
        cfg, data = self.cfg, self.data
        self.alb_sg = ec2.SecurityGroup(
            self, "AlbSg", vpc=data.vpc, description="Tipline ALB", allow_all_outbound=False
        )
        port = 443 if cfg.has_certificate else 80
        self.alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), "CloudFront to the origin")
        if cfg.has_certificate:
            self.alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "redirected to HTTPS")
        # Tasks (app, watcher, migration) share one security group; its rules into the data stores live
        # here too, so the stateful stack never depends on this one.
        self.task_sg = ec2.SecurityGroup(self, "TaskSg", vpc=data.vpc, description="Tipline tasks")
        for cid, target, port_no in (("TasksToDb", data.db_sg, 5432), ("TasksToRedis", data.redis_sg, REDIS_PORT)):
            ec2.CfnSecurityGroupIngress(
                self,
                cid,
                group_id=target.security_group_id,
                source_security_group_id=self.task_sg.security_group_id,
                ip_protocol="tcp",
                from_port=port_no,
                to_port=port_no,
                description="from Tipline tasks",
            )
        checkov_skip(
            self.alb_sg,
            (
                "CKV_AWS_260",
                "CloudFront reaches the origin from its whole address range; requests without the "
                "origin header are refused by the listener",
            ),
        )

        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=data.vpc,
            internet_facing=True,
            security_group=self.alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # WebSockets stay open for hours; heartbeats every 25 s keep them well inside this.
            idle_timeout=Duration.seconds(cfg.alb_idle_timeout_s),
            drop_invalid_header_fields=True,
            deletion_protection=cfg.prod,
        )
        self.alb.set_attribute("access_logs.s3.enabled", "true")
        self.alb.set_attribute("access_logs.s3.bucket", data.access_logs.bucket_name)
        self.alb.set_attribute("access_logs.s3.prefix", f"alb-{cfg.name}")

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "AppTargets",
            vpc=data.vpc,
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path="/readyz",
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        refuse = elbv2.ListenerAction.fixed_response(403, content_type="text/plain", message_body="forbidden")
        header = elbv2.ListenerCondition.http_header(ORIGIN_HEADER, [data.origin_verify.secret_value.unsafe_unwrap()])
        if cfg.has_certificate:
            assert cfg.domain and cfg.hosted_zone_id and cfg.hosted_zone_name
            self.zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=cfg.hosted_zone_id, zone_name=cfg.hosted_zone_name
            )
            self.origin_host = f"origin.{cfg.domain}"
            origin_cert = acm.Certificate(
                self,
                "OriginCert",
                domain_name=self.origin_host,
                validation=acm.CertificateValidation.from_dns(self.zone),
            )
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[origin_cert],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_action=refuse,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
            route53.ARecord(
                self,
                "OriginRecord",
                zone=self.zone,
                record_name=self.origin_host,
                target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(self.alb)),
            )
        else:
            self.origin_host = self.alb.load_balancer_dns_name
            self.listener = self.alb.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, default_action=refuse
            )
            checkov_skip(
                self.listener,
                (
                    "CKV_AWS_2",
                    "no certificate configured (dev): viewers use HTTPS to CloudFront, which reaches "
                    "the origin over HTTP; set domain and hostedZoneId for HTTPS to the origin",
                ),
                ("CKV_AWS_103", "as CKV_AWS_2: this listener has no TLS until a certificate is configured"),
            )
        self.listener.add_action(
            "FromCloudFront",
            priority=10,
            conditions=[header],
            action=elbv2.ListenerAction.forward([self.target_group]),
        )

    # --- edge: CloudFront + WAF (+ Route 53/ACM) ---------------------------------------------
    def _edge(self) -> None:
        cfg, data = self.cfg, self.data
        waf_logs = logs.LogGroup(
            self,
            "WafLogs",
            log_group_name=f"aws-waf-logs-tipline-{cfg.name}",
            retention=_retention(cfg.log_retention_days),
            encryption_key=self.ops_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        rules = [
            _rate_rule("SigninRate", 1, SIGNIN_PATH, cfg.waf_signin_per_5min),
            _rate_rule("SignupRate", 2, SIGNUP_PATH, cfg.waf_signup_per_5min),
            _managed_rule("AWSManagedRulesAmazonIpReputationList", 10),
            _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 11),
            # Attachments go straight to S3, but keep large JSON bodies (up to HTTP_MAX_BODY_BYTES) working.
            _managed_rule("AWSManagedRulesCommonRuleSet", 12, count=["SizeRestrictions_BODY"]),
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"tipline-{cfg.name}"),
            rules=rules,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=waf_logs.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )

        protocol = (
            cloudfront.OriginProtocolPolicy.HTTPS_ONLY
            if cfg.has_certificate
            else cloudfront.OriginProtocolPolicy.HTTP_ONLY
        )
        origin = origins.HttpOrigin(
            self.origin_host,
            protocol_policy=protocol,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            read_timeout=Duration.seconds(60),
            keepalive_timeout=Duration.seconds(60),
            custom_headers={ORIGIN_HEADER: data.origin_verify.secret_value.unsafe_unwrap()},
        )
        dynamic = cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        )
        certificate = None
        domain_names = None
        if cfg.has_certificate:
            certificate = acm.Certificate(
                self, "Cert", domain_name=str(cfg.domain), validation=acm.CertificateValidation.from_dns(self.zone)
            )
            domain_names = [str(cfg.domain)]
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"Tipline {cfg.name}",
            default_behavior=dynamic,
            additional_behaviors={
                # Vite's content-hashed bundles: cached at the edge for as long as they exist.
                "/assets/*": cloudfront.BehaviorOptions(
                    origin=origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    compress=True,
                ),
            },
            certificate=certificate,
            domain_names=domain_names,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            web_acl_id=self.web_acl.attr_arn,
            enable_logging=True,
            log_bucket=data.access_logs,
            log_file_prefix=f"cloudfront-{cfg.name}/",
        )
        skips = [("CKV_AWS_374", "a chat service for any country; no geo restriction by default")]
        if not cfg.has_certificate:
            skips.append(
                (
                    "CKV_AWS_174",
                    "the default *.cloudfront.net certificate allows no minimum TLS setting; "
                    "configure domain and hostedZoneId for TLS 1.2+ only",
                )
            )
        checkov_skip(self.distribution, *skips)
        if cfg.has_certificate:
            for cls, cid in ((route53.ARecord, "Alias"), (route53.AaaaRecord, "AliasV6")):
                cls(
                    self,
                    cid,
                    zone=self.zone,
                    record_name=str(cfg.domain),
                    target=route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution)),
                )
            self.public_url = f"https://{cfg.domain}"
        else:
            self.public_url = f"https://{self.distribution.distribution_domain_name}"

    # --- identity: the OIDC app client ------------------------------------------------------
    def _identity(self) -> None:
        # A public client: Tipline exchanges the code with PKCE (S256), so no client secret is needed.
        self.user_pool_client = cognito.UserPoolClient(
            self,
            "WebClient",
            user_pool=self.data.user_pool,
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[f"{self.public_url}{self.cfg.oidc_callback_path}"],
                logout_urls=[f"{self.public_url}/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.minutes(15),
            access_token_validity=Duration.minutes(15),
        )
        self.oidc_issuer = f"https://cognito-idp.{Aws.REGION}.amazonaws.com/{self.data.user_pool.user_pool_id}"

    # --- task definitions ------------------------------------------------------------------
    def _tasks(self) -> None:
        cfg, data = self.cfg, self.data
        self.image = ecs.ContainerImage.from_ecr_repository(data.repository, cfg.image_tag)
        self.task_role = iam.Role(self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        data.media.grant_read_write(self.task_role)
        data.media.grant_delete(self.task_role)
        # Send as the SES domain identity only, through its configuration set (SES checks the
        # permission on both when a mail uses a configuration set).
        stack = Stack.of(self)
        self.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[
                    stack.format_arn(service="ses", resource="identity", resource_name=data.mail_domain),
                    stack.format_arn(service="ses", resource="configuration-set", resource_name=f"tipline-{cfg.name}"),
                ],
            )
        )
        self.app_task = self._task_definition("AppTask", cfg.app_cpu, cfg.app_memory_mib)
        self._container(self.app_task, ["serve"], self.logs_app, port=True)
        self.watcher_task: ecs.FargateTaskDefinition | None = None
        if self.logs_watcher is not None:
            self.watcher_task = self._task_definition("WatcherTask", cfg.watcher_cpu, cfg.watcher_memory_mib)
            self._container(self.watcher_task, ["watcher"], self.logs_watcher)
        self.migrate_task = self._task_definition("MigrateTask", 512, 1024)
        self._container(self.migrate_task, ["migrate"], self.logs_migrate)

    def _task_definition(self, cid: str, cpu: int, memory: int) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self,
            cid,
            cpu=cpu,
            memory_limit_mib=memory,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        # A writable /tmp on task storage; the image's root filesystem stays read-only.
        task.add_volume(name="tmp")
        return task

    def _container(
        self, task: ecs.FargateTaskDefinition, command: list[str], log_group: logs.LogGroup, *, port: bool = False
    ) -> ecs.ContainerDefinition:
        cfg, data = self.cfg, self.data
        db = self._secret("DbSecret", data.db_secret)
        environment = {
            "HOST": "0.0.0.0",  # noqa: S104 - inside the task's own network namespace, reached via the ALB
            "PORT": str(APP_PORT),
            "PUBLIC_URL": self.public_url,
            "ALLOWED_ORIGINS": self.public_url,
            # Every request reaches a task through CloudFront, then the ALB (it forwards only those
            # carrying the origin header), each appending its peer to X-Forwarded-For: the viewer is
            # the entry CloudFront appended, second from the right. Their addresses are not fixed.
            "FORWARDED_TRUSTED_HOPS": "2",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "SHUTDOWN_GRACE_S": "20",
            # A stop takes at most grace + drain + close (+ the lifespan's few seconds): 28 s here,
            # inside the container's stop timeout below.
            "SHUTDOWN_DRAIN_S": "5",
            "SHUTDOWN_CLOSE_S": "3",
            # Email verification stays on (the default): sign-up answers the same whether or not an
            # address has an account, and the links go out through SES with the task role's
            # permission, no SMTP password (docs/deploy-aws.md, "Email").
            "MAIL_BACKEND": "ses",
            "MAIL_FROM": str(cfg.mail_sender),
            "SES_REGION": Aws.REGION,
            "REDIS_HOST": data.redis.attr_configuration_end_point_address,
            "REDIS_PORT": str(REDIS_PORT),
            "REDIS_TLS": "true",
            "REDIS_CLUSTER": "true",
            "DB_READER_HOST": data.database.cluster_read_endpoint.hostname,
            "MEDIA_BACKEND": "s3",
            "S3_BUCKET": data.media.bucket_name,
            "S3_REGION": Aws.REGION,
            "CHAIN_ID": str(cfg.chain_id),
            "OIDC_PROVIDERS": Stack.of(self).to_json_string(
                [
                    {
                        "name": "cognito",
                        # The web client's button reads "Sign in with <display_name>".
                        "display_name": "Cognito",
                        "issuer": self.oidc_issuer,
                        "client_id": self.user_pool_client.user_pool_client_id,
                    }
                ]
            ),
        }
        secrets = {
            # DATABASE_URL and REDIS_URL are assembled from these by docker/entrypoint.sh, with the
            # password URL-encoded, so no URL holding a password is stored anywhere.
            "DB_HOST": ecs.Secret.from_secrets_manager(db, "host"),
            "DB_PORT": ecs.Secret.from_secrets_manager(db, "port"),
            "DB_NAME": ecs.Secret.from_secrets_manager(db, "dbname"),
            "DB_USER": ecs.Secret.from_secrets_manager(db, "username"),
            "DB_PASSWORD": ecs.Secret.from_secrets_manager(db, "password"),
            "REDIS_AUTH_TOKEN": ecs.Secret.from_secrets_manager(self._secret("RedisAuth", data.redis_secret)),
            "JWT_SECRET": ecs.Secret.from_secrets_manager(self._secret("JwtSecret", data.jwt_secret)),
            "METRICS_TOKEN": ecs.Secret.from_secrets_manager(self._secret("MetricsToken", data.metrics_token)),
        }
        if cfg.tipping:
            assert cfg.tip_contract_address is not None
            environment["TIP_CONTRACT_ADDRESS"] = cfg.tip_contract_address
            environment["TIP_TOKENS"] = ",".join(cfg.tip_tokens)
            # Only with tipping on: the secret holds a generated placeholder until the operator sets it,
            # and without a node wallet sign-in simply accepts ordinary (EOA) signatures.
            secrets["CHAIN_RPC_URL"] = ecs.Secret.from_secrets_manager(self._secret("ChainRpcUrl", data.chain_rpc))
        container = task.add_container(
            "tipline",
            image=self.image,
            command=command,
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix=command[0], log_group=log_group),
            readonly_root_filesystem=True,
            stop_timeout=Duration.seconds(40),
            port_mappings=[ecs.PortMapping(container_port=APP_PORT)] if port else None,
        )
        task.obtain_execution_role().add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[data.data_key.key_arn])
        )
        container.add_mount_points(ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False))  # noqa: S108
        return container

    def _secret(self, cid: str, secret: sm.ISecret) -> sm.ISecret:
        """The stateful stack's secret, imported by ARN: granting the original would write this stack's
        roles into the data key's policy and make the stateful stack depend on this one."""
        if cid not in self._imported:
            self._imported[cid] = sm.Secret.from_secret_complete_arn(self, cid, secret.secret_arn)
        return self._imported[cid]

    # --- migrations before the new version takes traffic -------------------------------------
    def _migration(self) -> None:
        code = (LAMBDAS / "migrate.py").read_text()
        common: dict[str, Any] = {
            "runtime": lambda_.Runtime.PYTHON_3_12,
            "code": lambda_.Code.from_inline(code),
            "timeout": Duration.minutes(1),
            "environment": {"LOG_GROUP": self.logs_migrate.log_group_name},
            "log_group": self._log_group("MigrateHookLogs", "migrate-hook"),
        }
        on_event = lambda_.Function(self, "MigrateStart", handler="index.on_event", **common)
        is_complete = lambda_.Function(self, "MigrateWait", handler="index.is_complete", **common)
        for fn in (on_event, is_complete):
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:RunTask", "ecs:DescribeTasks"],
                    resources=[
                        self.migrate_task.task_definition_arn,
                        f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:task/{self.cluster.cluster_name}/*",
                    ],
                )
            )
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.task_role.role_arn, self.migrate_task.obtain_execution_role().role_arn],
                )
            )
        provider = cr.Provider(
            self,
            "MigrateProvider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            query_interval=Duration.seconds(15),
            total_timeout=Duration.minutes(30),
            log_group=self._log_group("MigrateProviderLogs", "migrate-provider"),
        )
        subnets = self.data.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        self.migration = CustomResource(
            self,
            "Migrate",
            service_token=provider.service_token,
            resource_type="Custom::TiplineMigrate",
            properties={
                # A new task definition revision (a new image or new settings) re-runs the migrations.
                "TaskDefinition": self.migrate_task.task_definition_arn,
                "Image": self.cfg.image_tag,
                "Cluster": self.cluster.cluster_name,
                "Subnets": subnets,
                "SecurityGroups": [self.task_sg.security_group_id],
            },
        )

    # --- services and autoscaling -----------------------------------------------------------
    def _services(self) -> None:
        cfg = self.cfg
        app_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.app_service = ecs.FargateService(
            self,
            "App",
            cluster=self.cluster,
            task_definition=self.app_task,
            security_groups=[self.task_sg],
            vpc_subnets=app_subnets,
            assign_public_ip=False,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=Duration.seconds(60),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.app_service.attach_to_application_target_group(self.target_group)
        self.app_service.node.add_dependency(self.migration)
        self.scaling = self.app_service.auto_scale_task_count(
            min_capacity=cfg.app_min_tasks, max_capacity=cfg.app_max_tasks
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=cfg.app_target_cpu_pct,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        self.scaling.scale_on_request_count(
            "Requests",
            requests_per_target=cfg.app_target_requests_per_task,
            target_group=self.target_group,
        )
        # Open WebSockets per task: the ALB's concurrent connections over the running tasks. Target
        # tracking cannot divide two metrics, so this is step scaling on a metric-math alarm.
        self.connections_per_task = cw.MathExpression(
            expression="conns / FILL(tasks, 1)",
            using_metrics={
                "conns": self.alb.metrics.active_connection_count(period=Duration.minutes(1)),
                "tasks": cw.Metric(
                    namespace="ECS/ContainerInsights",
                    metric_name="RunningTaskCount",
                    dimensions_map={
                        "ClusterName": self.cluster.cluster_name,
                        "ServiceName": self.app_service.service_name,
                    },
                    statistic="Average",
                    period=Duration.minutes(1),
                ),
            },
            period=Duration.minutes(1),
            label="WebSocket connections per task",
        )
        target = cfg.app_target_connections_per_task
        self.scaling.scale_on_metric(
            "Connections",
            metric=self.connections_per_task,
            scaling_steps=[
                appscaling.ScalingInterval(upper=target // 2, change=-1),
                appscaling.ScalingInterval(lower=target, upper=target * 3 // 2, change=+1),
                appscaling.ScalingInterval(lower=target * 3 // 2, change=+3),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.minutes(3),
        )

        self.watcher_service: ecs.FargateService | None = None
        if self.watcher_task is None:
            return
        # The chain watcher follows blocks continuously: one task, never two at once during a deploy.
        self.watcher_service = ecs.FargateService(
            self,
            "Watcher",
            cluster=self.cluster,
            task_definition=self.watcher_task,
            security_groups=[self.task_sg],
            vpc_subnets=app_subnets,
            assign_public_ip=False,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )
        self.watcher_service.node.add_dependency(self.migration)

    # --- alarms, dashboard, budget ----------------------------------------------------------
    def _operations(self) -> None:
        cfg, data = self.cfg, self.data
        self.alerts = sns.Topic(self, "Alerts", display_name=f"Tipline {cfg.name} alerts", master_key=self.ops_key)
        self.alerts.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[self.alerts.topic_arn],
            )
        )
        for email in cfg.alert_emails:
            self.alerts.add_subscription(subs.EmailSubscription(email))
        action = cw_actions.SnsAction(self.alerts)

        tg = self.target_group.metrics
        lb = self.alb.metrics
        error_rate = cw.MathExpression(
            expression="100 * (FILL(t5, 0) + FILL(e5, 0)) / FILL(req, 1)",
            using_metrics={
                "t5": tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=Duration.minutes(1)),
                "e5": lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=Duration.minutes(1)),
                "req": tg.request_count(period=Duration.minutes(1)),
            },
            period=Duration.minutes(1),
            label="5xx % of requests",
        )
        p99 = tg.target_response_time(statistic="p99", period=Duration.minutes(1))
        cpu = self.app_service.metric_cpu_utilization(period=Duration.minutes(1))
        db_conns = data.database.metric_database_connections(period=Duration.minutes(1))
        redis_mem = [
            cw.Metric(
                namespace="AWS/ElastiCache",
                metric_name="DatabaseMemoryUsagePercentage",
                dimensions_map={"CacheClusterId": f"{data.redis.ref}-{shard:04d}-001"},
                statistic="Maximum",
                period=Duration.minutes(5),
            )
            for shard in range(1, cfg.redis_shards + 1)
        ]
        # The active watcher logs `watcher_lag_blocks` (chain head minus last processed block) in its JSON
        # lines. App nodes run a standby watcher too and one of them may hold the lock, so both log
        # groups feed the one metric.
        lag: cw.IMetric | None = None
        if self.logs_watcher is not None:
            for cid, group in (("WatcherLagFilter", self.logs_watcher), ("AppWatcherLagFilter", self.logs_app)):
                lag_filter = logs.MetricFilter(
                    self,
                    cid,
                    log_group=group,
                    filter_pattern=logs.FilterPattern.number_value("$.watcher_lag_blocks", ">=", 0),
                    metric_namespace=f"Tipline/{cfg.name}",
                    metric_name=WATCHER_LAG_METRIC,
                    metric_value="$.watcher_lag_blocks",
                )
            lag = lag_filter.metric(statistic="Maximum", period=Duration.minutes(5))

        def alarm(
            cid: str,
            metric: cw.IMetric,
            threshold: float,
            what: str,
            periods: int = 3,
            missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
        ) -> cw.Alarm:
            made = metric.create_alarm(
                self,
                cid,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=missing,
                alarm_description=f"Tipline {cfg.name}: {what}",
            )
            made.add_alarm_action(action)
            made.add_ok_action(action)
            return made

        self.alarms = [
            alarm("Http5xxRate", error_rate, 1.0, "more than 1 % of requests answered 5xx"),
            alarm(
                "P99Latency",
                p99,
                cfg.p99_latency_alarm_s,
                f"p99 target response time above {cfg.p99_latency_alarm_s} s",
            ),
            alarm("AppCpu", cpu, 85, "app tier CPU above 85 % (autoscaling at its maximum?)", periods=5),
            alarm("DbConnections", db_conns, cfg.db_max_connections_alarm, "database connections near the limit"),
            *[
                alarm(f"RedisMemory{i + 1}", m, 80, f"Redis shard {i + 1} memory above 80 %")
                for i, m in enumerate(redis_mem)
            ],
        ]
        # SES's account-wide reputation (a share of the mail sent, 0..1): at a 5 % bounce or 0.1 %
        # complaint rate SES puts the account under review (and may pause sending at 10 % / 0.5 %),
        # so these alarm at 80 % of the review levels. No mail sent, no data: not an alarm.
        self.mail_reputation = [
            cw.Metric(
                namespace="AWS/SES",
                metric_name=name,
                statistic="Maximum",
                period=Duration.hours(1),
                label=label,
            )
            for name, label in (
                ("Reputation.BounceRate", "bounce rate"),
                ("Reputation.ComplaintRate", "complaint rate"),
            )
        ]
        self.alarms += [
            alarm(
                "MailBounceRate",
                self.mail_reputation[0],
                MAIL_BOUNCE_ALARM,
                f"SES bounce rate above {MAIL_BOUNCE_ALARM:.0%} (SES reviews the account at 5 %)",
                periods=1,
            ),
            alarm(
                "MailComplaintRate",
                self.mail_reputation[1],
                MAIL_COMPLAINT_ALARM,
                f"SES complaint rate above {MAIL_COMPLAINT_ALARM:.2%} (SES reviews the account at 0.1 %)",
                periods=1,
            ),
        ]
        if lag is not None:
            # No lag reported at all means the watcher is down: that alarms too.
            self.alarms.append(
                alarm(
                    "WatcherLag",
                    lag,
                    cfg.watcher_lag_alarm_blocks,
                    "chain watcher behind the chain head",
                    missing=cw.TreatMissingData.BREACHING,
                )
            )

        dash = cw.Dashboard(self, "Dashboard", dashboard_name=f"tipline-{cfg.name}")
        dash.add_widgets(
            cw.GraphWidget(title="Requests and 5xx %", left=[tg.request_count()], right=[error_rate], width=12),
            cw.GraphWidget(
                title="Target latency p50 / p99", left=[tg.target_response_time(statistic="p50"), p99], width=12
            ),
        )
        dash.add_widgets(
            cw.GraphWidget(
                title="WebSocket connections",
                left=[lb.active_connection_count()],
                right=[self.connections_per_task],
                width=12,
            ),
            cw.GraphWidget(
                title="App CPU / memory %", left=[cpu, self.app_service.metric_memory_utilization()], width=12
            ),
        )
        dash.add_widgets(
            cw.GraphWidget(title="Database connections", left=[db_conns], width=8),
            cw.GraphWidget(title="Redis memory %", left=redis_mem, width=8),
            *([cw.GraphWidget(title="Watcher lag (blocks)", left=[lag], width=8)] if lag is not None else []),
        )
        dash.add_widgets(cw.GraphWidget(title="SES reputation (0..1)", left=self.mail_reputation, width=12))
        dash.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))

        self._budget()

    def _budget(self) -> None:
        cfg = self.cfg
        notifications = [
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    comparison_operator="GREATER_THAN",
                    notification_type=kind,
                    threshold=pct,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[
                    budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=self.alerts.topic_arn)
                ],
            )
            for kind, pct in (("ACTUAL", 50), ("ACTUAL", 80), ("FORECASTED", 100))
        ]
        if cfg.budget_action != "alert":
            exhausted = sns.Topic(
                self, "BudgetSpent", display_name=f"Tipline {cfg.name} budget spent", master_key=self.ops_key
            )
            exhausted.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["sns:Publish"],
                    principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                    resources=[exhausted.topic_arn],
                )
            )
            # People hear of it too: this notification's one SNS topic is the function's.
            for email in cfg.alert_emails:
                exhausted.add_subscription(subs.EmailSubscription(email))
            services = [self.app_service] + ([self.watcher_service] if self.watcher_service else [])
            scale_down = lambda_.Function(
                self,
                "BudgetScaleDown",
                runtime=lambda_.Runtime.PYTHON_3_12,
                handler="index.handler",
                code=lambda_.Code.from_inline((LAMBDAS / "scale_down.py").read_text()),
                timeout=Duration.seconds(30),
                environment={
                    "ACTION": cfg.budget_action,
                    "CLUSTER": self.cluster.cluster_name,
                    "APP_SERVICE": self.app_service.service_name,
                    "APP_MIN": str(cfg.app_min_tasks),
                    "APP_MAX": str(cfg.app_max_tasks),
                    "WATCHER_SERVICE": self.watcher_service.service_name if self.watcher_service else "",
                },
                log_group=self._log_group("BudgetScaleDownLogs", "budget-scale-down"),
            )
            self.budget_function = scale_down
            CfnOutput(self, "BudgetFunction", value=scale_down.function_name)
            scale_down.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["application-autoscaling:RegisterScalableTarget"],
                    resources=["*"],
                )
            )
            scale_down.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:DescribeServices", "ecs:UpdateService"],
                    resources=[service.service_arn for service in services],
                )
            )
            policy = scale_down.role.node.try_find_child("DefaultPolicy") if scale_down.role else None
            if policy is not None:
                checkov_skip(
                    policy,
                    (
                        "CKV_AWS_111",
                        "RegisterScalableTarget on an existing target takes no resource ARN in IAM; "
                        "the function only ever passes the app service's id",
                    ),
                )
            exhausted.add_subscription(subs.LambdaSubscription(scale_down))
            subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=exhausted.topic_arn)]
        else:
            subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=self.alerts.topic_arn)]
        notifications.append(
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    comparison_operator="GREATER_THAN",
                    notification_type="ACTUAL",
                    threshold=100,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscribers,
            )
        )
        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"tipline-{cfg.name}-monthly",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=cfg.monthly_budget_usd, unit="USD"),
            ),
            notifications_with_subscribers=notifications,
        )


def _retention(days: int) -> logs.RetentionDays:
    known = {
        7: logs.RetentionDays.ONE_WEEK,
        14: logs.RetentionDays.TWO_WEEKS,
        30: logs.RetentionDays.ONE_MONTH,
        90: logs.RetentionDays.THREE_MONTHS,
        180: logs.RetentionDays.SIX_MONTHS,
        365: logs.RetentionDays.ONE_YEAR,
    }
    if days in known:
        return known[days]
    raise ValueError(f"CloudWatch Logs has no retention of {days} days")


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _rate_rule(name: str, priority: int, path: str, limit: int) -> wafv2.CfnWebACL.RuleProperty:
    """Block a client IP that POSTs to `path` more than `limit` times in 5 minutes."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        visibility_config=_visibility(name),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=limit,
                evaluation_window_sec=300,
                aggregate_key_type="IP",
                scope_down_statement=wafv2.CfnWebACL.StatementProperty(
                    byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                        positional_constraint="EXACTLY",
                        search_string=path,
                        text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                    )
                ),
            )
        ),
    )


def _managed_rule(name: str, priority: int, *, count: list[str] | None = None) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        visibility_config=_visibility(name),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=name,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in count or []
                ]
                or None,
            )
        ),
    )
