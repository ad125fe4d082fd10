"""ebs-snapshot-orphaned: detect on moto, apply (tag, delete into the Recycle Bin), roll back
(restore from the bin, untag), and compare the snapshot with the original.

moto has no Recycle Bin: tests/recycle_bin.py answers rbin and EC2's Recycle Bin calls
through botocore's Stubber (checked against the service models) and keeps moto's own
snapshot object while it is "in the bin".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.errors import ManifestError, PrecheckFailed
from generator.planner import executable
from generator.rules import RULES
from generator.rules.ebs_snapshot_orphaned import RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE
from generator.savings import net_savings
from tests.moto_snapshot_tiers import snapshot_tiers  # noqa: F401 (fixture: the AMI filter)
from tests.recycle_bin import BinRule, RecycleBin
from tests.rule_harness import context, detect, executor, journal, moto_client, planned

RULE = "ebs-snapshot-orphaned"
LATER = datetime.now(UTC) + timedelta(days=120)
"""moto stamps snapshots with the real clock; scanning 120 days later makes them old."""
pytestmark = pytest.mark.usefixtures("snapshot_tiers")
BIN_RULE = BinRule("rule-abc123", (RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE), days=14)


def _orphan(tags: dict[str, str] | None = None, *, keep_volume: bool = False, **extra: Any) -> str:
    ec2 = moto_client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
    params: dict[str, Any] = {"VolumeId": volume, "Description": "nightly", **extra}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    sid = str(ec2.create_snapshot(**params)["SnapshotId"])
    if not keep_volume:
        ec2.delete_volume(VolumeId=volume)
    return sid


def _state(sid: str) -> dict[str, Any]:
    (snapshot,) = moto_client("ec2").describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    snapshot["Tags"] = sorted(snapshot.get("Tags", []), key=lambda t: t["Key"])
    return snapshot  # type: ignore[no-any-return]


def _exists(sid: str) -> bool:
    return any(s["SnapshotId"] == sid for s in moto_client("ec2").describe_snapshots()["Snapshots"])


def _detect(bin: RecycleBin, **settings: Any) -> Any:
    return detect(RULE, context(as_of=LATER, client=bin.client), **settings)


def test_finds_orphans_and_says_why_others_are_left_alone(aws: None) -> None:
    orphan = _orphan({"Name": "old-db"})
    attached = _orphan(keep_volume=True)
    backup = _orphan({"aws:backup:source-resource": "arn:aws:ec2:...:volume/vol-1"})
    dlm = _orphan({"aws:dlm:lifecycle-policy-id": "policy-1"})
    ours = _orphan({"reclaim:plan-id": "ebs-unattached-123456789012-us-east-1-vol-1"})
    skipped = _orphan({"reclaim:skip": "yes"})
    ec2 = moto_client("ec2")
    image_snapshot = _orphan()
    ec2.register_image(
        Name="ami",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": image_snapshot}}],
    )
    result = _detect(RecycleBin(rules=[BIN_RULE]))

    finding = result.finding(orphan)
    mine = {orphan, attached, backup, dlm, ours, skipped}
    (image,) = ec2.describe_images(Owners=["self"])["Images"]
    backing = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]  # moto's own copy
    names = {v: k for k, v in locals().items() if isinstance(v, str) and v.startswith("snap-")}
    assert [names[f.resource_id] for f in result.findings if f.resource_id in mine] == ["orphan"]
    assert finding.reversibility == "full-delayed"
    assert finding.cost.monthly_usd == 1.0  # 20 GiB x $0.05, the only snapshot of its volume
    assert "still exists" in result.skip_reason(attached)
    assert "AWS Backup" in result.skip_reason(backup)
    assert "Data Lifecycle Manager" in result.skip_reason(dlm)
    assert "reclaim's own backup" in result.skip_reason(ours)
    assert "skip tag" in result.skip_reason(skipped)
    assert "backs AMI" in result.skip_reason(backing)
    assert "under min_age_days=90" in detect(
        RULE, context(as_of=datetime.now(UTC), client=RecycleBin(rules=[BIN_RULE]).client)
    ).skip_reason(orphan)


def test_the_saving_starts_when_the_recycle_bin_lets_the_snapshot_go(aws: None) -> None:
    """AWS bills a snapshot in the Recycle Bin at the standard rate: nothing is saved while
    the rollback can still restore it, and the PR must not claim otherwise."""
    sid = _orphan()
    finding = _detect(RecycleBin(rules=[BIN_RULE])).finding(sid)
    net = net_savings(finding)
    assert net is not None
    assert net.backup.monthly_usd == finding.cost.monthly_usd == 1.0
    assert net.net_monthly_usd == 0.0
    assert net.while_kept == f"for the {BIN_RULE.days} days it is kept"


@pytest.mark.parametrize(
    "bin",
    [
        RecycleBin(rules=[]),
        RecycleBin(rules=[BinRule("other", ("team", "x"), days=30)]),
        RecycleBin(rules=[BinRule("short", (RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE), days=1)]),
        RecycleBin(rules=[BIN_RULE], readable=False),
    ],
    ids=["no-rule", "other-tag", "too-short", "unreadable"],
)
def test_without_a_covering_rule_the_finding_is_report_only_and_nothing_is_deleted(
    aws: None, tmp_path: Path, bin: RecycleBin
) -> None:
    sid = _orphan()
    finding = _detect(bin).only()

    assert finding.reversibility == "report-only"
    assert finding.cost.monthly_usd == 1.0  # still priced
    assert executable([finding]) == []  # never proposed
    with pytest.raises(ManifestError, match=r"report(ed)?[- ]only"):
        RULES[RULE].build_plan(finding)
    assert _exists(sid)
    assert "DeleteSnapshot" not in bin.calls


def test_apply_then_rollback_restores_the_same_snapshot(aws: None, tmp_path: Path) -> None:
    sid = _orphan({"Name": "old-db", "team": "data"})
    original = _state(sid)
    bin = RecycleBin(rules=[BIN_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    readme = (folder / "README.md").read_text()
    assert "Deadline" in readme and "14 days" in readme

    executor(bin.client_for).apply(folder)
    assert not _exists(sid) and sid in bin.kept
    verify = next(s for s in journal(folder)["apply"]["steps"] if s["step_id"] == "verify")
    assert verify["outputs"]["RecycleBinExitTime"]  # the deadline, in the journal

    executor(bin.client_for).rollback(folder)
    assert _state(sid) == original  # same ID, every attribute, the tags without reclaim's
    assert journal(folder)["rollback"]["status"] == "completed"


def test_apply_stops_before_deleting_when_the_bin_rule_is_gone(aws: None, tmp_path: Path) -> None:
    sid = _orphan()
    bin = RecycleBin(rules=[BIN_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    bin.rules.clear()

    with pytest.raises((PrecheckFailed, ManifestError)):
        executor(bin.client_for).apply(folder)
    assert _exists(sid)
    assert RECYCLE_BIN_TAG not in {t["Key"] for t in _state(sid)["Tags"]}


def test_apply_refuses_when_the_skip_tag_appeared(aws: None, tmp_path: Path) -> None:
    sid = _orphan()
    bin = RecycleBin(rules=[BIN_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    moto_client("ec2").create_tags(Resources=[sid], Tags=[{"Key": "reclaim:skip", "Value": ""}])
    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor(bin.client_for).apply(folder)
    assert _exists(sid)


def test_rollback_refuses_once_the_snapshot_left_the_bin(aws: None, tmp_path: Path) -> None:
    sid = _orphan()
    bin = RecycleBin(rules=[BIN_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    executor(bin.client_for).apply(folder)
    bin.kept.clear()  # the retention ended

    with pytest.raises(PrecheckFailed, match="Recycle Bin"):
        executor(bin.client_for).rollback(folder)
    assert not _exists(sid)
