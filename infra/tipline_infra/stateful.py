"""The stateful stack: network, data stores, keys, secrets, the image repository and the user pool.

Everything here outlives a deploy of the app tier; the stack has termination protection on and
its data resources are retained or snapshotted when removed.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnMapping, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.tipline_infra.common import checkov_skip
from infra.tipline_infra.config import EnvConfig

APP_PORT = 8000
REDIS_PORT = 6379


class StatefulStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, cfg: EnvConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self.cfg = cfg
        retain = RemovalPolicy.RETAIN if cfg.prod else RemovalPolicy.SNAPSHOT

        # One customer-managed key for data at rest (database, Redis, media, secrets, flow logs).
        self.data_key = kms.Key(
            self,
            "DataKey",
            description=f"Tipline {cfg.name}: data at rest",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.data_key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                resources=["*"],
            )
        )

        # --- network: public subnets for the ALB and NAT, private ones for tasks, isolated ones for data.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            # The stack is environment-agnostic, where CDK would pick only 2 zones: name them by index.
            availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(cfg.max_azs)],
            nat_gateways=cfg.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=logs.RetentionDays.ONE_MONTH if not cfg.prod else logs.RetentionDays.ONE_YEAR,
            encryption_key=self.data_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        # Public subnets must give the ALB and NAT gateways public addresses.
        for subnet in self.vpc.public_subnets:
            checkov_skip(
                subnet,
                ("CKV_AWS_130", "public subnets hold only the load balancer and NAT gateways, which need public IPs"),
            )

        # The data stores' security groups admit nothing yet: the stateless stack adds the rules that let
        # its tasks in, so this stack never refers to anything in that one.
        self.db_sg = ec2.SecurityGroup(
            self, "DbSg", vpc=self.vpc, description="Tipline database", allow_all_outbound=False
        )
        self.redis_sg = ec2.SecurityGroup(
            self, "RedisSg", vpc=self.vpc, description="Tipline Redis", allow_all_outbound=False
        )

        self._database(cfg, retain)
        self._redis(cfg)
        self._media_bucket(cfg)
        self._secrets(cfg)
        self._identity(cfg)
        self._mail(cfg)

        # The image repository: tags are immutable so a deployed tag always means the same image.
        self.repository = ecr.Repository(
            self,
            "Images",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=self.data_key,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=50, description="keep the last 50 images")],
        )

    def _database(self, cfg: EnvConfig, retain: RemovalPolicy) -> None:
        readers = [
            rds.ClusterInstance.serverless_v2(
                f"reader{i + 1}", scale_with_writer=i == 0, enable_performance_insights=True
            )
            for i in range(cfg.db_readers)
        ]
        self.db_params = rds.ParameterGroup(
            self,
            "DbParams",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_13),
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        self.database = rds.DatabaseCluster(
            self,
            "Database",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_13),
            credentials=rds.Credentials.from_generated_secret(
                "tipline", encryption_key=self.data_key, exclude_characters=" %+~`#$&*()|[]{}:;<>?!'/@\"\\"
            ),
            default_database_name="tipline",
            writer=rds.ClusterInstance.serverless_v2("writer", enable_performance_insights=True),
            readers=readers,
            serverless_v2_min_capacity=cfg.db_min_acu,
            serverless_v2_max_capacity=cfg.db_max_acu,
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.db_sg],
            storage_encrypted=True,
            storage_encryption_key=self.data_key,
            backup=rds.BackupProps(retention=Duration.days(cfg.db_backup_days), preferred_window="03:00-04:00"),
            deletion_protection=cfg.prod,
            iam_authentication=True,
            cluster_identifier=f"tipline-{cfg.name}",
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
            parameter_group=self.db_params,
            monitoring_interval=Duration.seconds(60),
            removal_policy=retain,
        )
        # Made here (with retention and the data key) rather than by RDS on first export, which would
        # need CDK's log-retention Lambda to set a retention afterwards.
        db_logs = logs.LogGroup(
            self,
            "DbLogs",
            log_group_name=f"/aws/rds/cluster/tipline-{cfg.name}/postgresql",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=self.data_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.database.node.add_dependency(db_logs)
        assert self.database.secret is not None
        self.db_secret = self.database.secret
        for instance in self.database.node.children:
            if isinstance(instance, Construct) and isinstance(instance.node.default_child, rds.CfnDBInstance):
                checkov_skip(
                    instance,
                    (
                        "CKV_AWS_226",
                        "minor version upgrades are applied by the engine_version pin in code, not behind our back",
                    ),
                )

    def _redis(self, cfg: EnvConfig) -> None:
        # Auth token: 64 characters from the set ElastiCache accepts (no @, ", / or spaces).
        self.redis_secret = sm.Secret(
            self,
            "RedisAuth",
            description=f"Tipline {cfg.name}: Redis AUTH token",
            encryption_key=self.data_key,
            generate_secret_string=sm.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        checkov_skip(
            self.redis_secret,
            ("CKV2_AWS_57", "ElastiCache has no managed rotation for AUTH tokens; rotate with a planned token update"),
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Tipline Redis (isolated data subnets)",
            subnet_ids=[s.subnet_id for s in self.vpc.isolated_subnets],
        )
        slow_log = logs.LogGroup(
            self,
            "RedisSlowLog",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=self.data_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description=f"Tipline {cfg.name} bus, presence, rate limits",
            engine="redis",
            engine_version="7.1",
            cache_node_type=cfg.redis_node_type,
            # Cluster mode: sharded pub/sub (SPUBLISH/SSUBSCRIBE) spreads the bus over the shards.
            cache_parameter_group_name="default.redis7.cluster.on",
            num_node_groups=cfg.redis_shards,
            replicas_per_node_group=cfg.redis_replicas_per_shard,
            automatic_failover_enabled=True,
            multi_az_enabled=cfg.redis_replicas_per_shard > 0,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=self.data_key.key_arn,
            auth_token=self.redis_secret.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.redis_sg.security_group_id],
            port=REDIS_PORT,
            snapshot_retention_limit=7 if cfg.prod else 1,
            auto_minor_version_upgrade=True,
            log_delivery_configurations=[
                elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                    destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
                        cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                            log_group=slow_log.log_group_name
                        )
                    ),
                )
            ],
        )

    def _media_bucket(self, cfg: EnvConfig) -> None:
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # S3 server access logs and ALB access logs can only be written with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        checkov_skip(
            self.access_logs,
            ("CKV_AWS_18", "this is the access-log bucket itself; logging it into itself would loop"),
            ("CKV_AWS_145", "S3 server access logging and ALB access logs support only SSE-S3 destinations"),
        )
        # ALB access logs are written by Elastic Load Balancing's account for the region (us-east-1, where
        # Tipline deploys: see the stateless stack's UsEast1Only rule).
        elb_accounts = CfnMapping(self, "ElbLogAccounts", mapping={"us-east-1": {"account": "127311923021"}})
        self.access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.AccountPrincipal(elb_accounts.find_in_map(self.region, "account"))],
                resources=[self.access_logs.arn_for_objects(f"alb-{cfg.name}/AWSLogs/{self.account}/*")],
            )
        )
        origins = [f"https://{cfg.domain}"] if cfg.domain else ["https://*.cloudfront.net"]
        self.media = s3.Bucket(
            self,
            "Media",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.data_key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="media/",
            cors=[
                # Browsers upload attachments straight to S3 with a presigned POST (or PUT) and read them back.
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tiering",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(30)
                        ),
                        # Instant Retrieval: read in milliseconds like IA, so an old attachment's signed
                        # URL just works; Flexible Retrieval would need a restore Tipline does not do.
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(180),
                        ),
                    ],
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        checkov_skip(
            self.media,
            ("CKV_AWS_144", "one region by design (docs/deploy-aws.md); versioning and backups cover deletion"),
        )

    def _secrets(self, cfg: EnvConfig) -> None:
        def secret(cid: str, description: str, **kwargs: Any) -> sm.Secret:
            made = sm.Secret(self, cid, description=description, encryption_key=self.data_key, **kwargs)
            checkov_skip(
                made,
                ("CKV2_AWS_57", "an application secret without a rotation Lambda; rotation is a documented step"),
            )
            return made

        self.jwt_secret = secret(
            "JwtSecret",
            f"Tipline {cfg.name}: JWT_SECRET (HMAC key of access tokens)",
            generate_secret_string=sm.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        self.metrics_token = secret(
            "MetricsToken",
            f"Tipline {cfg.name}: METRICS_TOKEN (bearer token for /metrics)",
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )
        # The chain RPC URL often embeds a provider API key, so it is a secret; the operator sets it.
        self.chain_rpc = secret(
            "ChainRpcUrl",
            f"Tipline {cfg.name}: CHAIN_RPC_URL (set it: aws secretsmanager put-secret-value)",
            generate_secret_string=sm.SecretStringGenerator(password_length=32, exclude_punctuation=True),
        )
        # CloudFront sends this header to the origin; the ALB forwards only requests that carry it.
        self.origin_verify = secret(
            "OriginVerify",
            f"Tipline {cfg.name}: header value CloudFront sends to the load balancer",
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )

    def _identity(self, cfg: EnvConfig) -> None:
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=False,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=cfg.prod,
            removal_policy=RemovalPolicy.RETAIN if cfg.prod else RemovalPolicy.DESTROY,
        )
        prefix = cfg.cognito_domain_prefix or f"tipline-{cfg.name}-{self.account}"
        self.user_pool_domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )

    def _mail(self, cfg: EnvConfig) -> None:
        """Amazon SES: the MAIL_FROM domain as an identity (Easy DKIM, 2048-bit keys) and the
        configuration set every mail from it uses. Here, not in the stateless stack, because a new
        identity means new DKIM records: the DNS an operator set up must outlive app deploys."""
        if cfg.mail_domain is None:
            raise ValueError(
                "Tipline on AWS verifies email addresses through Amazon SES: give mailFrom "
                "(e.g. -c mailFrom='Tipline <no-reply@example.org>') or domain (docs/deploy-aws.md, \"Email\")"
            )
        self.mail_domain = cfg.mail_domain
        self.mail_config_set = ses.ConfigurationSet(
            self,
            "MailConfig",
            # A fixed name, so the stateless stack names it in the task role's policy without an export.
            configuration_set_name=f"tipline-{cfg.name}",
            reputation_metrics=True,
            sending_enabled=True,
            # Addresses that bounced or complained are not mailed again: they hurt the account's
            # reputation, which the stateless stack's alarms watch.
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            # The links in Tipline's mail sign their holder in: never hand them to a mail server in clear.
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
        )
        self.mail_identity = ses.EmailIdentity(
            self,
            "MailIdentity",
            identity=ses.Identity.domain(cfg.mail_domain),
            dkim_identity=ses.DkimIdentity.easy_dkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
            configuration_set=self.mail_config_set,
        )
        zone = cfg.mail_zone_id
        if zone is not None:
            # Written here rather than with Identity.public_hosted_zone, which verifies the zone's own
            # name: the mail domain may be a subdomain of it (chat.example.org in example.org). SES gives
            # each record's full name, so it goes in as is (a CnameRecord would append the zone again).
            for i, record in enumerate(self.mail_identity.dkim_records, start=1):
                route53.CfnRecordSet(
                    self,
                    f"MailDkim{i}",
                    hosted_zone_id=zone,
                    name=record.name,
                    type="CNAME",
                    resource_records=[record.value],
                    ttl="1800",
                )
        else:
            for i, record in enumerate(self.mail_identity.dkim_records, start=1):
                CfnOutput(
                    self,
                    f"MailDkimRecord{i}",
                    description=f"Add to the DNS of {cfg.mail_domain}: SES verifies the domain once all three exist",
                    value=Fn.join(" ", [record.name, "CNAME", record.value]),
                )
        CfnOutput(self, "MailIdentityDomain", value=cfg.mail_domain)
