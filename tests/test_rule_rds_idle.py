"""rds-idle: detect → plan → apply → rollback on moto, AWS's stop limits enforced where moto
has none (Stubber), and every recorded DescribeDBInstances answer through the parser."""

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
from generator.findings import Finding
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.rds_idle import RdsIdle, RdsIdleSettings
from generator.rules.rds_instance import DbInstanceSpec, IncompleteDbInstance
from tests.captures import placebo_responses
from tests.rule_harness import REGION, client, context, executor, journal, planned, scan

RULE = "rds-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def create(rds: Any, name: str, **extra: Any) -> str:
    params: dict[str, Any] = {
        "DBInstanceIdentifier": name,
        "DBInstanceClass": "db.t3.micro",
        "Engine": "postgres",
        "AllocatedStorage": 20,
        "MasterUsername": "admin",
        "MasterUserPassword": "password123",
        **extra,
    }
    rds.create_db_instance(**params)
    return name


def seed(cw: Any, name: str, *, days: int = 14, connections: float = 0.0) -> None:
    """One DatabaseConnections datapoint a day for the last ``days`` days."""
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": name}],
                "Timestamp": AS_OF - timedelta(days=day, hours=1),
                "Value": connections,
            }
            for day in range(days)
        ],
    )


def describe(rds: Any, name: str) -> DbInstanceSpec:
    return DbInstanceSpec.from_api(
        rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    )


@mock_aws
def test_detect_finds_idle_instances_and_says_why_others_are_left_alone() -> None:
    rds, cw = client("rds"), client("cloudwatch")
    idle = create(rds, "forgotten", Tags=[{"Key": "team", "Value": "data"}])
    seed(cw, idle)
    busy = create(rds, "busy")
    seed(cw, busy)
    seed(cw, busy, days=1, connections=3)
    no_data = create(rds, "no-data")
    partial = create(rds, "partial")
    seed(cw, partial, days=5)
    source = create(rds, "source")
    seed(cw, source)
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="replica", SourceDBInstanceIdentifier=source
    )
    seed(cw, "replica")
    rds.create_db_cluster(
        DBClusterIdentifier="cluster",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    member = create(
        rds,
        "member",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r5.large",
        DBClusterIdentifier="cluster",
        AllocatedStorage=1,
    )
    seed(cw, member)
    skipped = create(rds, "skipped", Tags=[{"Key": "reclaim:skip", "Value": ""}])
    seed(cw, skipped)
    stopped = create(rds, "stopped")
    seed(cw, stopped)
    rds.stop_db_instance(DBInstanceIdentifier=stopped)

    result = scan(RULE, as_of=AS_OF)

    assert [f.resource_id for f in result.findings] == [idle]
    finding = result.finding(idle)
    assert finding.reversibility == "full" and finding.resource_type == "AWS::RDS::DBInstance"
    assert finding.resource["max_daily_connections"] == 0
    assert finding.resource["days_with_data"] == 14
    # postgres db.t3.micro Single-AZ $0.018/h x 730 h: compute only, the storage stays billed.
    assert finding.cost.monthly_usd == pytest.approx(13.14, abs=0.01)
    assert "20 GiB gp2 storage ($2.30/month)" in finding.cost.basis
    assert "stay billed" in finding.cost.basis
    assert "not idle: 3 connections on a day" in result.skip_reason(busy)
    assert result.skip_reason(no_data).startswith("unknown: no CloudWatch DatabaseConnections")
    assert result.skip_reason(partial).startswith("unknown: only 5 of 14 days")
    assert "AWS cannot stop an instance that has read replicas" in result.skip_reason(source)
    assert "AWS cannot stop a read replica" in result.skip_reason("replica")
    assert "member of cluster cluster" in result.skip_reason(member)
    assert "skip tag" in result.skip_reason(skipped)
    assert stopped not in {s.resource_id for s in result.skipped}


@mock_aws
def test_multi_az_and_engines_billed_at_another_engines_rate_are_priced() -> None:
    rds, cw = client("rds"), client("cloudwatch")
    seed(
        cw,
        create(
            rds,
            "maria",
            Engine="mariadb",
            EngineVersion="10.11.6",
            MultiAZ=True,
            DBInstanceClass="db.m5.large",
        ),
    )
    seed(
        cw,
        create(
            rds, "oracle", Engine="oracle-ee", EngineVersion="19.0", DBInstanceClass="db.m5.large"
        ),
    )
    result = scan(RULE, as_of=AS_OF)
    maria = result.finding("maria")
    # mariadb is billed at mysql's rate; Multi-AZ twice Single-AZ: $0.171 x 2 x 730 h.
    assert maria.cost.monthly_usd == pytest.approx(249.66, abs=0.01)
    assert "Multi-AZ (x2)" in maria.cost.basis
    oracle = result.finding("oracle")
    assert oracle.cost.unknown and "no bundled price for oracle-ee" in oracle.cost.basis


@mock_aws
def test_thresholds_are_settings() -> None:
    rds, cw = client("rds"), client("cloudwatch")
    name = create(rds, "quiet")
    seed(cw, name, days=7, connections=2)
    assert not scan(RULE, as_of=AS_OF).findings
    relaxed = RdsIdleSettings(max_daily_connections=2, lookback_days=7, min_days_with_data=7)
    assert [f.resource_id for f in scan(RULE, as_of=AS_OF, settings=relaxed).findings] == [name]


@mock_aws
def test_stop_then_start_restores_the_instance(tmp_path: Path) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    name = create(
        rds,
        "reports",
        DBInstanceClass="db.m5.large",
        AllocatedStorage=100,
        StorageType="gp3",
        BackupRetentionPeriod=7,
        Tags=[{"Key": "Name", "Value": "reports"}, {"Key": "team", "Value": "bi"}],
    )
    seed(cw, name)
    original = describe(rds, name)

    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    readme = (folder / "README.md").read_text()
    assert "after 7 days" in readme and "compute only" in readme
    assert "100 GiB gp3 storage ($11.50/month)" in readme

    executor().apply(folder)
    assert describe(rds, name).status == "stopped"
    assert journal(folder)["apply"]["status"] == "completed"

    result = executor().rollback(folder)
    assert result.output("verify", "Endpoint") == original.endpoint
    restored = describe(rds, name)
    assert restored == original  # every recorded attribute, status "available" included


@mock_aws
def test_rollback_after_aws_started_it_again_only_waits_and_verifies(tmp_path: Path) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    name = create(rds, "weekly")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    executor().apply(folder)
    rds.start_db_instance(DBInstanceIdentifier=name)  # AWS, 7 days later

    result = executor().rollback(folder)

    assert (result.steps[1].step_id, result.steps[1].status) == ("start", "already done")
    assert describe(rds, name).status == "available"


@mock_aws
def test_apply_refuses_an_instance_that_got_a_read_replica_since_the_review(
    tmp_path: Path,
) -> None:
    """AWS refuses to stop the source of a read replica; moto stops it. The pre-check holds
    AWS's rule: nothing is stopped, the replica keeps replicating."""
    rds, cw = client("rds"), client("cloudwatch")
    name = create(rds, "primary")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="late", SourceDBInstanceIdentifier=name
    )
    with pytest.raises(PrecheckFailed, match="no read replicas"):
        executor().apply(folder)
    assert describe(rds, name).status == "available"


@mock_aws
def test_apply_refuses_an_instance_with_the_skip_tag_added_since_the_review(
    tmp_path: Path,
) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    name = create(rds, "tagged-later")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    arn = describe(rds, name).db_instance_arn
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "reclaim:skip", "Value": "yes"}])
    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)
    assert describe(rds, name).status == "available"


def _stubbed_apply(folder: Path, answer: dict[str, Any]) -> None:
    """Run the apply against a client that answers DescribeDBInstances with ``answer`` and
    has no answer for anything else: any StopDBInstance would fail the Stubber."""
    rds = boto3.client("rds", region_name=REGION)
    stubber = Stubber(rds)
    stubber.add_response(
        "describe_db_instances",
        {"DBInstances": [answer]},
        {"DBInstanceIdentifier": answer["DBInstanceIdentifier"]},
    )
    with stubber, pytest.raises(PrecheckFailed) as refused:
        executor(client_for=lambda service, region: rds).apply(folder)
    stubber.assert_no_pending_responses()
    raise refused.value


@mock_aws
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"DBClusterIdentifier": "joined"}, "in no cluster"),
        ({"ReadReplicaSourceDBInstanceIdentifier": "elsewhere"}, "not a read replica"),
        (
            {"ReadReplicaSourceDBClusterIdentifier": "arn:aws:rds:us-east-1:1:cluster:c"},
            "not a read replica",
        ),
        (
            {"ReadReplicaDBClusterIdentifiers": ["arn:aws:rds:us-east-1:1:cluster:c"]},
            "no read replicas",
        ),
        ({"DBInstanceStatus": "backing-up"}, "status"),
        ({"DBInstanceStatus": "storage-full"}, "status"),
    ],
)
def test_pre_checks_hold_what_aws_refuses_to_stop(
    tmp_path: Path, change: dict[str, Any], refusal: str
) -> None:
    """moto stops cluster members and instances in any state it does not model; AWS does
    not. The pre-check refuses before any StopDBInstance is sent (the Stubber has none)."""
    rds, cw = client("rds"), client("cloudwatch")
    name = create(rds, "drifted")
    seed(cw, name)
    folder = planned(scan(RULE, as_of=AS_OF).finding(name), tmp_path)
    answer = copy.deepcopy(rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0])
    answer.update(change)
    with pytest.raises(PrecheckFailed, match=refusal):
        _stubbed_apply(folder, answer)
    assert describe(rds, name).status == "available"


# ---- real DescribeDBInstances answers ------------------------------------------------------


def test_every_describe_db_instances_capture_parses_and_only_stoppable_ones_are_judged() -> None:
    captures = list(placebo_responses("rds.DescribeDBInstances"))
    assert len(captures) >= 60
    ctx = context(as_of=AS_OF)
    judged = refused = incomplete = 0
    kinds: set[str] = set()
    for case, response in captures:
        for item in response.get("DBInstances", []):
            try:
                spec = DbInstanceSpec.from_api(item)
            except IncompleteDbInstance as error:
                assert "gave no" in str(error), case  # the scan skips it with this reason
                incomplete += 1
                continue
            reason = RdsIdle.skip_reason(ctx, spec)
            kinds.add(spec.engine)
            if (
                item.get("DBClusterIdentifier")
                or item.get("ReadReplicaSourceDBInstanceIdentifier")
                or item.get("ReadReplicaDBInstanceIdentifiers")
            ):
                assert reason, (case, spec.db_instance_id)
                refused += 1
            if reason is None:
                assert spec.status == "available", case
                judged += 1
    assert judged >= 40 and refused >= 20 and incomplete <= 6
    assert {"mysql", "postgres", "mariadb", "aurora"} <= kinds


def test_a_capture_with_no_tags_or_endpoint_plans_valid_manifests() -> None:
    """An instance being created has no endpoint, many have no tags: the record and the
    manifests are still derived and pass every static check."""
    rule = RULES[RULE]
    for case, response in placebo_responses("rds.DescribeDBInstances"):
        for item in response.get("DBInstances", []):
            try:
                spec = DbInstanceSpec.from_api(item)
            except IncompleteDbInstance:
                continue
            if RdsIdle.skip_reason(context(as_of=AS_OF), spec) is not None:
                continue
            record = rule.record_model(
                instance=spec,
                max_daily_connections=0,
                days_with_data=14,
                lookback_days=14,
                storage_monthly_usd=None,
                skip_tag="reclaim:skip",
                start_timeout_minutes=40,
            )
            finding = rule.new_finding(
                context(as_of=AS_OF),
                title="t",
                cost=context(as_of=AS_OF).prices.unknown("test"),
                risk="low",
                risk_reasons=(),
                evidence=(),
                record=record,
            )
            validate_pair(rule.build_plan(finding), rule.build_rollback(finding), RULES)
            assert isinstance(finding, Finding), case
