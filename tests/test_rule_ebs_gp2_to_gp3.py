from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from generator.errors import ExitCode, PrecheckFailed, RetryLater
from generator.manifest.folder import RemediationFolder
from generator.rules.ebs_gp2_to_gp3 import (
    RATE_REFUSAL,
    Gp2ToGp3Settings,
    gp2_baseline_iops,
    gp3_target,
)
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


class AwsPacing:
    """What moto leaves out of EBS modifications: it completes each one at once and has no
    rate limit. ``optimizing`` makes every modification read as still optimizing (as a large
    volume's does for hours); ``refuse_until`` makes ModifyVolume fail as AWS does after four
    modifications in 24 hours, naming the time in its message (EC2 has no modelled errors:
    the code and message are AWS's query-protocol error)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.refuse_until: datetime | None = None
        self.refused = 0

    def optimizing(self, on: bool = True) -> None:
        from moto.ec2.models.elastic_block_store import VolumeModification

        state = "optimizing" if on else "completed"
        self.monkeypatch.setattr(
            VolumeModification, "modification_state", property(lambda _: state)
        )

    def client_for(self, service: str, region: str) -> Any:
        made = client(service, region)
        if service == "ec2":
            made.meta.events.register("before-call.ec2.ModifyVolume", self._refuse)
        return made

    def _refuse(self, **_: Any) -> Any:
        if self.refuse_until is None:
            return None
        from botocore.awsrequest import AWSResponse

        self.refused += 1
        message = (
            "You've reached the maximum modification rate per volume limit. You can modify "
            f"this volume again after {self.refuse_until:%Y-%m-%dT%H:%M:%S}Z."
        )
        error = {"Error": {"Code": RATE_REFUSAL, "Message": message}}
        return AWSResponse("https://ec2.amazonaws.com", 400, {}, None), {
            **error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }


@mock_aws
def test_rollback_runs_as_soon_as_aws_allows_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = client("ec2")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    vid = volume(ec2, 100, tags={"Name": "data", "team": "a"})
    ec2.attach_volume(VolumeId=vid, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    original = spec(ec2, vid)
    aws = AwsPacing(monkeypatch)

    finding = scan(RULE).finding(vid)
    folder = planned(finding, tmp_path)
    readme = (folder / "README.md").read_text()
    assert "full-delayed" in readme and "four in a rolling 24 hours" in readme
    assert "6 hours" not in readme

    applied_at = datetime.now(UTC)
    executor(aws.client_for, clock=lambda: applied_at).apply(folder)
    after = spec(ec2, vid)
    assert (after.volume_type, after.iops, after.throughput_mibps) == ("gp3", 3000, 128)
    assert after.attachment_count == 1
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.apply and journal.apply.status == "completed"
    recorded = journal.apply.record("record-configuration")
    assert recorded and recorded.outputs["VolumeType"] == "gp2"

    # While the apply's modification is still optimizing, AWS would refuse: the rollback
    # changes nothing, never calls ModifyVolume, and says when it looks again.
    aws.optimizing()
    aws.refuse_until = applied_at + timedelta(days=1)  # would fail the test if called
    soon = applied_at + timedelta(minutes=5)
    with pytest.raises(RetryLater) as waiting:
        executor(aws.client_for, clock=lambda: soon).rollback(folder)
    assert waiting.value.exit_code == ExitCode.RETRY_LATER
    assert waiting.value.not_before == soon + timedelta(minutes=15)
    assert "only once the previous one has completed" in waiting.value.message
    assert aws.refused == 0
    assert spec(ec2, vid).volume_type == "gp3"
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.rollback and journal.rollback.status == "waiting"
    assert journal.rollback.not_before == waiting.value.not_before

    # Completed, but the volume had four modifications in 24 hours: AWS refuses and names
    # the time; the rollback waits until exactly then, not a guessed interval.
    aws.optimizing(False)
    named = (applied_at + timedelta(hours=20)).replace(microsecond=0)
    aws.refuse_until = named
    with pytest.raises(RetryLater) as refused:
        executor(aws.client_for, clock=lambda: soon).rollback(folder)
    assert refused.value.not_before == named
    assert f"AWS refused it: {RATE_REFUSAL}" in refused.value.message
    assert aws.refused == 1 and spec(ec2, vid).volume_type == "gp3"
    saved = json.loads((folder / "journal.json").read_text())
    assert saved["rollback"]["not_before"]

    # As soon as AWS takes it, the rollback completes.
    aws.refuse_until = None
    later = named + timedelta(minutes=1)
    result = executor(aws.client_for, clock=lambda: later).rollback(folder)
    assert [s.step_id for s in result.steps][-1] == "verify-volume"
    assert_restored(original, spec(ec2, vid))
    journal = RemediationFolder(folder).load_journal()
    assert journal and journal.rollback and journal.rollback.status == "completed"
    assert journal.rollback.attempts == 3 and journal.rollback.not_before is None


@mock_aws
def test_a_rollback_right_after_a_completed_modification_runs_at_once(tmp_path: Path) -> None:
    """The old rule (one modification every 6 hours) made every rollback wait 6 hours."""
    ec2 = client("ec2")
    vid = volume(ec2, 100)
    folder = planned(scan(RULE, settings=UNATTACHED_TOO).finding(vid), tmp_path)
    now = datetime.now(UTC)
    executor(clock=lambda: now).apply(folder)
    executor(clock=lambda: now + timedelta(minutes=1)).rollback(folder)
    assert spec(ec2, vid).volume_type == "gp2"


@mock_aws
def test_apply_refuses_while_someone_elses_modification_is_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = client("ec2")
    vid = volume(ec2, 100)
    finding = scan(RULE, settings=UNATTACHED_TOO).finding(vid)
    folder = planned(finding, tmp_path)
    ec2.modify_volume(VolumeId=vid, Size=100, VolumeType="gp2")  # e.g. an operator's change
    aws = AwsPacing(monkeypatch)
    aws.optimizing()
    # looked at again, the volume is being modified: the apply changes nothing
    with pytest.raises(PrecheckFailed, match=r"a modification is in progress \(optimizing\)"):
        executor().apply(folder)
    assert spec(ec2, vid).volume_type == "gp2"
    aws.optimizing(False)  # once it has completed, no fixed interval to wait out
    executor().apply(folder)
    assert spec(ec2, vid).volume_type == "gp3"


@mock_aws
def test_rollback_refuses_a_volume_someone_changed_after_the_apply(tmp_path: Path) -> None:
    ec2 = client("ec2")
    vid = volume(ec2, 400)
    folder = planned(scan(RULE, settings=UNATTACHED_TOO).finding(vid), tmp_path)
    executor().apply(folder)
    ec2.modify_volume(VolumeId=vid, Iops=5000)
    later = datetime.now(UTC) + timedelta(minutes=1)
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
