"""ebs-unattached with a Recycle Bin rule for volumes: detect on moto, apply (snapshot, tag,
delete into the bin), roll back (RestoreVolumeFromRecycleBin, untag), and compare the
volume with the original: the same volume, ID included.

moto has no Recycle Bin: tests/recycle_bin.py answers rbin and EC2's Recycle Bin calls
through botocore's Stubber (checked against the service models) and keeps moto's own
volume object while it is "in the bin".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.errors import PrecheckFailed
from generator.rules import RULES
from generator.rules.recycle_bin import RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE
from generator.savings import net_savings
from generator.state import state_key
from tests.recycle_bin import BinRule, RecycleBin
from tests.rule_harness import (
    ACCOUNT,
    REGION,
    context,
    detect,
    executor,
    journal,
    moto_client,
    planned,
)

RULE = "ebs-unattached"
NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=30)
VOLUME_RULE = BinRule(
    "rule-vol14", (RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE), days=14, resource_type="EBS_VOLUME"
)
SNAPSHOT_RULE = BinRule("rule-snap30", (RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE), days=30)
RECORDED = (
    "VolumeId",
    "AvailabilityZone",
    "VolumeType",
    "Size",
    "Iops",
    "Throughput",
    "Encrypted",
    "KmsKeyId",
    "MultiAttachEnabled",
    "CreateTime",
    "SnapshotId",
)


def _volume(tags: dict[str, str] | None = None, **spec: Any) -> str:
    spec.setdefault("Size", 100)
    spec.setdefault("VolumeType", "gp2")
    if tags:
        spec["TagSpecifications"] = [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    created = moto_client("ec2").create_volume(AvailabilityZone="us-east-1b", **spec)
    return str(created["VolumeId"])


def _state(vid: str) -> dict[str, Any]:
    (volume,) = moto_client("ec2").describe_volumes(VolumeIds=[vid])["Volumes"]
    volume["Tags"] = sorted(volume.get("Tags", []), key=lambda t: t["Key"])
    return volume  # type: ignore[no-any-return]


def _exists(vid: str) -> bool:
    found = moto_client("ec2").describe_volumes(Filters=[{"Name": "volume-id", "Values": [vid]}])
    return bool(found["Volumes"])


def _backups() -> list[dict[str, Any]]:
    return moto_client("ec2").describe_snapshots(
        Filters=[{"Name": "tag-key", "Values": ["reclaim:plan-id"]}]
    )["Snapshots"]


def _detect(bin: RecycleBin, **settings: Any) -> Any:
    """Detection 30 days after every volume was first seen unattached (moto's CloudTrail
    knows no DetachVolume, so the state file's clocks age them)."""
    ctx = context(as_of=LATER, client=bin.client)
    for volume in moto_client("ec2").describe_volumes()["Volumes"]:
        ctx.state.first_seen(RULE, state_key(ACCOUNT, REGION, volume["VolumeId"]), NOW)
    return detect(RULE, ctx, **settings)


def _steps(folder: Path, kind: str = "plan") -> list[str]:
    manifest = json.loads((folder / f"{kind}.json").read_text())
    return [step["id"] for step in manifest["steps"]]


def test_a_volume_rule_makes_the_plan_delete_into_the_bin_and_says_until_when(
    aws: None, tmp_path: Path
) -> None:
    vid = _volume({"Name": "scratch"})
    bin = RecycleBin(rules=[SNAPSHOT_RULE, VOLUME_RULE])  # only the volume rule counts
    finding = _detect(bin).finding(vid)

    assert finding.resource["recycle_bin"] == {"identifier": "rule-vol14", "retention_days": 14}
    assert finding.reversibility == "full"
    evidence = {e.label: e.value for e in finding.evidence}
    assert "rule-vol14" in evidence["Recycle Bin"] and "14 days" in evidence["Recycle Bin"]
    folder = planned(finding, tmp_path)
    assert _steps(folder) == [
        "precheck",
        "precheck-recycle-bin",
        "backup",
        "dry-run",
        "dry-run-tag",
        "tag",
        "delete",
        "verify-deleted",
        "verify-in-bin",
        "verify-backup",
    ]
    assert _steps(folder, "rollback") == [
        "precheck-deleted",
        "precheck-in-bin",
        "dry-run",
        "restore",
        "untag",
        "verify-restored",
    ]
    readme = (folder / "README.md").read_text()
    assert f"Deadline: the rollback can restore {vid} itself, same volume ID, for 14 days" in (
        readme
    )
    assert "A restore creates a new volume" not in readme
    assert "/rollback restores from it" not in readme  # it restores from the bin
    assert f"Restore {vid} from the Recycle Bin (same volume ID)" in readme


def test_the_saving_waits_for_the_bin_and_then_for_the_snapshot(aws: None) -> None:
    """A volume in the Recycle Bin is billed as the volume: for the bin's 14 days nothing is
    saved and the snapshot costs extra; then only the snapshot, until day 30."""
    vid = _volume(Size=100, VolumeType="gp2")
    finding = _detect(RecycleBin(rules=[VOLUME_RULE])).finding(vid)
    net = net_savings(finding)
    assert net is not None and finding.cost.monthly_usd == 10.0
    assert net.backup.monthly_usd == 15.0  # $10 volume in the bin + at most $5 snapshot
    assert net.net_words == "the backup costs up to $5.00/month more than the resource did"
    assert net.while_kept == "for the 14 days it is kept"
    assert net.then_words == (
        f", then the backup snapshot of {vid}: up to $5.00/month; net at least $5.00/month "
        "until day 30"
    )
    without = net_savings(_detect(RecycleBin(rules=[])).finding(vid))
    assert without is not None and without.then_words == ""


def test_apply_deletes_into_the_bin_and_keeps_the_snapshot(aws: None, tmp_path: Path) -> None:
    vid = _volume({"Name": "scratch"})
    bin = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(bin).only(), tmp_path)

    executor(bin.client_for).apply(folder)

    assert not _exists(vid) and vid in bin.kept_volumes
    held = bin.list_volumes_in_recycle_bin(VolumeIds=[vid])["Volumes"]
    assert [v["VolumeId"] for v in held] == [vid]
    applied = {s["step_id"]: s for s in journal(folder)["apply"]["steps"]}
    assert applied["verify-in-bin"]["outputs"]["VolumeId"] == vid
    assert applied["verify-in-bin"]["outputs"]["RecycleBinExitTime"]  # the deadline
    (backup,) = _backups()
    assert backup["VolumeId"] == vid and backup["State"] == "completed"
    assert backup["SnapshotId"] == applied["backup"]["outputs"]["SnapshotId"]


@pytest.mark.parametrize(
    "spec",
    [
        {"VolumeType": "gp2", "Size": 100},
        {"VolumeType": "io1", "Size": 500, "Iops": 5000},
        {"VolumeType": "gp3", "Size": 1000, "Iops": 6000, "Throughput": 500},
        {"VolumeType": "sc1", "Size": 500, "Encrypted": True},
    ],
    ids=["gp2", "io1", "gp3", "sc1-encrypted"],
)
def test_rollback_fidelity_the_same_volume_comes_back(
    aws: None, tmp_path: Path, spec: dict[str, Any]
) -> None:
    """The rollback fidelity comparison of the Recycle Bin variant: every attribute of the
    restored volume, its ID and creation time included, equals the original's."""
    if spec.pop("Encrypted", False):
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        spec.update(Encrypted=True, KmsKeyId=key)
    vid = _volume({"Name": "data", "team": "x"}, **spec)
    original = _state(vid)
    bin = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    executor(bin.client_for).apply(folder)

    executor(bin.client_for).rollback(folder)

    restored = _state(vid)
    for attribute in RECORDED:
        assert restored.get(attribute) == original.get(attribute), attribute
    assert restored["Tags"] == original["Tags"]  # reclaim's Recycle Bin tag removed again
    assert restored["State"] == "available" and not bin.kept_volumes
    assert len(moto_client("ec2").describe_volumes()["Volumes"]) == 1  # no second volume
    assert journal(folder)["rollback"]["status"] == "completed"
    assert bin.calls.count("restore_volume_from_recycle_bin") == 2  # the dry run, the restore


@pytest.mark.parametrize(
    "change",
    ["deleted", "shorter", "for-snapshots"],
)
def test_apply_refuses_and_leaves_the_volume_when_the_rule_changed_after_review(
    aws: None, tmp_path: Path, change: str
) -> None:
    vid = _volume({"Name": "scratch"})
    bin = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    if change == "deleted":
        bin.rules.clear()
    elif change == "shorter":
        bin.rules[0] = BinRule(
            VOLUME_RULE.identifier, VOLUME_RULE.tag, 1, "available", "EBS_VOLUME"
        )
    else:
        bin.rules[0] = BinRule(VOLUME_RULE.identifier, VOLUME_RULE.tag, 14)

    with pytest.raises(PrecheckFailed):
        executor(bin.client_for).apply(folder)

    assert _exists(vid) and not bin.kept_volumes
    assert _state(vid)["Tags"] == [{"Key": "Name", "Value": "scratch"}]  # never tagged
    assert _backups() == []  # stopped before the backup, too
    assert journal(folder)["apply"]["status"] in ("aborted", "failed")


def test_a_snapshot_path_plan_is_refused_once_a_rule_appeared(aws: None, tmp_path: Path) -> None:
    """The reviewed plan said: snapshot, then delete for good. A rule created since would
    make the live observation derive another plan: nothing runs that nobody reviewed."""
    vid = _volume()
    bin = RecycleBin(rules=[])
    folder = planned(_detect(bin).only(), tmp_path)
    assert "precheck-recycle-bin" not in _steps(folder)
    bin.rules.append(VOLUME_RULE)

    with pytest.raises(PrecheckFailed, match="no longer what the rule derives"):
        executor(bin.client_for).apply(folder)
    assert _exists(vid) and _backups() == []


def test_a_forged_rule_in_the_finding_is_refused(aws: None, tmp_path: Path) -> None:
    """A branch author writes a Recycle Bin rule into the recorded finding (and the plan it
    derives) where AWS has none: the apply looks again, finds no rule, and deletes nothing."""
    vid = _volume()
    honest = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(honest).only(), tmp_path)
    nothing = RecycleBin(
        rules=[BinRule("rule-vol14", ("team", "x"), 14, "available", "EBS_VOLUME")]
    )

    with pytest.raises(PrecheckFailed):
        executor(nothing.client_for).apply(folder)
    assert _exists(vid) and not nothing.kept_volumes and _backups() == []


def test_rollback_restores_only_the_volume_the_journal_recorded(aws: None, tmp_path: Path) -> None:
    """A journal edited to name another volume in the bin restores nothing: the pre-check
    wants the plan's volume."""
    vid = _volume()
    other = _volume({RECYCLE_BIN_TAG: RECYCLE_BIN_VALUE})
    bin = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(bin).finding(vid), tmp_path)
    executor(bin.client_for).apply(folder)
    bin.client("ec2").delete_volume(VolumeId=other)  # someone else's, also in the bin
    path = folder / "journal.json"
    data = json.loads(path.read_text())
    step = next(s for s in data["apply"]["steps"] if s["step_id"] == "verify-in-bin")
    step["outputs"]["VolumeId"] = other
    path.write_text(json.dumps(data, indent=2))

    with pytest.raises(PrecheckFailed, match="volume ID"):
        executor(bin.client_for).rollback(folder)
    assert set(bin.kept_volumes) == {vid, other} and not _exists(vid) and not _exists(other)


def test_rollback_refuses_once_the_bin_let_the_volume_go(aws: None, tmp_path: Path) -> None:
    vid = _volume()
    bin = RecycleBin(rules=[VOLUME_RULE])
    folder = planned(_detect(bin).only(), tmp_path)
    executor(bin.client_for).apply(folder)
    bin.kept_volumes.clear()  # the retention ended

    with pytest.raises(PrecheckFailed, match="Recycle Bin") as refused:
        executor(bin.client_for).rollback(folder)
    assert "backup snapshot" in (refused.value.hint or "")
    assert not _exists(vid) and len(_backups()) == 1


@pytest.mark.parametrize(
    "bin",
    [
        RecycleBin(rules=[]),
        RecycleBin(rules=[SNAPSHOT_RULE]),
        RecycleBin(rules=[BinRule("short", VOLUME_RULE.tag, 3, "available", "EBS_VOLUME")]),
        RecycleBin(rules=[VOLUME_RULE], readable=False),
    ],
    ids=["no-rule", "snapshot-rule-only", "too-short", "unreadable"],
)
def test_without_a_covering_rule_the_plan_is_the_snapshot_plan(
    aws: None, tmp_path: Path, bin: RecycleBin
) -> None:
    vid = _volume()
    finding = _detect(bin).only()
    assert "recycle_bin" not in finding.resource  # serialized exactly as before the bin
    assert "Recycle Bin" not in {e.label for e in finding.evidence}
    folder = planned(finding, tmp_path)
    assert _steps(folder) == [
        "precheck",
        "backup",
        "dry-run",
        "delete",
        "verify-deleted",
        "verify-backup",
    ]
    executor(bin.client_for).apply(folder)
    assert not _exists(vid) and not bin.kept_volumes
    restored = executor(bin.client_for).rollback(folder).output("restore", "VolumeId")
    assert restored != vid  # today's undo: a new volume from the snapshot


def test_use_recycle_bin_false_never_asks(aws: None) -> None:
    vid = _volume()
    bin = RecycleBin(rules=[VOLUME_RULE])
    finding = _detect(bin, use_recycle_bin=False).finding(vid)
    assert "recycle_bin" not in finding.resource and "list_rules" not in bin.calls


def test_an_already_tagged_volume_is_not_tagged_or_untagged(aws: None, tmp_path: Path) -> None:
    vid = _volume({RECYCLE_BIN_TAG: RECYCLE_BIN_VALUE})
    original = _state(vid)
    bin = RecycleBin(rules=[VOLUME_RULE])
    finding = _detect(bin).only()
    folder = planned(finding, tmp_path)
    assert "tag" not in _steps(folder) and "untag" not in _steps(folder, "rollback")
    executor(bin.client_for).apply(folder)
    executor(bin.client_for).rollback(folder)
    assert _state(vid)["Tags"] == original["Tags"]
    assert RULES[RULE].record(finding).binned is not None  # type: ignore[attr-defined]
