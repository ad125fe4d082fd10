"""ebs-unattached detection against moto, with CloudTrail answered by botocore's Stubber."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from generator.aws.prices import bundled_prices
from generator.exclusions import Exclusions
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.rules.ebs_unattached import EbsUnattached, EbsUnattachedSettings, UnattachedVolume
from generator.scan import scan
from generator.state import SeenState
from tests.conftest import ACCOUNT, REGION, config_for, later, make_volume

RULE = EbsUnattached()


def _ids(items: Any) -> set[str]:
    return {item.resource_id for item in items}


def test_first_scan_starts_the_clock_and_a_later_scan_finds_the_volume(ec2, tmp_path: Path):
    volume = make_volume(ec2, tags={"Name": "test-do-not-delete"})
    config = config_for(tmp_path)

    first = scan(config, as_of=datetime.now(UTC))
    assert first.findings == ()
    assert volume in _ids(first.skipped)
    state = json.loads((tmp_path / ".reclaim/state.json").read_text())
    assert f"{ACCOUNT}/{REGION}/{volume}" in state["first_seen"]["ebs-unattached"]

    six_days = scan(config, as_of=later(6))
    assert six_days.findings == ()
    eight_days = scan(config, as_of=later(8))
    (finding,) = eight_days.findings
    assert finding.id == f"ebs-unattached-{ACCOUNT}-{REGION}-{volume}"
    assert finding.cost.monthly_usd == 10.0
    record = UnattachedVolume.model_validate(finding.resource)
    assert record.unattached_source == "first-seen"
    assert any("state file" in e.source for e in finding.evidence)


def test_in_use_skip_tagged_and_excluded_volumes_are_never_findings(ec2, tmp_path: Path):
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    attached = make_volume(ec2)
    ec2.attach_volume(VolumeId=attached, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    tagged = make_volume(ec2, tags={"reclaim:skip": "legal hold"})
    excluded = make_volume(ec2, tags={"Name": "golden"})
    idle = make_volume(ec2)
    config = config_for(
        tmp_path, exclusions={"resource_ids": ["vol-nomatch*", excluded[:-2] + "*"]}
    )

    scan(config, as_of=datetime.now(UTC))
    report = scan(config, as_of=later(30))

    assert _ids(report.findings) == {idle}
    reasons = {s.resource_id: s.reason for s in report.skipped}
    assert "skip tag" in reasons[tagged]
    assert "exclusion pattern" in reasons[excluded]
    assert attached not in reasons  # in-use volumes are not even candidates


def test_multi_attach_volume_is_left_to_a_human(ec2, tmp_path: Path):
    volume = make_volume(ec2, VolumeType="io2", Iops=1000, MultiAttachEnabled=True)
    config = config_for(tmp_path)
    scan(config, as_of=datetime.now(UTC))
    report = scan(config, as_of=later(30))
    assert report.findings == ()
    assert "Multi-Attach" in {s.resource_id: s.reason for s in report.skipped}[volume]


def test_a_volume_that_is_attached_again_restarts_its_clock(ec2, tmp_path: Path):
    volume = make_volume(ec2)
    config = config_for(tmp_path)
    scan(config, as_of=datetime.now(UTC))
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    scan(config, as_of=later(3))  # attached: forgotten
    ec2.detach_volume(VolumeId=volume, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    scan(config, as_of=later(5))  # detached again: clock restarts here
    assert scan(config, as_of=later(11)).findings == ()
    assert _ids(scan(config, as_of=later(13)).findings) == {volume}


def _context(ec2_client: Any, cloudtrail: Any, as_of: datetime, tmp_path: Path) -> ScanContext:
    clients = {
        "ec2": ec2_client,
        "cloudtrail": cloudtrail,
        "rbin": boto3.client("rbin", region_name=REGION),
    }
    return ScanContext(
        account_id=ACCOUNT,
        region=REGION,
        as_of=as_of,
        client=clients.__getitem__,
        prices=bundled_prices(),
        exclusions=Exclusions(),
        state=SeenState(tmp_path / "state.json"),
    )


def _detach_event(volume: str, when: datetime) -> dict[str, Any]:
    return {
        "EventId": f"evt-{volume}-{when:%s}",
        "EventName": "DetachVolume",
        "EventTime": when,
        "Resources": [{"ResourceType": "AWS::EC2::Volume", "ResourceName": volume}],
    }


def test_cloudtrail_detach_time_and_never_attached_volumes(ec2, tmp_path: Path):
    detached_long_ago = make_volume(ec2)
    detached_recently = make_volume(ec2)
    never_attached = make_volume(ec2)
    as_of = later(20)  # every volume was created 20 days before as_of
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    stub = Stubber(cloudtrail)
    expected = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DetachVolume"}],
        "StartTime": as_of - timedelta(days=90),
        "EndTime": as_of,
    }
    stub.add_response(
        "lookup_events",
        {
            "Events": [
                _detach_event(detached_long_ago, as_of - timedelta(days=19)),
                _detach_event(detached_recently, as_of - timedelta(days=15)),
            ],
            "NextToken": "page-2",
        },
        expected,
    )
    stub.add_response(
        "lookup_events",
        # A later detach of the same volume wins (it was attached again in between).
        {"Events": [_detach_event(detached_recently, as_of - timedelta(days=2))]},
        {**expected, "NextToken": "page-2"},
    )
    with stub:
        items = list(
            detect_declared(
                RULE, _context(ec2, cloudtrail, as_of, tmp_path), EbsUnattachedSettings()
            )
        )
        stub.assert_no_pending_responses()

    findings = {f.resource_id: f for f in items if hasattr(f, "cost")}
    assert set(findings) == {detached_long_ago, never_attached}
    sources = {
        v: UnattachedVolume.model_validate(f.resource).unattached_source
        for v, f in findings.items()
    }
    assert sources == {detached_long_ago: "cloudtrail", never_attached: "create-time"}
    skipped = {s.resource_id: s.reason for s in items if not hasattr(s, "cost")}
    assert "2 day(s) by cloudtrail" in skipped[detached_recently]


def test_cloudtrail_access_denied_falls_back_to_the_state_file(ec2, tmp_path: Path):
    make_volume(ec2)
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    stub = Stubber(cloudtrail)
    stub.add_client_error(
        "lookup_events", service_error_code="AccessDeniedException", http_status_code=400
    )
    with stub:
        items = list(
            detect_declared(
                RULE, _context(ec2, cloudtrail, later(30), tmp_path), EbsUnattachedSettings()
            )
        )
    (item,) = items
    assert not hasattr(item, "cost"), "first sight in the state file is day 0: not idle yet"
    assert "first-seen" in item.reason


def test_no_cloudtrail_query_when_nothing_is_unattached(ec2, tmp_path: Path):
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    with Stubber(cloudtrail) as stub:  # any call would fail: no responses queued
        assert (
            list(
                detect_declared(
                    RULE, _context(ec2, cloudtrail, later(30), tmp_path), EbsUnattachedSettings()
                )
            )
            == []
        )
        stub.assert_no_pending_responses()


def test_scan_reports_a_failing_region_and_finishes_the_others(ec2, tmp_path: Path, monkeypatch):
    volume = make_volume(ec2)
    config = config_for(tmp_path, regions=[REGION, "eu-west-1"])
    original = RULE.detect

    def failing_in_eu(ctx, settings):
        if ctx.region == "eu-west-1":
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVolumes"
            )
        return original(ctx, settings)

    from generator.rules import RULES

    monkeypatch.setattr(RULES["ebs-unattached"], "detect", failing_in_eu)
    scan(config, as_of=datetime.now(UTC))
    report = scan(config, as_of=later(10))
    assert _ids(report.findings) == {volume}
    (error,) = report.errors
    assert (error.region, error.rule) == ("eu-west-1", "ebs-unattached")
    assert "UnauthorizedOperation" in error.message
