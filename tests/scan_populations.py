"""One account-region populated for each rule: ``count`` resources the rule judges, on moto.

Shared by the call-count tests (tests/test_scan_calls_rules.py, 1,000 resources) and the
projection benchmark (benchmarks/projection.py), so that the calls the benchmark projects
are the calls the tests bound. Each population makes every resource a candidate that
reaches the rule's deepest look (the worst case for per-resource calls): idle by the
metrics stand-in, old enough by the scan's ``as_of``.

moto's CloudWatch answers GetMetricData by scanning every stored datapoint per query, so
metrics come from ``quiet_metrics``: every query answers 14 days of the same value. The
calls counted are reclaim's, whatever moto's CloudWatch would cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from generator.aws.tags import PLAN_ID_TAG

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@contextmanager
def quiet_metrics(value: float = 0.0, as_of: datetime = NOW) -> Iterator[None]:
    """Every GetMetricData query answers ``value`` on each of the 14 days before ``as_of``."""
    from moto.cloudwatch.models import CloudWatchBackend

    def answer(self: Any, queries: list[dict[str, Any]], *_: Any, **__: Any) -> list[Any]:
        days = [as_of - timedelta(days=d, hours=12) for d in range(14)]
        return [
            {
                "id": q["Id"],
                "label": q["Id"],
                "values": [value] * 14,
                "timestamps": days,
                "status_code": "Complete",
            }
            for q in queries
        ]

    original = CloudWatchBackend.get_metric_data
    CloudWatchBackend.get_metric_data = answer  # type: ignore[method-assign]
    try:
        yield
    finally:
        CloudWatchBackend.get_metric_data = original  # type: ignore[method-assign]


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def launch(count: int, instance_type: str = "t3.micro") -> None:
    ec2 = client("ec2")
    made = 0
    while made < count:
        batch = min(500, count - made)
        ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=batch, MaxCount=batch, InstanceType=instance_type
        )
        made += batch


def _network() -> tuple[str, list[str]]:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    return vpc, subnets


# ---- one function per rule: make ``count`` resources ------------------------------------


def rds_instances(count: int, engine: str = "postgres", version: str | None = None) -> None:
    rds = client("rds")
    for i in range(count):
        rds.create_db_instance(
            DBInstanceIdentifier=f"db-{i}",
            Engine=engine,
            **({"EngineVersion": version} if version else {}),
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="admin",
            MasterUserPassword="password-123",
        )


def aurora_clusters(count: int) -> None:
    rds = client("rds")
    for i in range(count):
        rds.create_db_cluster(
            DBClusterIdentifier=f"aurora-{i}",
            Engine="aurora-postgresql",
            MasterUsername="admin",
            MasterUserPassword="password-123",
        )
        rds.create_db_instance(
            DBInstanceIdentifier=f"aurora-{i}-1",
            DBClusterIdentifier=f"aurora-{i}",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )


def redshift_clusters(count: int) -> None:
    redshift = client("redshift")
    for i in range(count):
        redshift.create_cluster(
            ClusterIdentifier=f"warehouse-{i}",
            NodeType="ra3.xlplus",
            ClusterType="single-node",
            MasterUsername="admin",
            MasterUserPassword="Password123",
        )


def nat_gateways(count: int) -> None:
    _, subnets = _network()
    ec2 = client("ec2")
    for _ in range(count):
        ec2.create_nat_gateway(SubnetId=subnets[0], ConnectivityType="private")


def load_balancers(count: int) -> None:
    vpc, subnets = _network()
    ec2, elb = client("ec2"), client("elbv2")
    group = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    target = elb.create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=vpc)
    group_arn = target["TargetGroups"][0]["TargetGroupArn"]
    for i in range(count):
        arn = elb.create_load_balancer(
            Name=f"lb-{i}", Subnets=subnets, SecurityGroups=[group], Scheme="internal"
        )["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
        )


def provisioned_tables(count: int) -> None:
    dynamodb = client("dynamodb")
    for i in range(count):
        dynamodb.create_table(
            TableName=f"table-{i}",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
        )


def sagemaker_endpoints(count: int) -> None:
    sm = client("sagemaker")
    sm.create_model(
        ModelName="model",
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/m:1"},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "model",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sm.create_endpoint_config(EndpointConfigName="config", ProductionVariants=[variant])
    for i in range(count):
        sm.create_endpoint(EndpointName=f"endpoint-{i}", EndpointConfigName="config")


def secrets(count: int) -> None:
    sm = client("secretsmanager")
    for i in range(count):
        sm.create_secret(Name=f"app/secret-{i}", SecretString="s3cr3t")


def buckets_with_stale_uploads(count: int) -> None:
    s3 = client("s3")
    for i in range(count):
        name = f"bucket-{i:04d}"
        s3.create_bucket(Bucket=name)
        s3.create_multipart_upload(Bucket=name, Key="big/object.bin")


def orphaned_snapshots(count: int) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    for _ in range(count):
        ec2.create_snapshot(VolumeId=volume)
    ec2.delete_volume(VolumeId=volume)


def snapshots(count: int) -> None:
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    for _ in range(count):
        ec2.create_snapshot(VolumeId=volume)


def reclaim_backups(count: int) -> None:
    """Snapshots carrying reclaim's plan tag, each of another plan, none in a journal of
    the default branch: backup-expired lists them all and keeps every one."""
    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    for i in range(count):
        ec2.create_snapshot(
            VolumeId=volume,
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": PLAN_ID_TAG, "Value": f"ebs-unattached-plan-{i}"}],
                }
            ],
        )
    ec2.delete_volume(VolumeId=volume)


def repositories_with_untagged_images(count: int) -> None:
    ecr = client("ecr")
    for i in range(count):
        name = f"team/app-{i}"
        ecr.create_repository(repositoryName=name)
        ecr.put_image(
            repositoryName=name,
            imageManifest='{"schemaVersion": 2, "layers": []}',
            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        )


def distributions(count: int) -> None:
    cloudfront = client("cloudfront")
    for i in range(count):
        cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": f"site-{i}",
                "Comment": f"site-{i}",
                "Enabled": True,
                "PriceClass": "PriceClass_All",
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "web",
                            "DomainName": f"site-{i}-origin.example.com",
                            "CustomOriginConfig": {
                                "HTTPPort": 80,
                                "HTTPSPort": 443,
                                "OriginProtocolPolicy": "https-only",
                            },
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )


def log_groups(count: int) -> None:
    logs = client("logs")
    for i in range(count):
        logs.create_log_group(logGroupName=f"/app/service-{i}")


def volumes(count: int) -> None:
    ec2 = client("ec2")
    for _ in range(count):
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, VolumeType="gp2")


def addresses(count: int) -> None:
    ec2 = client("ec2")
    for _ in range(count):
        ec2.allocate_address(Domain="vpc")


@dataclass(frozen=True)
class Population:
    """How to fill an account-region for one rule, and how to scan it."""

    make: Callable[[int], None]
    settings: dict[str, Any] = field(default_factory=dict)
    metric_value: float = 0.0
    """What every GetMetricData query answers: idle for this rule."""
    days_later: int = 0
    """The scan's as_of this many days after the resources were made (old enough to judge)."""

    def as_of(self) -> datetime:
        return NOW + timedelta(days=self.days_later)


POPULATIONS: dict[str, Population] = {
    "ebs-unattached": Population(volumes, {"use_cloudtrail": False}),
    "ebs-gp2-to-gp3": Population(volumes),
    "ebs-snapshot-archive": Population(snapshots, days_later=400),
    "ec2-idle": Population(launch, metric_value=1.0),
    "eip-unassociated": Population(addresses),
    "cloudfront-price-class": Population(distributions, {"use_cost_explorer": False}),
    "rds-idle": Population(rds_instances),
    "aurora-idle": Population(aurora_clusters),
    "redshift-idle": Population(redshift_clusters),
    "nat-gateway-idle": Population(nat_gateways),
    "sagemaker-endpoint-idle": Population(sagemaker_endpoints, days_later=30),
    "dynamodb-provisioned-underused": Population(provisioned_tables, days_later=30),
    "ec2-previous-generation": Population(lambda n: launch(n, "m4.large")),
    "ecr-no-lifecycle": Population(
        repositories_with_untagged_images, {"min_monthly_usd": 0}, days_later=60
    ),
    "elb-idle": Population(load_balancers, days_later=30),
    "secret-unused": Population(secrets, days_later=400),
    "s3-incomplete-multipart": Population(
        buckets_with_stale_uploads, {"min_monthly_savings_usd": 0}, days_later=30
    ),
    "ebs-snapshot-orphaned": Population(orphaned_snapshots, days_later=400),
    "logs-retention": Population(log_groups, days_later=30),
    "backup-expired": Population(reclaim_backups, days_later=400),
}
