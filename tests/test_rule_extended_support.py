"""extended-support: RDS and EKS versions in paid extended support, priced, report-only.

moto models neither RDS engine lifecycles (DescribeDBMajorEngineVersions, an instance's
EngineLifecycleSupport) nor EKS's upgrade policy and DescribeClusterVersions, so every
client here is a botocore Stubber: each request is checked against the botocore model's
input shape and each canned answer against its output shape. The dates are set relative
to the scan's as-of instant, not AWS's real calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from generator.planner import executable
from generator.rules import RULES
from tests.rule_harness import ACCOUNT, REGION, scan

RULE = "extended-support"
AS_OF = datetime(2026, 12, 2, 12, tzinfo=UTC)


def days(n: int) -> datetime:
    return AS_OF + timedelta(days=n)


def db(identifier: str, engine: str, version: str, instance_class: str, **extra: Any) -> dict:
    return {
        "DBInstanceIdentifier": identifier,
        "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{identifier}",
        "Engine": engine,
        "EngineVersion": version,
        "DBInstanceClass": instance_class,
        "MultiAZ": False,
        "TagList": [],
        **extra,
    }


def lifecycles(standard_end: datetime, extended_end: datetime) -> list[dict]:
    return [
        {
            "LifecycleSupportName": "open-source-rds-standard-support",
            "LifecycleSupportStartDate": standard_end - timedelta(days=5 * 365),
            "LifecycleSupportEndDate": standard_end,
        },
        {
            "LifecycleSupportName": "open-source-rds-extended-support",
            "LifecycleSupportStartDate": standard_end,
            "LifecycleSupportEndDate": extended_end,
        },
    ]


class Stubs:
    def __init__(self) -> None:
        self.clients = {
            name: boto3.client(name, region_name=REGION) for name in ("rds", "eks", "ec2")
        }
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}

    def add(self, service: str, method: str, response: dict, params: dict | None = None) -> None:
        self.stubbers[service].add_response(method, response, params)

    def client(self, service: str) -> Any:
        return self.clients[service]

    def major(self, engine: str, version: str, major: str, windows: list[dict]) -> None:
        self.add(
            "rds",
            "describe_db_engine_versions",
            {
                "DBEngineVersions": [
                    {"Engine": engine, "EngineVersion": version, "MajorEngineVersion": major}
                ]
            },
            {"Engine": engine, "EngineVersion": version, "IncludeAll": True},
        )
        self.add(
            "rds",
            "describe_db_major_engine_versions",
            {
                "DBMajorEngineVersions": [
                    {
                        "Engine": engine,
                        "MajorEngineVersion": major,
                        "SupportedEngineLifecycles": windows,
                    }
                ]
            },
            {"Engine": engine, "MajorEngineVersion": major},
        )

    def vcpus(self, instance_type: str, count: int) -> None:
        self.add(
            "ec2",
            "describe_instance_types",
            {
                "InstanceTypes": [
                    {"InstanceType": instance_type, "VCpuInfo": {"DefaultVCpus": count}}
                ]
            },
            {"Filters": [{"Name": "instance-type", "Values": [instance_type]}]},
        )

    def no_clusters(self) -> None:
        self.add("eks", "list_clusters", {"clusters": []})

    def no_databases(self) -> None:
        self.add("rds", "describe_db_instances", {"DBInstances": []})


def run(stubs: Stubs) -> Any:
    for stubber in stubs.stubbers.values():
        stubber.activate()
    try:
        found = scan(RULE, as_of=AS_OF, client_factory=stubs.client)
    finally:
        for stubber in stubs.stubbers.values():
            stubber.deactivate()
    for stubber in stubs.stubbers.values():
        stubber.assert_no_pending_responses()
    return found


def test_rds_instances_in_extended_support_are_priced_per_vcpu_and_year_band() -> None:
    stubs = Stubs()
    stubs.add(
        "rds",
        "describe_db_instances",
        {
            "DBInstances": [
                db("orders", "postgres", "12.19", "db.m5.xlarge", MultiAZ=True),
                db("legacy", "mysql", "5.7.44", "db.t3.medium"),
                db("fresh", "postgres", "16.3", "db.r6g.large"),
                db("soon", "postgres", "14.10", "db.r6g.large"),
                db("maria", "mariadb", "10.4.30", "db.t3.micro"),
                db("sls", "aurora-postgresql", "11.21", "db.serverless", DBClusterIdentifier="bi"),
                db(
                    "pinned",
                    "postgres",
                    "12.19",
                    "db.m5.xlarge",
                    EngineLifecycleSupport="open-source-rds-extended-support-disabled",
                ),
            ]
        },
    )
    # postgres 12: in extended support for 20 months, years 1-2
    stubs.major("postgres", "12.19", "12", lifecycles(days(-600), days(500)))
    stubs.vcpus("m5.xlarge", 4)
    # mysql 5.7: in its third year of extended support
    stubs.major("mysql", "5.7.44", "5.7", lifecycles(days(-1000), days(90)))
    stubs.vcpus("t3.medium", 2)
    stubs.major("postgres", "16.3", "16", lifecycles(days(800), days(1900)))
    stubs.major("postgres", "14.10", "14", lifecycles(days(60), days(1150)))
    stubs.major("aurora-postgresql", "11.21", "11", lifecycles(days(-1000), days(30)))
    stubs.no_clusters()

    found = run(stubs)

    orders = found.finding(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders")
    assert orders.id == f"extended-support-{ACCOUNT}-{REGION}-rds-db-orders"
    assert orders.reversibility == "report-only" and orders.resource_type == "AWS::RDS::DBInstance"
    assert orders.cost.monthly_usd == pytest.approx(4 * 0.10 * 730 * 2)  # Multi-AZ: the standby too
    assert "years 1-2" in orders.cost.basis and "Multi-AZ standby" in orders.cost.basis
    assert any("the rate doubles on" in reason for reason in orders.risk_reasons)
    legacy = found.finding(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:legacy")
    assert legacy.cost.monthly_usd == pytest.approx(2 * 0.20 * 730)
    assert "year 3" in legacy.cost.basis
    sls = found.finding(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:sls")
    assert sls.cost.unknown and "ACU-hour" in sls.cost.basis
    assert "(cluster bi)" in sls.title
    assert "enters paid RDS Extended Support on" in found.skip_reason("soon")
    assert "disabled" in found.skip_reason("pinned")
    # standard support for years yet, and an engine without extended support: not mentioned
    mentioned = {f.resource_id for f in found.findings} | {s.resource_id for s in found.skipped}
    assert not {"fresh", "maria"} & mentioned
    assert not any("fresh" in r or "maria" in r for r in mentioned)
    assert executable(found.findings) == []


def cluster(name: str, version: str, support_type: str | None = "EXTENDED") -> dict:
    body: dict[str, Any] = {
        "name": name,
        "arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}",
        "version": version,
        "status": "ACTIVE",
        "tags": {"team": "platform"},
    }
    if support_type:
        body["upgradePolicy"] = {"supportType": support_type}
    return {"cluster": body}


def test_eks_clusters_past_standard_support_pay_the_cluster_hour_surcharge() -> None:
    stubs = Stubs()
    stubs.no_databases()
    stubs.add(
        "eks", "list_clusters", {"clusters": ["old", "auto", "default-policy", "soon", "new"]}
    )
    stubs.add(
        "eks",
        "describe_cluster_versions",
        {
            "clusterVersions": [
                {
                    "clusterVersion": "1.29",
                    "endOfStandardSupportDate": days(-200),
                    "endOfExtendedSupportDate": days(165),
                    "versionStatus": "EXTENDED_SUPPORT",
                },
                {
                    "clusterVersion": "1.33",
                    "endOfStandardSupportDate": days(30),
                    "endOfExtendedSupportDate": days(395),
                    "versionStatus": "STANDARD_SUPPORT",
                },
                {
                    "clusterVersion": "1.34",
                    "endOfStandardSupportDate": days(300),
                    "endOfExtendedSupportDate": days(665),
                    "versionStatus": "STANDARD_SUPPORT",
                },
            ]
        },
        {"includeAll": True},
    )
    stubs.add("eks", "describe_cluster", cluster("old", "1.29"), {"name": "old"})
    stubs.add("eks", "describe_cluster", cluster("auto", "1.29", "STANDARD"), {"name": "auto"})
    stubs.add(
        "eks",
        "describe_cluster",
        cluster("default-policy", "1.29", None),
        {"name": "default-policy"},
    )
    stubs.add("eks", "describe_cluster", cluster("soon", "1.33"), {"name": "soon"})
    stubs.add("eks", "describe_cluster", cluster("new", "1.34"), {"name": "new"})

    found = run(stubs)

    old = found.finding(f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/old")
    assert old.id == f"extended-support-{ACCOUNT}-{REGION}-eks-cluster-old"
    assert old.resource_type == "AWS::EKS::Cluster"
    assert old.cost.monthly_usd == pytest.approx(0.50 * 730)
    assert "$0.6/h extended - $0.1/h standard" in old.cost.basis
    # no upgrade policy reported: AWS's default is EXTENDED, so it pays
    assert found.finding(f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/default-policy")
    assert "upgrade policy STANDARD" in found.skip_reason("auto")
    assert "enters paid extended support on" in found.skip_reason("soon")
    assert len(found.findings) == 2


def test_the_skip_tag_on_a_cluster_leaves_it_alone() -> None:
    stubs = Stubs()
    stubs.no_databases()
    stubs.add("eks", "list_clusters", {"clusters": ["kept"]})
    stubs.add(
        "eks",
        "describe_cluster_versions",
        {"clusterVersions": [{"clusterVersion": "1.29", "endOfStandardSupportDate": days(-1)}]},
        {"includeAll": True},
    )
    answer = cluster("kept", "1.29")
    answer["cluster"]["tags"]["reclaim:skip"] = "until Q3"
    stubs.add("eks", "describe_cluster", answer, {"name": "kept"})

    found = run(stubs)

    assert found.findings == []
    arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/kept"
    assert "skip tag" in found.skip_reason(arn)


def test_a_record_is_of_exactly_one_resource() -> None:
    model = RULES[RULE].record_model
    with pytest.raises(ValueError):
        model(arn="x", skip_tag="reclaim:skip")
