from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from generator.aws.prices import bundled_prices
from generator.errors import PrecheckFailed
from generator.exclusions import Exclusions
from generator.rules import RULES
from generator.rules.dynamodb_table import NotJudged, TableCapacity
from tests import captures
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "dynamodb-provisioned-underused"
LATER = datetime.now(UTC) + timedelta(days=15)  # moto stamps tables with the real clock
AAS = "application-autoscaling"


def table(
    ddb: Any,
    name: str,
    *,
    read: int = 100,
    write: int = 50,
    index: tuple[int, int] | None = (20, 10),
    tags: dict[str, str] | None = None,
    **extra: Any,
) -> str:
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if index:
        attributes.append({"AttributeName": "gk", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by-gk",
                "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": index[0],
                    "WriteCapacityUnits": index[1],
                },
            }
        ]
    if tags:
        extra["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=attributes,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        **extra,
    )
    return name


def auto_scaled(name: str, *, policy_type: str = "TargetTrackingScaling") -> None:
    aas = client(AAS)
    for resource, dimension, low, high in (
        (f"table/{name}", "dynamodb:table:ReadCapacityUnits", 100, 400),
        (f"table/{name}", "dynamodb:table:WriteCapacityUnits", 50, 200),
        (f"table/{name}/index/by-gk", "dynamodb:index:ReadCapacityUnits", 20, 80),
    ):
        aas.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource,
            ScalableDimension=dimension,
            MinCapacity=low,
            MaxCapacity=high,
        )
        kind = "Read" if "Read" in dimension else "Write"
        policy: dict[str, Any] = {
            "PolicyName": f"{kind}-utilization",
            "ServiceNamespace": "dynamodb",
            "ResourceId": resource,
            "ScalableDimension": dimension,
            "PolicyType": policy_type,
        }
        if policy_type == "TargetTrackingScaling":
            policy["TargetTrackingScalingPolicyConfiguration"] = {
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": f"DynamoDB{kind}CapacityUtilization"
                },
                "ScaleInCooldown": 60,
                "ScaleOutCooldown": 30,
            }
        else:
            policy["StepScalingPolicyConfiguration"] = {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            }
        aas.put_scaling_policy(**policy)


def consumed(
    cw: Any,
    name: str,
    *,
    table_per_s: tuple[float, float],
    index_per_s: tuple[float, float] | None = None,
) -> None:
    """One busy hour a day for 14 days: (read, write) units per second on average, on the
    table and on its index."""
    parts = [([{"Name": "TableName", "Value": name}], table_per_s)]
    if index_per_s:
        index_dimensions = [
            {"Name": "TableName", "Value": name},
            {"Name": "GlobalSecondaryIndexName", "Value": "by-gk"},
        ]
        parts.append((index_dimensions, index_per_s))
    for day in range(14):
        when = LATER - timedelta(days=day, hours=3)
        cw.put_metric_data(
            Namespace="AWS/DynamoDB",
            MetricData=[
                {
                    "MetricName": f"Consumed{kind}CapacityUnits",
                    "Dimensions": dimensions,
                    "Timestamp": when,
                    "Value": per_s * 3600,
                }
                for dimensions, (read, write) in parts
                for kind, per_s in (("Read", read), ("Write", write))
            ],
        )


def state(name: str) -> dict[str, Any]:
    """Every attribute the finding records, as AWS reports it."""
    ddb, aas = client("dynamodb"), client(AAS)
    described = ddb.describe_table(TableName=name)["Table"]
    ids = [f"table/{name}", f"table/{name}/index/by-gk"]
    return {
        "mode": (described.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "table": (
            described["ProvisionedThroughput"]["ReadCapacityUnits"],
            described["ProvisionedThroughput"]["WriteCapacityUnits"],
        ),
        "indexes": sorted(
            (
                i["IndexName"],
                i["ProvisionedThroughput"]["ReadCapacityUnits"],
                i["ProvisionedThroughput"]["WriteCapacityUnits"],
            )
            for i in described.get("GlobalSecondaryIndexes", [])
        ),
        "targets": sorted(
            (t["ResourceId"], t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"])
            for t in aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=ids)[
                "ScalableTargets"
            ]
        ),
        "policies": sorted(
            (
                p["ResourceId"],
                p["ScalableDimension"],
                p["PolicyName"],
                p["PolicyType"],
                repr(sorted(p["TargetTrackingScalingPolicyConfiguration"].items())),
            )
            for p in aas.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
            if p["ResourceId"] in ids
        ),
        "tags": ddb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"],
    }


@mock_aws
def test_detect_finds_underused_tables_prices_them_honestly_and_says_why_others_are_left_alone() -> (
    None
):
    ddb, cw = client("dynamodb"), client("cloudwatch")
    quiet = table(ddb, "quiet", tags={"team": "data"})
    auto_scaled(quiet)
    # 10 % of the table's 100 RCU / 50 WCU, and of the index's 20 / 10
    consumed(cw, quiet, table_per_s=(10, 5), index_per_s=(2, 1))
    busy = table(ddb, "busy")
    consumed(cw, busy, table_per_s=(10, 15))  # writes at 30 % of 50 WCU
    hot_index = table(ddb, "hot-index")
    consumed(cw, hot_index, table_per_s=(6, 1), index_per_s=(6, 1))  # 30 % of the index's 20
    idle = table(ddb, "idle", index=None)
    ddb.create_table(
        TableName="on-demand",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    stepped = table(ddb, "stepped")
    auto_scaled(stepped, policy_type="StepScaling")
    scheduled = table(ddb, "scheduled")
    client(AAS).register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId="table/scheduled",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=5,
        MaxCapacity=100,
    )
    client(AAS).put_scheduled_action(
        ServiceNamespace="dynamodb",
        ScheduledActionName="nightly",
        ResourceId="table/scheduled",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        Schedule="cron(0 0 * * ? *)",
        ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 10},
    )

    result = scan(RULE, as_of=LATER)

    finding = result.finding(quiet)
    # provisioned: (120 RCU x $0.00013 + 60 WCU x $0.00065) x 730 h = $39.858
    # on-demand: 14 days of (36,000 + 7,200 reads and 18,000 + 3,600 writes a day, table +
    #   index) = 604,800 reads x $0.125/M + 302,400 writes x $0.625/M, x 730 h / 336 h
    provisioned = (120 * 0.00013 + 60 * 0.00065) * 730
    on_demand = (604_800 * 0.125 + 302_400 * 0.625) / 1e6 * 730 / 336
    assert finding.cost.monthly_usd == pytest.approx(provisioned - on_demand, abs=0.01)
    assert "120 RCU" in finding.cost.basis and "604,800 read units" in finding.cost.basis
    record = RULES[RULE].record(finding)
    assert len(record.auto_scaling.targets) == 3  # type: ignore[attr-defined]
    assert len(record.auto_scaling.policies) == 3  # type: ignore[attr-defined]
    assert result.finding(idle).cost.monthly_usd == pytest.approx(
        (100 * 0.00013 + 50 * 0.00065) * 730, abs=0.01
    )
    assert "30.0% of write capacity" in result.skip_reason(busy)
    assert "30.0% of read" in result.skip_reason(hot_index)
    assert "StepScaling" in result.skip_reason(stepped)
    assert "scheduled scaling action" in result.skip_reason(scheduled)
    assert "on-demand" not in {s.resource_id for s in result.skipped}
    assert "on-demand" not in {f.resource_id for f in result.findings}

    recent = scan(RULE)
    assert recent.findings == []
    assert "created within the last 14 days" in recent.skip_reason(quiet)


@mock_aws
def test_a_table_on_demand_would_not_serve_for_less_is_left_alone() -> None:
    ddb, cw = client("dynamodb"), client("cloudwatch")
    name = table(ddb, "steady")
    consumed(cw, name, table_per_s=(10, 5), index_per_s=(2, 1))
    dear = bundled_prices().model_copy(
        update={
            "dynamodb": bundled_prices().dynamodb.model_copy(
                update={"on_demand_write_per_million": 200.0}
            )
        }
    )
    result = scan(RULE, as_of=LATER, prices=dear)
    assert result.findings == []
    assert "on-demand would cost $" in result.skip_reason(name)


@mock_aws
def test_the_skip_tag_leaves_a_table_alone() -> None:
    table(client("dynamodb"), "kept", tags={"reclaim:skip": "1"})
    result = scan(RULE, as_of=LATER, exclusions=Exclusions(skip_tag="reclaim:skip"))
    assert result.findings == []
    assert "reclaim:skip" in result.skip_reason("kept")


@mock_aws
def test_apply_switches_to_on_demand_and_rollback_restores_capacities_and_auto_scaling(
    tmp_path: Path,
) -> None:
    ddb = client("dynamodb")
    name = table(ddb, "quiet", tags={"team": "data"})
    auto_scaled(name)
    before = state(name)
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)

    executor().apply(folder)

    after = state(name)
    assert after["mode"] == "PAY_PER_REQUEST"
    assert after["targets"] == [] and after["policies"] == []
    assert after["tags"] == before["tags"]

    executor().rollback(folder)

    assert state(name) == before


@mock_aws
def test_a_table_without_indexes_or_auto_scaling_round_trips(tmp_path: Path) -> None:
    ddb = client("dynamodb")
    name = table(ddb, "plain", read=40, write=7, index=None)
    before = state(name)
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    executor().apply(folder)
    assert state(name)["mode"] == "PAY_PER_REQUEST"
    executor().rollback(folder)
    assert state(name) == before


@mock_aws
def test_rollback_refuses_a_table_whose_indexes_changed(tmp_path: Path) -> None:
    ddb = client("dynamodb")
    name = table(ddb, "quiet")
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    executor().apply(folder)
    ddb.update_table(
        TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-gk"}}]
    )

    with pytest.raises(PrecheckFailed, match="global secondary indexes"):
        executor().rollback(folder)

    assert state(name)["mode"] == "PAY_PER_REQUEST"  # nothing provisioned from a stale record


@mock_aws
def test_apply_refuses_a_table_tagged_to_skip_after_review(tmp_path: Path) -> None:
    ddb = client("dynamodb")
    name = table(ddb, "quiet")
    auto_scaled(name)
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "reclaim:skip", "Value": "yes"}])
    before = state(name)

    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)

    assert state(name) == before


@contextmanager
def switched_to_on_demand_at(when: datetime) -> Iterator[None]:
    """moto records no LastUpdateToPayPerRequestDateTime (and allows any number of
    switches); AWS reports when the table was last switched to on-demand. Add it to every
    DescribeTable answer, as AWS would."""

    def stamp(parsed: dict[str, Any], **_: Any) -> None:
        summary = parsed.get("Table", {}).setdefault("BillingModeSummary", {})
        summary.setdefault("BillingMode", "PROVISIONED")
        summary["LastUpdateToPayPerRequestDateTime"] = when

    boto3.DEFAULT_SESSION = None
    session = boto3.Session()
    session.events.register("after-call.dynamodb.DescribeTable", stamp)
    original = boto3.client
    boto3.client = session.client  # type: ignore[assignment]
    try:
        yield
    finally:
        boto3.client = original  # type: ignore[assignment]


@mock_aws
def test_a_table_switched_to_on_demand_in_the_window_is_not_judged_nor_applied(
    tmp_path: Path,
) -> None:
    """AWS allows four switches to on-demand per rolling 24 hours; moto any number. A table
    that was on-demand within the lookback window is not proposed, and an apply whose table
    was switched since the review stops before any change."""
    ddb = client("dynamodb")
    name = table(ddb, "flapping")
    auto_scaled(name)
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    before = state(name)

    with switched_to_on_demand_at(LATER - timedelta(hours=2)):
        result = scan(RULE, as_of=LATER)
        assert result.findings == []
        assert "four per rolling 24 hours" in result.skip_reason(name)
        with pytest.raises(
            PrecheckFailed, match=r"leaves flapping alone.*four per rolling 24 hours"
        ):
            executor().apply(folder)

    assert state(name) == before


def test_the_switch_time_is_read_from_describe_tables_botocore_shape() -> None:
    """The field reclaim reads is the one in botocore's DynamoDB model (Stubber validates the
    response against it)."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    when = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    response = {
        "Table": {
            "TableName": "tab",
            "TableArn": f"arn:aws:dynamodb:{REGION}:123456789012:table/tab",
            "TableStatus": "ACTIVE",
            "CreationDateTime": datetime(2025, 1, 1, tzinfo=UTC),
            "BillingModeSummary": {
                "BillingMode": "PROVISIONED",
                "LastUpdateToPayPerRequestDateTime": when,
            },
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        }
    }
    with Stubber(ddb) as stubber:
        stubber.add_response("describe_table", response, {"TableName": ANY})
        parsed = TableCapacity.from_api(ddb.describe_table(TableName="tab")["Table"])
    assert parsed.last_on_demand == when
    assert (parsed.read_capacity_units, parsed.write_capacity_units) == (5, 5)


def test_real_describe_table_captures_parse_through_the_rules_reading() -> None:
    """Cloud Custodian's recorded DescribeTable answers: tables from before billing modes
    (no BillingModeSummary) read as provisioned, on-demand ones (0 capacity units) and
    tables mid-switch (UPDATING) are not judged, with the reason."""
    files = captures.files("dynamodb.DescribeTable")
    assert len(files) >= 20
    provisioned, reasons = [], []
    for path in files:
        answer = captures.load(path)["Table"]
        try:
            provisioned.append(TableCapacity.from_api(answer))
        except NotJudged as error:
            reasons.append(str(error))
    assert provisioned and all(t.read_capacity_units >= 1 for t in provisioned)
    assert any(t.table_name == "cc-testing-table" for t in provisioned)
    assert "billing mode is PAY_PER_REQUEST" in reasons
    assert any("table class STANDARD_INFREQUENT_ACCESS" in r for r in reasons) or any(
        "PAY_PER_REQUEST" in r for r in reasons
    )
    switched = [
        captures.load(path)["Table"]["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"]
        for path in files
        if "LastUpdateToPayPerRequestDateTime"
        in (captures.load(path)["Table"].get("BillingModeSummary") or {})
    ]
    assert switched and all(isinstance(when, datetime) for when in switched)
