from __future__ import annotations

import json

import pytest

from generator.aws.scan_policy import ACCOUNT_CALLS, scan_session_policy
from generator.errors import ConfigError
from generator.iam import actions
from generator.iam.actions import (
    MODEL_FREE_PREFIXES,
    check_operation,
    iam_action,
    iam_prefix,
    is_read_only,
    signing_prefix,
)
from generator.rules import RULES


@pytest.mark.parametrize(
    ("service", "prefix"),
    [
        ("ec2", "ec2"),
        ("elbv2", "elasticloadbalancing"),
        ("elb", "elasticloadbalancing"),
        ("cloudwatch", "cloudwatch"),  # signs as "monitoring"
        ("stepfunctions", "states"),
        ("efs", "elasticfilesystem"),
        ("rds", "rds"),
    ],
)
def test_boto3_service_names_map_to_iam_prefixes(service: str, prefix: str) -> None:
    assert iam_prefix(service) == prefix


def test_operations_map_to_actions_with_the_few_exceptions() -> None:
    assert iam_action("ec2", "DeleteVolume") == "ec2:DeleteVolume"
    assert iam_action("elbv2", "DeleteLoadBalancer") == "elasticloadbalancing:DeleteLoadBalancer"
    assert iam_action("cloudwatch", "GetMetricData") == "cloudwatch:GetMetricData"
    assert iam_action("s3", "ListObjectsV2") == "s3:ListBucket"
    assert iam_action("s3", "HeadObject") == "s3:GetObject"
    assert iam_action("sts", "GetCallerIdentity") is None


def test_unknown_operations_and_services_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="ec2 has no operation 'DeleteVolumes'"):
        iam_action("ec2", "DeleteVolumes")
    with pytest.raises(ConfigError, match="'ec3' is not a boto3 service name"):
        iam_action("ec3", "DescribeVolumes")


@pytest.mark.parametrize(
    ("action", "read_only"),
    [
        ("ec2:DescribeVolumes", True),
        ("cloudtrail:LookupEvents", True),
        ("s3:ListBucket", True),
        ("cloudwatch:GetMetricData", True),
        ("ec2:CreateSnapshot", False),
        ("ec2:DeleteVolume", False),
        ("ec2:CreateTags", False),
    ],
)
def test_read_only_actions_are_told_from_writes(action: str, read_only: bool) -> None:
    assert is_read_only(action) is read_only


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_declared_call_of_every_rule_maps_to_an_iam_action(rule: str) -> None:
    calls = RULES[rule].calls
    for service, operation in calls.scan | calls.apply | calls.rollback:
        check_operation(service, operation)  # also for the services known without a model
        action = iam_action(service, operation)
        assert action is None or action.count(":") == 1


@pytest.mark.parametrize("service", sorted(MODEL_FREE_PREFIXES))
def test_a_prefix_known_without_its_model_is_the_models_own(service: str) -> None:
    assert MODEL_FREE_PREFIXES[service] == signing_prefix(service)


@pytest.mark.parametrize(("service", "operation"), sorted(ACCOUNT_CALLS))
def test_every_account_level_call_is_an_operation_of_its_service(
    service: str, operation: str
) -> None:
    check_operation(service, operation)  # raises ConfigError for an unknown one


def test_an_operation_that_does_not_exist_is_refused_by_the_check() -> None:
    with pytest.raises(ConfigError, match="ce has no operation 'GetCostAndUsages'"):
        check_operation("ce", "GetCostAndUsages")


def test_a_scan_policy_reads_no_model_of_a_service_it_names_only_for_the_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[str] = []
    real = actions._service_model

    def recording(service: str) -> object:
        loaded.append(service)
        return real(service)

    monkeypatch.setattr(actions, "_service_model", recording)
    policy = json.loads(scan_session_policy([frozenset({("ec2", "DescribeVolumes")})]))
    named = set(policy["Statement"][0]["Action"])
    assert {"ce:GetCostAndUsage", "cost-optimization-hub:ListRecommendations"} <= named
    assert "compute-optimizer:GetIdleRecommendations" in named
    assert set(loaded) == {"ec2"}
