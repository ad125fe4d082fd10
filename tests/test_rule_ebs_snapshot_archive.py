from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.ec2.models import ec2_backends

from generator.errors import PrecheckFailed
from generator.rules.ebs_snapshot import SnapshotSpec
from generator.rules.ebs_snapshot_archive import SnapshotArchiveSettings
from tests.moto_snapshot_tiers import snapshot_tiers  # noqa: F401 (fixture)
from tests.rule_harness import ACCOUNT, REGION, client, executor, planned, scan

RULE = "ebs-snapshot-archive"
LATER = datetime.now(UTC) + timedelta(days=120)  # moto stamps snapshots with the real clock


def volume(ec2: Any, size: int = 100) -> str:
    return str(ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=size)["VolumeId"])


def snapshot(ec2: Any, volume_id: str, tags: dict[str, str] | None = None) -> str:
    params: dict[str, Any] = {"VolumeId": volume_id, "Description": "monthly"}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return str(ec2.create_snapshot(**params)["SnapshotId"])


def spec(ec2: Any, snapshot_id: str) -> SnapshotSpec:
    return SnapshotSpec.from_api(ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])


@pytest.mark.usefixtures("snapshot_tiers")
@mock_aws
def test_detect_archives_only_what_is_provably_cheaper() -> None:
    ec2 = client("ec2")
    lone = snapshot(ec2, volume(ec2, 200), {"Name": "2019 audit"})
    shared_volume = volume(ec2)
    older, newer = snapshot(ec2, shared_volume), snapshot(ec2, shared_volume)
    backup = snapshot(ec2, volume(ec2), {"aws:backup:source-resource": "vol-x"})
    kept = snapshot(ec2, volume(ec2), {"reclaim:skip": "1"})
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name="golden")["ImageId"]
    ami_snapshot = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0][
        "Ebs"
    ]["SnapshotId"]

    result = scan(RULE, as_of=LATER)

    assert [f.resource_id for f in result.findings] == [lone]
    finding = result.finding(lone)
    assert finding.reversibility == "full-delayed"
    # moto reports no FullSnapshotSizeInBytes: the volume size bounds it, marked estimated.
    assert finding.cost.monthly_usd == pytest.approx(200 * (0.05 - 0.0125))
    assert finding.cost.estimated and "upper bound" in finding.cost.basis
    for sibling in (older, newer):
        assert "1 other standard-tier snapshot(s)" in result.skip_reason(sibling)
    assert "skip tag" in result.skip_reason(kept)
    assert "AWS Backup" in result.skip_reason(backup)
    assert f"backs AMI {image}" in result.skip_reason(ami_snapshot)

    young = scan(RULE, as_of=datetime.now(UTC) + timedelta(days=30))
    assert not young.findings
    assert "under min_age_days=90" in young.skip_reason(lone)
    assert (
        scan(RULE, as_of=LATER, settings=SnapshotArchiveSettings(min_age_days=200)).findings == []
    )


@pytest.mark.usefixtures("snapshot_tiers")
@mock_aws
def test_archive_then_restore_brings_back_the_same_snapshot(tmp_path: Path) -> None:
    ec2 = client("ec2")
    sid = snapshot(ec2, volume(ec2, 50), {"Name": "quarterly", "team": "finance"})
    original = spec(ec2, sid)
    finding = scan(RULE, as_of=LATER).finding(sid)
    folder = planned(finding, tmp_path)
    readme = (folder / "README.md").read_text()
    assert "full-delayed" in readme
    assert "at least 90 days" in readme and "72 hours" in readme

    executor().apply(folder)
    assert spec(ec2, sid).storage_tier == "archive"

    executor().rollback(folder)
    restored = spec(ec2, sid)
    assert restored.model_dump() == original.model_dump()  # every recorded attribute
    assert restored.storage_tier == "standard"


@pytest.mark.usefixtures("snapshot_tiers")
@mock_aws
def test_apply_refuses_when_a_new_snapshot_of_the_volume_appeared(tmp_path: Path) -> None:
    ec2 = client("ec2")
    vid = volume(ec2)
    sid = snapshot(ec2, vid)
    folder = planned(scan(RULE, as_of=LATER).finding(sid), tmp_path)
    snapshot(ec2, vid)
    with pytest.raises(PrecheckFailed, match="standard-tier snapshots of the volume"):
        executor().apply(folder)
    assert spec(ec2, sid).storage_tier == "standard"


@pytest.mark.usefixtures("snapshot_tiers")
@mock_aws
def test_apply_refuses_when_an_ami_now_uses_the_snapshot(tmp_path: Path) -> None:
    ec2 = client("ec2")
    sid = snapshot(ec2, volume(ec2))
    folder = planned(scan(RULE, as_of=LATER).finding(sid), tmp_path)
    # Someone registers an AMI from the snapshot. moto's RegisterImage ignores the mappings it
    # is given, so point the new image at the snapshot in moto's own model.
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name="from-snapshot")["ImageId"]
    backend = ec2_backends[ACCOUNT][REGION]
    backend.amis[image].ebs_snapshot = backend.snapshots[sid]
    with pytest.raises(PrecheckFailed, match="AMIs using it: expected 0, found 1"):
        executor().apply(folder)
    assert spec(ec2, sid).storage_tier == "standard"
