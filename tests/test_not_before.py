"""The executor's not-before check: a step AWS refuses to run too soon after an event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from moto import mock_aws

from generator.cli import main
from generator.errors import ExitCode, ManifestError
from generator.executor.calls import parse_time as _parse_time
from generator.manifest.models import AwsCall, NotBefore
from generator.manifest.validation import check_allow_list, check_references
from generator.rules import RULES
from generator.rules.ebs_gp2_to_gp3 import Gp2ToGp3Settings
from tests.rule_harness import REGION, client, executor, planned, scan


def test_the_not_before_call_is_on_the_allow_list_and_validated() -> None:
    rule = RULES["ebs-gp2-to-gp3"]
    step = NotBefore(
        call=AwsCall(service="ec2", operation="DescribeVolumesModifications", params={}),
        time_path="VolumesModifications[].StartTime",
        delay_seconds=60,
        reason="test",
    )
    assert ("ec2", "DescribeVolumesModifications") in rule.calls.rollback
    with mock_aws():
        ec2 = client("ec2")
        vid = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100)["VolumeId"]
        finding = scan(
            "ebs-gp2-to-gp3", settings=Gp2ToGp3Settings(include_unattached=True)
        ).finding(vid)
    rollback = rule.build_rollback(finding)
    check_allow_list(rollback, rule.calls.rollback)
    change = rollback.step("modify-back")
    sneaky = change.model_copy(
        update={
            "not_before": step.model_copy(
                update={"call": AwsCall(service="ec2", operation="DescribeVolumeStatus")}
            )
        }
    )
    smuggled = rollback.model_copy(
        update={"steps": tuple(sneaky if s.id == "modify-back" else s for s in rollback.steps)}
    )
    with pytest.raises(ManifestError, match="not-before check: ec2:DescribeVolumeStatus"):
        check_allow_list(smuggled, rule.calls.rollback)
    bad = change.model_copy(
        update={
            "not_before": step.model_copy(
                update={
                    "call": AwsCall(
                        service="ec2",
                        operation="DescribeVolumesModifications",
                        params={"VolumeIds": [{"$from": "steps.nowhere.VolumeId"}]},
                    )
                }
            )
        }
    )
    broken = rollback.model_copy(
        update={"steps": tuple(bad if s.id == "modify-back" else s for s in rollback.steps)}
    )
    with pytest.raises(ManifestError, match=r"not-before check: reference steps\.nowhere"):
        check_references(broken, {})


@pytest.mark.parametrize(
    "value",
    ["2026-11-28 14:00:00+00:00", "2026-11-28T14:00:00Z", "2026-11-28T14:00:00"],
)
def test_response_timestamps_parse_as_utc(value: str) -> None:
    assert _parse_time(value) == datetime(2026, 11, 28, 14, tzinfo=UTC)


@mock_aws
def test_cli_rollback_before_the_modification_completed_exits_9_and_says_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ec2.models.elastic_block_store import VolumeModification

    ec2 = client("ec2")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    vid = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100)["VolumeId"]
    ec2.attach_volume(VolumeId=vid, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    folder = planned(scan("ebs-gp2-to-gp3").finding(vid), tmp_path)
    executor().apply(folder)
    # moto completes a modification at once; AWS keeps a large one optimizing for hours
    monkeypatch.setattr(VolumeModification, "modification_state", property(lambda _: "optimizing"))

    result = CliRunner().invoke(main, ["rollback", str(folder)])

    assert result.exit_code == ExitCode.RETRY_LATER == 9
    assert "cannot run before" in result.output and "UTC" in result.output
    assert "has not completed yet" in result.output
    assert "re-run `reclaim rollback` after" in result.output
    assert "Traceback" not in result.output
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["VolumeType"] == "gp3"


def test_a_not_before_check_reads_a_time_or_a_condition() -> None:
    call = AwsCall(service="ec2", operation="DescribeVolumesModifications", params={})
    with pytest.raises(ValueError, match="time_path or a ready_when"):
        NotBefore(call=call, reason="nothing to read")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("You can modify it again after 2026-12-03T10:15:00Z.", "2026-12-03T10:15:00+00:00"),
        ("next modification at 2026-12-03 10:15 UTC", "2026-12-03T10:15:00+00:00"),
        ("retry after 2026-12-03T12:15:00+0200", "2026-12-03T12:15:00+02:00"),
        ("Wait for the current modification to finish.", None),
    ],
)
def test_the_time_an_aws_refusal_names_is_read(message: str, expected: str | None) -> None:
    from generator.executor.calls import time_in_message

    found = time_in_message(message)
    assert (found.isoformat() if found else None) == expected
