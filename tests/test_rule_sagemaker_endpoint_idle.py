from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jmespath
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from generator.errors import PrecheckFailed
from generator.exclusions import Exclusions
from generator.rules import RULES
from generator.rules.sagemaker_endpoint_idle import NotRecreatable, variants_of
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "sagemaker-endpoint-idle"
LATER = datetime.now(UTC) + timedelta(days=15)  # moto stamps endpoints with the real clock
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def endpoint(
    sm: Any,
    name: str,
    *,
    instance_type: str = "ml.m5.large",
    count: int = 2,
    tags: dict[str, str] | None = None,
    serverless: bool = False,
) -> str:
    sm.create_model(
        ModelName=f"{name}-model",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"},
        ExecutionRoleArn=ROLE,
    )
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": f"{name}-model"}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    else:
        variant.update(InstanceType=instance_type, InitialInstanceCount=count)
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant])
    extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config", **extra)
    return name


def invoked(cw: Any, name: str, count: float, when: datetime) -> None:
    cw.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": name},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": when,
                "Value": count,
            }
        ],
    )


def state(sm: Any, name: str) -> dict[str, Any]:
    """Every attribute the finding records, as SageMaker reports it."""
    described = sm.describe_endpoint(EndpointName=name)
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    return {
        "name": described["EndpointName"],
        "arn": described["EndpointArn"],
        "status": described["EndpointStatus"],
        "config": described["EndpointConfigName"],
        "current": sorted(
            (v["VariantName"], v["CurrentInstanceCount"]) for v in described["ProductionVariants"]
        ),
        "variants": sorted(
            (v["VariantName"], v["ModelName"], v["InstanceType"], v["InitialInstanceCount"])
            for v in config["ProductionVariants"]
        ),
        "tags": sorted(
            (t["Key"], t["Value"])
            for t in sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]
        ),
    }


@mock_aws
def test_detect_finds_uninvoked_endpoints_and_says_why_others_are_left_alone() -> None:
    sm, cw = client("sagemaker"), client("cloudwatch")
    idle = endpoint(sm, "forgotten", tags={"team": "ml"})
    busy = endpoint(sm, "busy")
    invoked(cw, busy, 3, LATER - timedelta(days=2))
    invoked(cw, endpoint(sm, "quiet"), 0, LATER - timedelta(days=2))  # zeros are idle too
    no_config = endpoint(sm, "orphan")
    sm.delete_endpoint_config(EndpointConfigName="orphan-config")
    no_model = endpoint(sm, "modelless")
    sm.delete_model(ModelName="modelless-model")
    serverless = endpoint(sm, "serverless", serverless=True)
    scaled = endpoint(sm, "scaled")
    client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/scaled/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    unpriced = endpoint(sm, "exotic", instance_type="ml.r5d.24xlarge", count=1)

    result = scan(RULE, as_of=LATER)

    finding = result.finding(idle)
    assert finding.cost.monthly_usd == pytest.approx(2 * 0.115 * 730, abs=0.01)
    assert "2 x ml.m5.large $0.115/h x 730 h" in finding.cost.basis
    assert finding.reversibility == "full"
    assert RULES[RULE].record(finding).tags == {"team": "ml"}  # type: ignore[attr-defined]
    assert result.finding("quiet")
    assert result.skip_reason(busy) == "not idle: 3 invocations in 14 days"
    assert "configuration orphan-config no longer exists" in result.skip_reason(no_config)
    assert "model modelless-model no longer exists" in result.skip_reason(no_model)
    assert "serverless" in result.skip_reason(serverless)
    assert "Application Auto Scaling" in result.skip_reason(scaled)
    assert result.finding(unpriced).cost.unknown

    recent = scan(RULE)  # the endpoints were created just now: not 14 days of evidence
    assert recent.findings == []
    assert "created or updated within the last 14 days" in recent.skip_reason(idle)


@mock_aws
def test_the_skip_tag_leaves_an_endpoint_alone() -> None:
    sm = client("sagemaker")
    endpoint(sm, "kept", tags={"reclaim:skip": "true"})
    result = scan(RULE, as_of=LATER, exclusions=Exclusions(skip_tag="reclaim:skip"))
    assert result.findings == []
    assert "reclaim:skip" in result.skip_reason("kept")


@mock_aws
def test_apply_deletes_only_the_endpoint_and_rollback_recreates_it_as_it_was(
    tmp_path: Path,
) -> None:
    sm = client("sagemaker")
    name = endpoint(sm, "forgotten", count=3, tags={"team": "ml", "cost-centre": "42"})
    before = state(sm, name)
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)

    executor().apply(folder)

    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []
    # kept for the undo: the configuration and the model
    assert sm.describe_endpoint_config(EndpointConfigName="forgotten-config")
    assert sm.describe_model(ModelName="forgotten-model")

    executor().rollback(folder)

    assert state(sm, name) == before


@mock_aws
def test_apply_refuses_when_the_undo_would_be_impossible(tmp_path: Path) -> None:
    sm = client("sagemaker")
    name = endpoint(sm, "forgotten")
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    sm.delete_model(ModelName="forgotten-model")

    with pytest.raises(PrecheckFailed, match="model"):
        executor().apply(folder)

    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


@mock_aws
def test_apply_refuses_an_endpoint_tagged_to_skip_after_review(tmp_path: Path) -> None:
    sm = client("sagemaker")
    name = endpoint(sm, "forgotten")
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "reclaim:skip", "Value": "yes"}])

    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)

    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


@mock_aws
def test_rollback_refuses_before_any_change_when_the_configuration_is_gone(
    tmp_path: Path,
) -> None:
    sm = client("sagemaker")
    name = endpoint(sm, "forgotten")
    folder = planned(scan(RULE, as_of=LATER).finding(name), tmp_path)
    executor().apply(folder)
    sm.delete_endpoint_config(EndpointConfigName="forgotten-config")

    with pytest.raises(PrecheckFailed, match="configuration") as refused:
        executor().rollback(folder)

    assert "cannot be recreated as it was" in str(refused.value.hint or refused.value)
    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []


def test_an_endpoint_still_deleting_counts_as_deleted_on_a_resumed_apply() -> None:
    """moto deletes at once; SageMaker lists a deleting endpoint as Deleting for minutes. The
    already-done lookup, on a response shaped by the botocore model, must treat it as done
    (and a same-prefix endpoint as someone else's)."""
    sm = client("sagemaker")
    with mock_aws():
        folder_finding = _finding_for("forgotten")
    plan = RULES[RULE].build_plan(folder_finding)
    lookup = plan.step("delete").already_done
    assert lookup is not None and lookup.found_when
    when = datetime(2026, 11, 28, tzinfo=UTC)

    def listed(*endpoints: tuple[str, str]) -> dict[str, Any]:
        response = {
            "Endpoints": [
                {
                    "EndpointName": n,
                    "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{n}",
                    "CreationTime": when,
                    "LastModifiedTime": when,
                    "EndpointStatus": s,
                }
                for n, s in endpoints
            ]
        }
        with Stubber(sm) as stubber:
            stubber.add_response("list_endpoints", response, lookup.call.params)
            answer: dict[str, Any] = sm.list_endpoints(**lookup.call.params)
        return answer

    found = lookup.found_when
    assert jmespath.search(found, listed(("forgotten", "Deleting"))) is True
    assert jmespath.search(found, listed(("forgotten-2", "InService"))) is True
    assert jmespath.search(found, listed(("forgotten", "InService"))) is False


def _finding_for(name: str) -> Any:
    endpoint(client("sagemaker"), name)
    return scan(RULE, as_of=LATER).finding(name)


@pytest.mark.parametrize(
    ("endpoint_response", "config", "reason"),
    [
        (
            {},
            {"ProductionVariants": [], "AsyncInferenceConfig": {"OutputConfig": {}}},
            "asynchronous",
        ),
        (
            {"ProductionVariants": [{"VariantName": "a", "CurrentInstanceCount": 1}]},
            {
                "ProductionVariants": [
                    {"VariantName": "a", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
                ]
            },
            "inference components",
        ),
        (
            {"ProductionVariants": [{"VariantName": "a", "CurrentInstanceCount": 3}]},
            {
                "ProductionVariants": [
                    {
                        "VariantName": "a",
                        "ModelName": "m",
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ]
            },
            r"runs 3 instance\(s\), its configuration 1",
        ),
        (
            {},
            {
                "ProductionVariants": [{"VariantName": "a"}],
                "ShadowProductionVariants": [{"VariantName": "s"}],
            },
            "shadow",
        ),
    ],
)
def test_endpoints_an_undo_could_not_recreate_as_they_were_are_not_judged(
    endpoint_response: dict[str, Any], config: dict[str, Any], reason: str
) -> None:
    with pytest.raises(NotRecreatable, match=reason):
        variants_of(endpoint_response, config)
