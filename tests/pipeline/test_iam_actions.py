from __future__ import annotations

import pytest

from generator.errors import ConfigError
from generator.iam.actions import iam_action, iam_prefix, is_read_only
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
        action = iam_action(service, operation)
        assert action is None or action.count(":") == 1
