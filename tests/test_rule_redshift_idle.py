"""redshift-idle: detect → plan → apply → rollback on moto; AWS's pause and resume states
held by the pre-checks where moto accepts any (Stubber)."""

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
from generator.rules.redshift_idle import RedshiftClusterSpec, RedshiftIdleSettings
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "redshift-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def create(redshift: Any, name: str, nodes: int = 2, **extra: Any) -> str:
    redshift.create_cluster(
        ClusterIdentifier=name,
        NodeType=extra.pop("NodeType", "ra3.xlplus"),
        MasterUsername="admin",
        MasterUserPassword="Password123",
        ClusterType="multi-node" if nodes > 1 else "single-node",
        **({"NumberOfNodes": nodes} if nodes > 1 else {}),
        **extra,
    )
    return name


def seed(cw: Any, name: str, *, days: int = 14, connections: float = 0.0) -> None:
    cw.put_metric_data(
        Namespace="AWS/Redshift",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "ClusterIdentifier", "Value": name}],
                "Timestamp": AS_OF - timedelta(days=day, hours=1),
                "Value": connections,
            }
            for day in range(days)
        ],
    )


def describe(redshift: Any, name: str) -> RedshiftClusterSpec:
    return RedshiftClusterSpec.from_api(
        redshift.describe_clusters(ClusterIdentifier=name)["Clusters"][0]
    )


@mock_aws
def test_detect_finds_idle_clusters_and_says_why_others_are_left_alone() -> None:
    redshift, cw = client("redshift"), client("cloudwatch")
    idle = create(redshift, "warehouse", Tags=[{"Key": "team", "Value": "bi"}])
    seed(cw, idle)
    busy = create(redshift, "busy")
    seed(cw, busy)
    seed(cw, busy, days=1, connections=12)
    partial = create(redshift, "partial")
    seed(cw, partial, days=3)
    old = create(redshift, "old", NodeType="dc1.large")
    seed(cw, old)
    skipped = create(redshift, "skipped", Tags=[{"Key": "reclaim:skip", "Value": ""}])
    seed(cw, skipped)
    paused = create(redshift, "paused")
    seed(cw, paused)
    redshift.pause_cluster(ClusterIdentifier=paused)

    result = scan(RULE, as_of=AS_OF)

    assert [f.resource_id for f in result.findings] == [idle]
    finding = result.finding(idle)
    assert finding.resource_type == "AWS::Redshift::Cluster" and finding.reversibility == "full"
    # 2 x ra3.xlplus at $1.086/node-hour x 730 h; compute only.
    assert finding.cost.monthly_usd == pytest.approx(1585.56, abs=0.01)
    assert "managed storage and snapshot (backup) storage stay billed" in finding.cost.basis
    assert "not idle: 12 connections on a day" in result.skip_reason(busy)
    assert result.skip_reason(partial).startswith("unknown: only 3 of 14 days")
    assert "AWS pauses only RA3, DC2 and DS2" in result.skip_reason(old)
    assert "skip tag" in result.skip_reason(skipped)
    assert paused not in {s.resource_id for s in result.skipped}


@mock_aws
def test_thresholds_are_settings() -> None:
    redshift, cw = client("redshift"), client("cloudwatch")
    name = create(redshift, "nightly", nodes=1, NodeType="dc2.large")
    seed(cw, name, days=7, connections=1)
    assert not scan(RULE, as_of=AS_OF).findings
    relaxed = RedshiftIdleSettings(max_daily_connections=1, lookback_days=7, min_days_with_data=7)
    found = scan(RULE, as_of=AS_OF, settings=relaxed).finding(name)
    assert found.cost.monthly_usd == pytest.approx(0.25 * 730, abs=0.01)


@mock_aws
def test_pause_then_resume_restores_the_cluster(tmp_path: Path) -> None:
    redshift, cw = client("redshift"), client("cloudwatch")
    name = create(redshift, "reports", nodes=3, Tags=[{"Key": "Name", "Value": "reports"}])
    seed(cw, name)
    original = describe(redshift, name)

    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    assert "compute only" in (folder / "README.md").read_text()
    executor().apply(folder)
    assert describe(redshift, name).status == "paused"

    result = executor().rollback(folder)
    assert result.output("verify", "Endpoint") == original.endpoint
    assert describe(redshift, name) == original  # every recorded attribute


@mock_aws
@pytest.mark.parametrize("status", ["modifying", "resizing", "paused", "rebooting"])
def test_apply_pauses_only_an_available_cluster(tmp_path: Path, status: str) -> None:
    """AWS pauses only an available cluster; moto pauses one in any state. The pre-check
    refuses before any PauseCluster is sent (the Stubber has none to answer)."""
    redshift, cw = client("redshift"), client("cloudwatch")
    name = create(redshift, "drifting")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    answer = copy.deepcopy(redshift.describe_clusters(ClusterIdentifier=name)["Clusters"][0])
    answer["ClusterStatus"] = status
    stubbed = boto3.client("redshift", region_name=REGION)
    with Stubber(stubbed) as stubber:
        stubber.add_response(
            "describe_clusters", {"Clusters": [answer]}, {"ClusterIdentifier": name}
        )
        with pytest.raises(PrecheckFailed, match="status"):
            executor(client_for=lambda service, region: stubbed).apply(folder)
        stubber.assert_no_pending_responses()
    assert describe(redshift, name).status == "available"


@mock_aws
@pytest.mark.parametrize("status", ["pausing", "modifying"])
def test_rollback_resumes_only_a_paused_cluster(tmp_path: Path, status: str) -> None:
    """AWS resumes only a paused cluster; moto resumes any. The rollback's pre-check refuses
    first, and says when to try again."""
    redshift, cw = client("redshift"), client("cloudwatch")
    name = create(redshift, "half-paused")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    executor().apply(folder)
    answer = copy.deepcopy(redshift.describe_clusters(ClusterIdentifier=name)["Clusters"][0])
    answer["ClusterStatus"] = status
    stubbed = boto3.client("redshift", region_name=REGION)
    with Stubber(stubbed) as stubber:
        stubber.add_response(
            "describe_clusters", {"Clusters": [answer]}, {"ClusterIdentifier": name}
        )
        with pytest.raises(PrecheckFailed, match="status paused, resuming or available"):
            executor(client_for=lambda service, region: stubbed).rollback(folder)
        stubber.assert_no_pending_responses()
    assert describe(redshift, name).status == "paused"


@mock_aws
def test_apply_refuses_a_cluster_resized_since_the_review(tmp_path: Path) -> None:
    redshift, cw = client("redshift"), client("cloudwatch")
    name = create(redshift, "resized")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    redshift.modify_cluster(ClusterIdentifier=name, NumberOfNodes=4)
    with pytest.raises(PrecheckFailed, match="number of nodes"):
        executor().apply(folder)
    assert describe(redshift, name).status == "available"
