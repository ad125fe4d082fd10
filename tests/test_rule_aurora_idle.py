"""aurora-idle: detect → plan → apply → rollback on moto; what AWS refuses to stop (global
databases, cross-Region replicas) held by the pre-checks where moto has none (Stubber)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from generator.errors import PrecheckFailed
from generator.rules.aurora_idle import AuroraClusterSpec, AuroraIdleSettings
from tests.captures import placebo_responses
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "aurora-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def cluster(rds: Any, name: str, members: int = 2, **extra: Any) -> list[str]:
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine=extra.pop("Engine", "aurora-postgresql"),
        MasterUsername="admin",
        MasterUserPassword="password123",
        **extra,
    )
    engine = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["Engine"]
    ids = [f"{name}-{n}" for n in range(members)]
    for member in ids:
        rds.create_db_instance(
            DBInstanceIdentifier=member,
            DBInstanceClass="db.r6g.large",
            Engine=engine,
            DBClusterIdentifier=name,
        )
    return ids


def seed(cw: Any, member: str, *, days: int = 14, connections: float = 0.0) -> None:
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": member}],
                "Timestamp": AS_OF - timedelta(days=day, hours=1),
                "Value": connections,
            }
            for day in range(days)
        ],
    )


def describe(rds: Any, name: str) -> AuroraClusterSpec:
    classes = {
        i["DBInstanceIdentifier"]: i["DBInstanceClass"]
        for i in rds.describe_db_instances()["DBInstances"]
    }
    item = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return AuroraClusterSpec.from_api(item, classes)


@mock_aws
def test_detect_needs_every_member_idle_and_says_why_others_are_left_alone() -> None:
    rds, cw = client("rds"), client("cloudwatch")
    for member in cluster(rds, "idle", Tags=[{"Key": "team", "Value": "data"}]):
        seed(cw, member)
    writer, reader = cluster(rds, "reader-busy")
    seed(cw, writer)
    seed(cw, reader)
    seed(cw, reader, days=1, connections=4)
    quiet, silent = cluster(rds, "half-data")
    seed(cw, quiet)
    seed(cw, silent, days=4)
    rds.create_db_cluster(
        DBClusterIdentifier="empty",
        Engine="aurora-mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    for member in cluster(rds, "skipped", Tags=[{"Key": "reclaim:skip", "Value": ""}]):
        seed(cw, member)
    for member in cluster(rds, "stopped"):
        seed(cw, member)
    rds.stop_db_cluster(DBClusterIdentifier="stopped")

    result = scan(RULE, as_of=AS_OF)

    assert [f.resource_id for f in result.findings] == ["idle"]
    finding = result.finding("idle")
    assert finding.resource_type == "AWS::RDS::DBCluster" and finding.reversibility == "full"
    # 2 x aurora-postgresql db.r6g.large at $0.26/h x 730 h: compute only.
    assert finding.cost.monthly_usd == pytest.approx(379.6, abs=0.01)
    assert "cluster storage (per GB used) and backup storage stay billed" in finding.cost.basis
    assert "reader-busy-1: not idle: 4 connections" in result.skip_reason("reader-busy")
    assert "half-data-1: unknown: only 4 of 14 days" in result.skip_reason("half-data")
    assert "no DB instances" in result.skip_reason("empty")
    assert "skip tag" in result.skip_reason("skipped")
    assert "stopped" not in {s.resource_id for s in result.skipped}


@mock_aws
def test_thresholds_are_settings() -> None:
    rds, cw = client("rds"), client("cloudwatch")
    (member,) = cluster(rds, "small", members=1)
    seed(cw, member, days=7, connections=1)
    assert not scan(RULE, as_of=AS_OF).findings
    relaxed = AuroraIdleSettings(max_daily_connections=1, lookback_days=7, min_days_with_data=7)
    assert [f.resource_id for f in scan(RULE, as_of=AS_OF, settings=relaxed).findings] == ["small"]


@mock_aws
def test_stop_then_start_restores_the_cluster(tmp_path: Path) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    for member in cluster(rds, "reports", members=3, Tags=[{"Key": "Name", "Value": "bi"}]):
        seed(cw, member)
    original = describe(rds, "reports")

    folder = planned(scan(RULE, as_of=AS_OF).finding("reports"), tmp_path)
    readme = (folder / "README.md").read_text()
    assert "after 7 days" in readme and "compute only" in readme
    executor().apply(folder)
    assert describe(rds, "reports").status == "stopped"

    result = executor().rollback(folder)
    assert result.output("verify", "Endpoint") == original.endpoint
    assert describe(rds, "reports") == original  # every recorded attribute


@mock_aws
def test_apply_refuses_a_cluster_whose_members_changed_since_the_review(tmp_path: Path) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    for member in cluster(rds, "growing"):
        seed(cw, member)
    folder = planned(scan(RULE, as_of=AS_OF).finding("growing"), tmp_path)
    rds.create_db_instance(
        DBInstanceIdentifier="growing-new",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBClusterIdentifier="growing",
    )
    with pytest.raises(PrecheckFailed, match="member instances"):
        executor().apply(folder)
    assert describe(rds, "growing").status == "available"


@mock_aws
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"GlobalClusterIdentifier": "worldwide"}, "in no global database"),
        ({"ReplicationSourceIdentifier": "arn:aws:rds:eu-west-1:1:cluster:src"}, "not a replica"),
        ({"ReadReplicaIdentifiers": ["arn:aws:rds:eu-west-1:1:cluster:r"]}, "cross-Region"),
        ({"EngineMode": "serverless"}, "engine mode"),
        ({"Status": "backing-up"}, "status"),
    ],
)
def test_pre_checks_hold_what_aws_refuses_to_stop(
    tmp_path: Path, change: dict[str, Any], refusal: str
) -> None:
    """moto stops any available cluster; AWS refuses these. The pre-check refuses before any
    StopDBCluster is sent (the Stubber has none to answer)."""
    rds, cw = client("rds"), client("cloudwatch")
    for member in cluster(rds, "drifted"):
        seed(cw, member)
    folder = planned(scan(RULE, as_of=AS_OF).finding("drifted"), tmp_path)
    answer = copy.deepcopy(rds.describe_db_clusters(DBClusterIdentifier="drifted")["DBClusters"][0])
    answer.update(change)
    stubbed = boto3.client("rds", region_name=REGION)
    with Stubber(stubbed) as stubber:
        stubber.add_response(
            "describe_db_clusters", {"DBClusters": [answer]}, {"DBClusterIdentifier": "drifted"}
        )
        with pytest.raises(PrecheckFailed, match=refusal):
            executor(client_for=lambda service, region: stubbed).apply(folder)
        stubber.assert_no_pending_responses()
    assert describe(rds, "drifted").status == "available"


def test_recorded_aurora_members_are_left_to_aurora_idle_by_rds_idle() -> None:
    """The captures hold no DescribeDBClusters; their Aurora DescribeDBInstances items are the
    members this rule judges, and they name their cluster."""
    members = [
        item
        for _, response in placebo_responses("rds.DescribeDBInstances")
        for item in response.get("DBInstances", [])
        if str(item.get("Engine", "")).startswith("aurora")
    ]
    assert len(members) >= 15
    assert all(item.get("DBClusterIdentifier") for item in members)
