"""A rule's scan makes only the AWS calls it declares: moto checks no IAM policy, so this
guard is what keeps the generated read-only policy and the scan session policy honest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from generator.rules import RULES
from generator.rules.base import RuleCalls
from generator.rules.declared_calls import UndeclaredCall, declared_calls, guard
from generator.rules.ebs_unattached import EbsUnattached
from generator.scan import scan
from tests.conftest import REGION, config_for, make_volume
from tests.rule_harness import scan as scan_rule


class ForgetsDescribeVolumes(EbsUnattached):
    """ebs-unattached as it would be with DescribeVolumes left out of its declaration."""

    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("cloudtrail", "LookupEvents")}),
        apply=EbsUnattached.calls.apply,
        rollback=EbsUnattached.calls.rollback,
    )


def test_a_rule_calling_outside_its_declaration_fails_its_unit_with_the_call_named(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_volume(ec2)
    monkeypatch.setitem(RULES, "ebs-unattached", ForgetsDescribeVolumes())
    report = scan(config_for(tmp_path), as_of=datetime.now(UTC), workers=1)
    assert report.findings == () and report.completed == ()
    (error,) = report.errors
    assert (error.rule, error.region) == ("ebs-unattached", REGION)
    assert "rule ebs-unattached called ec2:DescribeVolumes" in error.message
    assert error.hint is not None and "declare the call" in error.hint


def test_paginated_calls_are_checked_too(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ebs-unattached reads volumes through a botocore paginator."""
    make_volume(ec2)
    monkeypatch.setitem(RULES, "ebs-unattached", ForgetsDescribeVolumes())
    with pytest.raises(UndeclaredCall, match="ec2:DescribeVolumes"):
        scan_rule("ebs-unattached")


def test_the_guard_only_acts_inside_a_scan_scope(ec2: Any) -> None:
    client = guard(boto3.client("ec2", region_name=REGION))
    guard(client)  # registering twice is harmless
    with declared_calls("some-rule", frozenset({("ec2", "DescribeVolumes")})):
        client.describe_volumes()
        with pytest.raises(UndeclaredCall, match="some-rule called ec2:DescribeAddresses"):
            client.describe_addresses()
    # The same client outside any rule's scope (an apply shares the account's clients).
    assert client.describe_addresses()["Addresses"] == []


def test_every_rule_stays_inside_its_declaration_on_a_whole_scan(ec2: Any, tmp_path: Path) -> None:
    """All rules on, over resources each of them reads: no unit fails."""
    make_volume(ec2)
    ec2.allocate_address(Domain="vpc")
    rules = {name: {"enabled": True} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    report = scan(config_for(tmp_path, rules=rules), as_of=datetime.now(UTC), workers=1)
    assert report.errors == ()
    assert {unit.rule for unit in report.completed} == set(RULES)


def test_the_undeclared_call_is_named_as_the_iam_policy_names_it(aws: None) -> None:
    """CloudWatch signs as "monitoring" but IAM calls it "cloudwatch"."""
    client = guard(boto3.client("cloudwatch", region_name=REGION))
    scope = declared_calls("ec2-idle", frozenset({("cloudwatch", "GetMetricData")}))
    with scope, pytest.raises(UndeclaredCall, match="ec2-idle called cloudwatch:ListMetrics"):
        client.list_metrics()
