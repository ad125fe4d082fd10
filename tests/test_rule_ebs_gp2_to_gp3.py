from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from generator.errors import ExitCode, PrecheckFailed, RetryLater
from generator.manifest.folder import RemediationFolder
from generator.rules.ebs_gp2_to_gp3 import Gp2ToGp3Settings, gp2_baseline_iops, gp3_target
from generator.rules.ebs_volume import VolumeSpec
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "ebs-gp2-to-gp3"
UNATTACHED_TOO = Gp2ToGp3Settings(include_unattached=True)


@pytest.mark.parametrize(
    ("size", "iops", "throughput"),
    [
        (1, 3000, 128),
        (100, 3000, 128),
        (170, 3000, 128),
        (171, 3000, 250),
        (1000, 3000, 250),
        (2000, 6000, 250),
        (5334, 16000, 250),
        (16384, 16000, 250),
    ],
)
def test_gp3_target_is_at_least_gp2_performance(size: int, iops: int, throughput: int) -> None:
    assert gp3_target(size, 125) == (iops, throughput)
    assert iops >= max(gp2_baseline_iops(size), 3000 if size < 1000 else 0)


def test_min_throughput_setting_raises_small_volumes_only_up_to_250() -> None:
    assert gp3_target(100, 200) == (3000, 200)
    with pytest.raises(ValueError):
        Gp2ToGp3Settings(min_throughput_mibps=300)


def volume(
    ec2: Any, size: int, volume_type: str = "gp2", tags: dict[str, str] | None = None
) -> str:
    params: dict[str, Any] = {
        "AvailabilityZone": f"{REGION}a",
        "Size": size,
        "VolumeType": volume_type,
    }
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return str(ec2.create_volume(**params)["VolumeId"])


def spec(ec2: Any, vid: str) -> VolumeSpec:
    return VolumeSpec.from_api(ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0])


def assert_restored(original: VolumeSpec, restored: VolumeSpec) -> None:
    """Every recorded attribute equal. gp2 derives IOPS and throughput from its size (AWS
    recomputes them; moto keeps the gp3 numbers), so those compare as what can be set."""
    derived = {"iops", "throughput_mibps"}
    assert restored.model_dump(exclude=derived) == original.model_dump(exclude=derived)
    assert restored.explicit_iops == original.explicit_iops
    assert restored.explicit_throughput == original.explicit_throughput


@mock_aws
def test_detect_prices_savings_and_skips_what_it_must() -> None:
    ec2 = client("ec2")
    small = volume(ec2, 100, tags={"Name": "data"})
    large = volume(ec2, 2000)
    volume(ec2, 50, "gp3")
    kept = volume(ec2, 100, tags={"reclaim:skip": "yes"})

    assert "left to ebs-unattached" in scan(RULE).skip_reason(small)
    result = scan(RULE, settings=UNATTACHED_TOO)

    assert {f.resource_id for f in result.findings} == {small, large}
    f_small = result.finding(small)
    assert f_small.reversibility == "full-delayed"
    # 100 GiB: gp2 $10.00; gp3 $8.00 + 3 MiB/s over 125 x $0.04 = $8.12.
    assert f_small.cost.monthly_usd == pytest.approx(1.88)
    assert f_small.resource["target_iops"] == 3000
    assert f_small.resource["target_throughput_mibps"] == 128
    # 2000 GiB: gp2 $200; gp3 $160 + 3000 IOPS x $0.005 + 125 MiB/s x $0.04 = $180.
    assert result.finding(large).cost.monthly_usd == pytest.approx(20.0)
    assert "skip tag" in result.skip_reason(kept)

    strict = scan(
        RULE, settings=Gp2ToGp3Settings(include_unattached=True, min_monthly_savings_usd=5)
    )
    assert [f.resource_id for f in strict.findings] == [large]
    assert "not over min_monthly_savings_usd=5" in strict.skip_reason(small)


@mock_aws
def test_apply_then_rollback_waits_out_the_6_hour_window_and_restores(tmp_path: Path) -> None:
    ec2 = client("ec2")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    vid = volume(ec2, 100, tags={"Name": "data", "team": "a"})
    ec2.attach_volume(VolumeId=vid, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    original = spec(ec2, vid)

    finding = scan(RULE).finding(vid)
    folder = planned(finding, tmp_path)
    readme = (folder / "README.md").read_text()
    assert "full-delayed" in readme and "6 hours" in readme

    applied_at = datetime.now(UTC)
    executor(clock=lambda: applied_at).apply(folder)
    after = spec(ec2, vid)
    assert (after.volume_type, after.iops, after.throughput_mibps) == ("gp3", 3000, 128)
    assert after.attachment_count == 1
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.apply and journal.apply.status == "completed"
    recorded = journal.apply.record("record-configuration")
    assert recorded and recorded.outputs["VolumeType"] == "gp2"

    # Within 6 hours of the modification, the rollback changes nothing and says when.
    soon = applied_at + timedelta(hours=1)
    with pytest.raises(RetryLater) as waiting:
        executor(clock=lambda: soon).rollback(folder)
    assert waiting.value.exit_code == ExitCode.RETRY_LATER
    not_before = waiting.value.not_before
    # moto stamps the modification with the real clock, at about applied_at.
    assert abs(not_before - (applied_at + timedelta(hours=6))) < timedelta(minutes=1)
    assert f"cannot run before {not_before:%Y-%m-%d %H:%M} UTC" in waiting.value.message
    assert "one modification per EBS volume every 6 hours" in waiting.value.message
    assert spec(ec2, vid).volume_type == "gp3"
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.rollback
    assert journal.rollback.status == "waiting"
    assert journal.rollback.not_before == not_before
    saved = json.loads((folder / "journal.json").read_text())
    assert saved["rollback"]["not_before"]

    later = not_before + timedelta(minutes=1)
    result = executor(clock=lambda: later).rollback(folder)
    assert [s.step_id for s in result.steps][-1] == "verify-volume"
    assert_restored(original, spec(ec2, vid))
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.rollback and journal.rollback.status == "completed"
    assert journal.rollback.attempts == 2 and journal.rollback.not_before is None


@mock_aws
def test_apply_waits_when_someone_modified_the_volume_recently(tmp_path: Path) -> None:
    ec2 = client("ec2")
    vid = volume(ec2, 100)
    finding = scan(RULE, settings=UNATTACHED_TOO).finding(vid)
    folder = planned(finding, tmp_path)
    ec2.modify_volume(VolumeId=vid, Size=100, VolumeType="gp2")  # e.g. an operator's change
    with pytest.raises(RetryLater, match="cannot run before"):
        executor().apply(folder)
    assert spec(ec2, vid).volume_type == "gp2"
    later = datetime.now(UTC) + timedelta(hours=6, minutes=1)
    executor(clock=lambda: later).apply(folder)
    assert spec(ec2, vid).volume_type == "gp3"


@mock_aws
def test_rollback_refuses_a_volume_someone_changed_after_the_apply(tmp_path: Path) -> None:
    ec2 = client("ec2")
    vid = volume(ec2, 400)
    folder = planned(scan(RULE, settings=UNATTACHED_TOO).finding(vid), tmp_path)
    executor().apply(folder)
    ec2.modify_volume(VolumeId=vid, Iops=5000)
    later = datetime.now(UTC) + timedelta(hours=7)
    with pytest.raises(PrecheckFailed, match="provisioned IOPS: expected 3000, found 5000"):
        executor(clock=lambda: later).rollback(folder)
    assert spec(ec2, vid).volume_type == "gp3"


@mock_aws
def test_apply_refuses_a_volume_that_is_no_longer_gp2(tmp_path: Path) -> None:
    ec2 = client("ec2")
    vid = volume(ec2, 100)
    folder = planned(scan(RULE, settings=UNATTACHED_TOO).finding(vid), tmp_path)
    ec2.modify_volume(VolumeId=vid, VolumeType="io1", Iops=500)
    with pytest.raises(PrecheckFailed, match="volume type: expected 'gp2', found 'io1'"):
        executor().apply(folder)
