"""A rule's scan makes only the AWS calls it declares: moto checks no IAM policy, so this
guard is what keeps the generated read-only policy and the scan session policy honest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from generator.aws.listings import Listings, ListingStore
from generator.aws.pool import bounded_map
from generator.rules import RULES
from generator.rules.base import RuleCalls
from generator.rules.declared_calls import UndeclaredCall, declared_calls, guard, require
from generator.rules.ebs_unattached import EbsUnattached
from generator.rules.ebs_volume import VOLUMES
from generator.scan import scan
from tests.aws_calls import CallCounter
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


# ---- calls on pool threads, and listings shared between rules ---------------------------


class AsksOnAPool(EbsUnattached):
    """ebs-unattached, asking an undeclared question per volume on a pool of threads."""

    def scan(self, ctx: Any, settings: Any) -> Any:
        ec2 = ctx.client("ec2")
        ids = [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
        bounded_map(
            lambda volume: ec2.describe_volume_attribute(VolumeId=volume, Attribute="autoEnableIO"),
            ids,
            workers=4,
        )
        yield from ()


def test_a_call_made_on_a_pool_thread_is_checked_as_the_rules_own(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(6):
        make_volume(ec2)
    monkeypatch.setitem(RULES, "ebs-unattached", AsksOnAPool())
    report = scan(config_for(tmp_path), as_of=datetime.now(UTC), workers=2)
    (error,) = report.errors
    assert "rule ebs-unattached called ec2:DescribeVolumeAttribute" in error.message


def test_the_pool_outside_a_rule_scope_leaves_calls_alone(ec2: Any) -> None:
    client = guard(boto3.client("ec2", region_name=REGION))
    make_volume(ec2)
    volumes = bounded_map(lambda _: client.describe_volumes()["Volumes"], range(3), workers=3)
    assert [len(v) for v in volumes] == [1, 1, 1]


def test_rule_code_fans_out_only_through_the_scope_carrying_pool() -> None:
    """A plain ThreadPoolExecutor or Thread runs its tasks outside the rule's scope, so the
    guard would not see their calls: rules and their AWS helpers use bounded_map."""
    root = Path(__file__).resolve().parents[1] / "generator"
    allowed = {root / "aws" / "pool.py", root / "aws" / "fleet.py"}
    offenders = [
        path.relative_to(root).as_posix()
        for folder in (root / "rules", root / "aws")
        for path in folder.rglob("*.py")
        if path not in allowed
        and any(
            word in path.read_text()
            for word in ("concurrent.futures", "ThreadPoolExecutor", "threading.Thread")
        )
    ]
    assert offenders == []


class ReadsVolumesUndeclared(EbsUnattached):
    """Declares CloudTrail only, and reads the volumes another rule listed."""

    calls: ClassVar[RuleCalls] = ForgetsDescribeVolumes.calls


def test_a_shared_listing_is_checked_against_every_rule_that_reads_it(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ebs-gp2-to-gp3 (which declares DescribeVolumes) may list the volumes first; the rule
    that does not declare it still fails, although no call of its own reached AWS."""
    make_volume(ec2, VolumeType="gp2")
    monkeypatch.setitem(RULES, "ebs-unattached", ReadsVolumesUndeclared())
    rules = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    rules["ebs-gp2-to-gp3"] = {}
    report = scan(config_for(tmp_path, rules=rules), as_of=datetime.now(UTC), workers=1)
    (error,) = report.errors
    assert error.rule == "ebs-unattached"
    assert "called ec2:DescribeVolumes" in error.message
    assert {u.rule for u in report.completed} == {"ebs-gp2-to-gp3"}


def test_listings_serve_one_answer_per_operation_and_parameters(ec2: Any) -> None:
    make_volume(ec2)
    counter = CallCounter()
    client = counter.attach(boto3.client("ec2", region_name=REGION))
    store = ListingStore({VOLUMES.key: {"ebs-unattached", "ebs-gp2-to-gp3"}})

    def reader(rule: str) -> Listings:
        return Listings(lambda service: client, store, reader=rule)

    first = reader("ebs-unattached").read(VOLUMES)
    again = reader("ebs-gp2-to-gp3").pages(
        "ec2", "describe_volumes", PaginationConfig={"PageSize": 500}
    )
    other = reader("ebs-gp2-to-gp3").pages("ec2", "describe_volumes")
    assert [len(page["Volumes"]) for page in first] == [1]
    assert [len(page["Volumes"]) for page in again] == [1]
    assert [len(page["Volumes"]) for page in other] == [1]
    assert counter["DescribeVolumes"] == 2 and store.fetched == 2


def test_a_listing_already_fetched_is_still_refused_to_a_rule_that_does_not_declare_it(
    ec2: Any,
) -> None:
    make_volume(ec2)
    client = boto3.client("ec2", region_name=REGION)
    listings = Listings(lambda service: client)
    with declared_calls("ebs-gp2-to-gp3", frozenset({("ec2", "DescribeVolumes")})):
        assert len(list(listings.checked_by(require).pages("ec2", "describe_volumes"))) == 1
    assert listings.store.fetched == 1
    with (
        declared_calls("ebs-unattached", frozenset({("cloudtrail", "LookupEvents")})),
        pytest.raises(UndeclaredCall, match="ebs-unattached called ec2:DescribeVolumes"),
    ):
        listings.checked_by(require).pages("ec2", "describe_volumes")
