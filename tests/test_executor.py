"""apply and rollback against moto: safety checks, journal, resume, refusals, fidelity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from generator.errors import (
    AwsCallFailed,
    CredentialsError,
    ManifestError,
    PrecheckFailed,
    StateRefusal,
)
from generator.manifest.folder import RemediationFolder
from generator.planner import plan_finding, write_remediation
from generator.scan import scan
from tests import trusted
from tests.conftest import (
    REGION,
    CallLog,
    RecordingSession,
    SimulatedCrash,
    config_for,
    executor_for,
    later,
    make_volume,
)

RECORDED = (
    "AvailabilityZone",
    "VolumeType",
    "Size",
    "Iops",
    "Throughput",
    "Encrypted",
    "KmsKeyId",
    "MultiAttachEnabled",
)


def _describe(ec2: Any, volume: str) -> dict[str, Any]:
    return ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]


def _exists(ec2: Any, volume: str) -> bool:
    return bool(
        ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"]
    )


def _remediation_for(volume: str, tmp_path: Path) -> Path:
    config = config_for(tmp_path)
    scan(config, as_of=datetime.now(UTC))
    as_of = later(30)
    report = scan(config, as_of=as_of)
    trusted.remember(config, as_of)
    finding = next(f for f in report.findings if f.resource_id == volume)
    return write_remediation(plan_finding(finding), tmp_path / "remediations")


def _backups(ec2: Any) -> list[dict[str, Any]]:
    # moto lists its public AMI snapshots even for OwnerIds=["self"]: filter on reclaim's tag.
    return ec2.describe_snapshots(Filters=[{"Name": "tag-key", "Values": ["reclaim:plan-id"]}])[
        "Snapshots"
    ]


def _journal(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "journal.json").read_text())


@pytest.fixture
def log() -> CallLog:
    return CallLog()


def test_apply_backs_up_then_deletes_and_journals_every_step(ec2, tmp_path, log):
    volume = make_volume(ec2, tags={"Name": "test-do-not-delete"})
    folder = _remediation_for(volume, tmp_path)

    result = executor_for(RecordingSession(log)).apply(folder)

    assert not _exists(ec2, volume)
    snapshot = result.output("backup", "SnapshotId")
    (snap,) = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert snap["State"] == "completed" and snap["VolumeId"] == volume
    tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
    assert tags["reclaim:plan-id"] == folder.name
    operations = log.operations()
    assert operations.index("CreateSnapshot") < operations.index("DeleteVolume")
    assert log.count("DeleteVolume", DryRun=True) == 1
    journal = _journal(folder)
    assert journal["apply"]["status"] == "completed" and journal["apply"]["actor"] == "tester"
    assert [s["step_id"] for s in journal["apply"]["steps"]] == [
        "precheck",
        "backup",
        "dry-run",
        "delete",
        "verify-deleted",
        "verify-backup",
    ]
    assert all(s["status"] == "completed" for s in journal["apply"]["steps"])


def test_apply_twice_says_so_and_makes_no_call(ec2, tmp_path, log):
    folder = _remediation_for(make_volume(ec2), tmp_path)
    executor_for(RecordingSession(CallLog())).apply(folder)
    again = executor_for(RecordingSession(log)).apply(folder)
    assert again.nothing_to_do and "already applied" in again.nothing_to_do
    assert log.calls == []


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (lambda ec2, v: ec2.modify_volume(VolumeId=v, VolumeType="gp3"), "volume type"),
        (lambda ec2, v: ec2.modify_volume(VolumeId=v, Size=200), "size (GiB)"),
        (
            lambda ec2, v: ec2.create_tags(Resources=[v], Tags=[{"Key": "owner", "Value": "x"}]),
            "tags",
        ),
        (
            lambda ec2, v: ec2.create_tags(
                Resources=[v], Tags=[{"Key": "reclaim:skip", "Value": "1"}]
            ),
            "skip tag",
        ),
        (
            lambda ec2, v: ec2.attach_volume(
                VolumeId=v,
                Device="/dev/sdf",
                InstanceId=ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
                    "Instances"
                ][0]["InstanceId"],
            ),
            "state",
        ),
        (lambda ec2, v: ec2.delete_volume(VolumeId=v), "could not read the resource"),
    ],
    ids=["type", "size", "tags", "skip-tag", "attached", "deleted"],
)
def test_precheck_drift_aborts_before_any_mutation(ec2, tmp_path, log, drift, expected):
    volume = make_volume(ec2, tags={"Name": "scratch"})
    folder = _remediation_for(volume, tmp_path)
    drift(ec2, volume)

    with pytest.raises(PrecheckFailed) as raised:
        executor_for(RecordingSession(log)).apply(folder)

    assert expected in raised.value.message and "nothing was changed" in raised.value.message
    assert set(log.operations()) <= {"GetCallerIdentity", "DescribeVolumes"}
    assert _backups(ec2) == []
    journal = _journal(folder)
    assert journal["apply"]["status"] == "aborted"


@pytest.mark.parametrize("crash_after", ["CreateSnapshot", "DeleteVolume"])
def test_resume_after_a_crash_between_call_and_journal_never_repeats_it(
    ec2, tmp_path, log, crash_after
):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    with pytest.raises(SimulatedCrash):
        executor_for(RecordingSession(log, crash_after=crash_after)).apply(folder)
    crashed = {s["step_id"]: s["status"] for s in _journal(folder)["apply"]["steps"]}
    assert "started" in crashed.values()

    executor_for(RecordingSession(log)).apply(folder)

    assert log.count("CreateSnapshot") == 1
    assert log.count("DeleteVolume", VolumeId=volume) - log.count("DeleteVolume", DryRun=True) == 1
    assert len(_backups(ec2)) == 1
    journal = _journal(folder)
    assert journal["apply"]["status"] == "completed" and journal["apply"]["attempts"] == 2
    notes = {s["step_id"]: s["note"] for s in journal["apply"]["steps"]}
    crashed_step = "backup" if crash_after == "CreateSnapshot" else "delete"
    assert notes[crashed_step] == "found already done by its lookup"


def test_a_failed_aws_call_is_journaled_and_a_rerun_resumes_there(ec2, tmp_path, log, monkeypatch):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    session = RecordingSession(log)

    def deny_delete(params, model, **_):
        if model.name == "DeleteVolume" and not params.get("DryRun"):
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVolume"
            )

    session.client("ec2", REGION).meta.events.register(
        "provide-client-params.ec2.DeleteVolume", deny_delete
    )
    with pytest.raises(AwsCallFailed) as raised:
        executor_for(session).apply(folder)
    assert "step 'delete'" in raised.value.message and "UnauthorizedOperation" in str(raised.value)
    assert "resumes at this step" in raised.value.hint
    assert _exists(ec2, volume)
    assert _journal(folder)["apply"]["status"] == "failed"

    executor_for(RecordingSession(log)).apply(folder)
    assert not _exists(ec2, volume)
    assert log.count("CreateSnapshot") == 1


def test_a_connection_lost_while_waiting_is_a_journaled_failure_not_a_traceback(ec2, tmp_path, log):
    """EndpointConnectionError (a BotoCoreError, not a ClientError) while the backup's waiter
    polls: the run fails as an AWS call (exit 6) with the snapshot it started journaled, and
    a re-run resumes there without a second snapshot."""
    from botocore.exceptions import EndpointConnectionError

    from generator.errors import ExitCode

    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    session = RecordingSession(log)
    client = session.client("ec2", REGION)
    snapshot_started: list[bool] = []

    def network_gone(model, **_):
        if model.name == "CreateSnapshot":
            snapshot_started.append(True)
        elif model.name == "DescribeSnapshots" and snapshot_started:
            raise EndpointConnectionError(endpoint_url=client.meta.endpoint_url)

    client.meta.events.register("before-call.ec2", network_gone)
    with pytest.raises(AwsCallFailed) as raised:
        executor_for(session).apply(folder)
    assert raised.value.exit_code == ExitCode.AWS == 6
    assert "EndpointConnectionError" in raised.value.message
    assert "snapshot_completed" in raised.value.message
    assert "resumes at this step" in raised.value.hint
    journal = _journal(folder)["apply"]
    assert journal["status"] == "failed" and "EndpointConnectionError" in journal["error"]
    backup = next(s for s in journal["steps"] if s["status"] == "failed")
    assert backup["outputs"]["SnapshotId"].startswith("snap-")  # the progress it made
    assert _exists(ec2, volume) and log.count("CreateSnapshot") == 1

    executor_for(RecordingSession(log)).apply(folder)
    assert not _exists(ec2, volume)
    assert log.count("CreateSnapshot") == 1


def test_dry_run_that_does_not_raise_dry_run_operation_is_a_failure(ec2, tmp_path, log):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    session = RecordingSession(log)

    def pretend_success(model, params, **_):
        # Like an endpoint that ignores DryRun: answer success without deleting.
        if params["body"].get("DryRun") == "true":  # the serialized EC2 query request
            return SimpleNamespace(status_code=200, headers={}), {}
        return None

    session.client("ec2", REGION).meta.events.register(
        "before-call.ec2.DeleteVolume", pretend_success
    )
    with pytest.raises(AwsCallFailed) as raised:
        executor_for(session).apply(folder)
    assert "DryRun was not honoured" in str(raised.value)
    assert _exists(ec2, volume)
    assert log.count("DeleteVolume") == 1  # only the dry run


def _tamper(folder: Path, change) -> None:
    plan = json.loads((folder / "plan.json").read_text())
    change(plan)
    (folder / "plan.json").write_text(json.dumps(plan, indent=2))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda p: p["steps"].append(
                {
                    "id": "sneaky",
                    "phase": "verify",
                    "description": "harmless",
                    "call": {
                        "service": "iam",
                        "operation": "CreateUser",
                        "params": {"UserName": "x"},
                    },
                    "mutates": False,
                }
            ),
            "iam:CreateUser is not allowed",
        ),
        (
            lambda p: p["steps"][3]["call"]["params"].update(VolumeId="vol-00000000000000000"),
            "differs from what rule 'ebs-unattached' derives",
        ),
        (lambda p: p["steps"].pop(1), "destroys data with no backup"),
        (lambda p: p["steps"][3]["call"]["params"].update(Force=True), "do not match the AWS API"),
        (
            lambda p: p["steps"][1]["wait"]["params"].update(
                SnapshotIds=[{"$from": "steps.nowhere.SnapshotId"}]
            ),
            "does not name an output",
        ),
        (lambda p: p.update(schema_version=2), "schema_version"),
    ],
    ids=["foreign-call", "other-volume", "no-backup", "bad-param", "bad-reference", "schema"],
)
def test_tampered_plan_is_refused_before_any_aws_call(ec2, tmp_path, log, change, expected):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    _tamper(folder, change)

    with pytest.raises(ManifestError) as raised:
        executor_for(RecordingSession(log)).apply(folder)

    assert expected in str(raised.value)
    assert log.calls == []
    assert _exists(ec2, volume)
    assert not (folder / "journal.json").exists()


def test_journal_of_another_plan_is_refused(ec2, tmp_path, log):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    executor_for(RecordingSession(CallLog())).apply(folder)
    plan = json.loads((folder / "plan.json").read_text())
    (folder / "plan.json").write_text(json.dumps(plan))  # same content, different bytes
    with pytest.raises(ManifestError, match=r"different plan\.json"):
        executor_for(RecordingSession(log)).rollback(folder)
    assert log.calls == []


def test_plan_for_another_account_is_refused_before_mutation(ec2, tmp_path, log):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    session = RecordingSession(log)
    executor = executor_for(session)
    executor.account_id = lambda: "999999999999"
    with pytest.raises(CredentialsError, match="belongs to account 123456789012"):
        executor.apply(folder)
    assert _exists(ec2, volume) and log.calls == []


def test_rollback_refuses_unapplied_and_already_rolled_back(ec2, tmp_path):
    folder = _remediation_for(make_volume(ec2), tmp_path)
    executor = executor_for(RecordingSession(CallLog()))
    with pytest.raises(StateRefusal, match="never applied"):
        executor.rollback(folder)
    executor.apply(folder)
    executor.rollback(folder)
    with pytest.raises(StateRefusal, match="already rolled back"):
        executor.rollback(folder)
    with pytest.raises(StateRefusal, match="rolled back on"):
        executor.apply(folder)


def test_rollback_after_an_apply_that_changed_nothing_is_refused(ec2, tmp_path):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "owner", "Value": "me"}])
    executor = executor_for(RecordingSession(CallLog()))
    with pytest.raises(PrecheckFailed):
        executor.apply(folder)
    with pytest.raises(StateRefusal, match="before changing anything") as refused:
        executor.rollback(folder)
    assert "it made no backup" in refused.value.message


def test_rollback_after_a_crashed_backup_says_a_snapshot_may_exist(ec2, tmp_path, log):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    with pytest.raises(SimulatedCrash):
        executor_for(RecordingSession(log, crash_after="CreateSnapshot")).apply(folder)

    with pytest.raises(StateRefusal) as refused:
        executor_for(RecordingSession(log)).rollback(folder)

    message = refused.value.message
    assert "(the process stopped before it finished)" in message and "None" not in message
    assert "backup step had started" in message and "delete the backup" in refused.value.hint
    assert len(_backups(ec2)) == 1 and _exists(ec2, volume)  # rollback touched nothing


def test_rollback_after_a_refused_dry_run_names_the_snapshot_apply_left(ec2, tmp_path, log):
    """The snapshot outlives the failed apply and is billed: rollback says which it is."""
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    session = RecordingSession(log)

    def deny_dry_run(params, model, **_):
        if model.name == "DeleteVolume" and params.get("DryRun"):
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVolume"
            )

    session.client("ec2", REGION).meta.events.register(
        "provide-client-params.ec2.DeleteVolume", deny_dry_run
    )
    with pytest.raises(AwsCallFailed):
        executor_for(session).apply(folder)
    (snapshot,) = _backups(ec2)

    with pytest.raises(StateRefusal) as refused:
        executor_for(RecordingSession(log)).rollback(folder)

    message = refused.value.message
    assert "UnauthorizedOperation" in message
    assert f"SnapshotId {snapshot['SnapshotId']}" in message
    assert "delete the backup" in (refused.value.hint or "")
    assert len(_backups(ec2)) == 1 and _exists(ec2, volume)


@pytest.mark.parametrize(
    "spec",
    [
        {"VolumeType": "gp2", "Size": 100},
        {"VolumeType": "io1", "Size": 500, "Iops": 5000},
        {"VolumeType": "gp3", "Size": 1000, "Iops": 6000, "Throughput": 500},
        {"VolumeType": "st1", "Size": 500},
        {"VolumeType": "sc1", "Size": 500, "Encrypted": True},
    ],
    ids=["gp2", "io1", "gp3", "st1", "sc1-encrypted"],
)
def test_rollback_restores_every_recorded_attribute(ec2, tmp_path, spec):
    if spec.pop("Encrypted", False):
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        spec.update(Encrypted=True, KmsKeyId=key)
    volume = make_volume(ec2, zone="us-east-1c", tags={"Name": "data", "team": "x"}, **spec)
    original = _describe(ec2, volume)
    folder = _remediation_for(volume, tmp_path)
    executor = executor_for(RecordingSession(CallLog()))
    executor.apply(folder)

    restored_id = executor.rollback(folder).output("restore", "VolumeId")

    restored = _describe(ec2, restored_id)
    assert restored_id != volume
    for attribute in RECORDED:
        assert restored.get(attribute) == original.get(attribute), attribute
    assert sorted(restored["Tags"], key=lambda t: t["Key"]) == sorted(
        original["Tags"], key=lambda t: t["Key"]
    )
    assert restored["SnapshotId"] == _journal(folder)["apply"]["steps"][1]["outputs"]["SnapshotId"]
    assert _journal(folder)["rollback"]["status"] == "completed"


def test_rollback_resumes_after_a_crash_without_a_second_volume(ec2, tmp_path, log):
    volume = make_volume(ec2)
    folder = _remediation_for(volume, tmp_path)
    executor_for(RecordingSession(CallLog())).apply(folder)
    with pytest.raises(SimulatedCrash):
        executor_for(RecordingSession(log, crash_after="CreateVolume")).rollback(folder)
    executor_for(RecordingSession(log)).rollback(folder)
    assert log.count("CreateVolume") == 1
    assert len(ec2.describe_volumes()["Volumes"]) == 1


def test_folder_without_manifests_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        RemediationFolder(tmp_path).load_plan()
