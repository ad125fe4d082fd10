"""A branch author with push access writes a pull request to look consistent; apply and
rollback must believe AWS, the trusted reclaim.yml and their own verified journal instead.

Each test is one attack of issue 10 against the executor (moto in-process), and asserts the
harm did not happen: the volume still exists, no snapshot of another volume counted, no
second mutation, nothing restored from another volume's data.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from generator.aws.tags import PLAN_ID_TAG
from generator.errors import PrecheckFailed, StateRefusal
from generator.findings import Finding
from generator.manifest.folder import RemediationFolder, digest
from generator.planner import plan_finding, write_remediation
from generator.scan import scan
from tests import trusted
from tests.conftest import (
    CallLog,
    RecordingSession,
    config_for,
    executor_for,
    later,
    make_volume,
)
from tests.rule_harness import context, detect, executor, moto_client, planned

PLAN_TAG = PLAN_ID_TAG


def _exists(ec2: Any, volume: str) -> bool:
    return bool(
        ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"]
    )


def _snapshots_of(ec2: Any, volume: str) -> list[dict[str, Any]]:
    return ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"]


def _tagged_snapshot(ec2: Any, volume: str, plan_id: str) -> dict[str, Any]:
    """A snapshot of ``volume`` carrying the plan-ID tag, made outside reclaim."""
    tags = [{"Key": PLAN_TAG, "Value": plan_id}]
    return ec2.create_snapshot(  # type: ignore[no-any-return]
        VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
    )


def _scanned(tmp_path: Path, **config: Any) -> tuple[Any, list[Finding]]:
    """Two scans 30 days apart (the first starts the first-seen clocks), trusted by apply."""
    settings = config_for(tmp_path, **config)
    scan(settings, as_of=later(0))
    as_of = later(30)
    report = scan(settings, as_of=as_of)
    trusted.remember(settings, as_of)
    return settings, list(report.findings)


def _folder(finding: Finding, tmp_path: Path) -> Path:
    return write_remediation(plan_finding(finding), tmp_path / "remediations")


def _forged(finding: Finding, **record: Any) -> Finding:
    """The finding with its record edited, as a PR author would (then planned by reclaim's own
    planner, so plan.json and rollback.json are consistent with it)."""
    resource = json.loads(json.dumps(finding.resource))
    for path, value in record.items():
        target = resource
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return finding.model_copy(update={"resource": resource})


# ---- 1. a journal.json added by the PR -------------------------------------------------------


def _forge_journal(folder: Path, steps: dict[str, dict[str, Any]]) -> None:
    remediation = RemediationFolder(folder)
    journal = {
        "schema_version": 1,
        "plan_id": folder.name,
        "plan_sha256": digest(remediation.plan_text()),
        "rollback_sha256": digest(remediation.rollback_text()),
        "apply": {
            "kind": "apply",
            "status": "failed",
            "started_at": "2026-01-01T00:00:00Z",
            "steps": [
                {
                    "step_id": step,
                    "status": "completed",
                    "started_at": "2026-01-01T00:00:00Z",
                    "outputs": outputs,
                }
                for step, outputs in steps.items()
            ],
        },
    }
    (folder / "journal.json").write_text(json.dumps(journal))


def test_a_journal_claiming_the_backup_does_not_skip_it(ec2, tmp_path):
    volume = make_volume(ec2, tags={"Name": "test-do-not-delete"})
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    decoy = ec2.create_snapshot(VolumeId=make_volume(ec2))["SnapshotId"]
    _forge_journal(
        folder,
        {"precheck": {}, "backup": {"SnapshotId": decoy}, "dry-run": {}},
    )
    log = CallLog()

    executor_for(RecordingSession(log)).apply(folder)

    # The backup AWS could not confirm ran again: a real snapshot of this volume exists,
    # taken before the delete, and the pre-check and dry run ran too.
    (backup,) = _snapshots_of(ec2, volume)
    assert backup["State"] == "completed"
    assert {"Key": PLAN_TAG, "Value": folder.name} in backup["Tags"]
    operations = log.operations()
    assert operations.index("CreateSnapshot") < operations.index("DeleteVolume")
    assert log.count("DeleteVolume", DryRun=True) == 1
    journal = json.loads((folder / "journal.json").read_text())
    recorded = {s["step_id"]: s for s in journal["apply"]["steps"]}
    assert recorded["backup"]["outputs"]["SnapshotId"] == backup["SnapshotId"] != decoy


def test_rollback_never_restores_from_a_snapshot_the_journal_was_edited_to(ec2, tmp_path):
    volume = make_volume(ec2, Size=8)
    other = make_volume(ec2, Size=8, tags={"Name": "someone-elses-data"})
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    executor_for(RecordingSession(CallLog())).apply(folder)
    foreign = ec2.create_snapshot(VolumeId=other)["SnapshotId"]
    path = folder / "journal.json"
    journal = json.loads(path.read_text())
    for step in journal["apply"]["steps"]:
        if step["step_id"] == "backup":
            step["outputs"]["SnapshotId"] = foreign
    path.write_text(json.dumps(journal))
    before = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    with pytest.raises(PrecheckFailed, match="volume the snapshot was taken of"):
        executor_for(RecordingSession(CallLog())).rollback(folder)

    after = ec2.describe_volumes()["Volumes"]
    assert {v["VolumeId"] for v in after} == before  # nothing restored from the foreign data
    assert not any(v.get("SnapshotId") == foreign for v in after)


def test_rollback_refuses_while_the_volume_the_journal_calls_deleted_exists(ec2, tmp_path):
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    snapshot = _tagged_snapshot(ec2, volume, folder.name)["SnapshotId"]
    _forge_journal(
        folder,
        {
            "precheck": {},
            "backup": {"SnapshotId": snapshot},
            "dry-run": {},
            "delete": {},
            "verify-deleted": {},
            "verify-backup": {},
        },
    )
    journal = json.loads((folder / "journal.json").read_text())
    journal["apply"].update(
        status="completed", observed_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:10:00Z"
    )
    (folder / "journal.json").write_text(json.dumps(journal))
    volumes = len(ec2.describe_volumes()["Volumes"])

    with pytest.raises(PrecheckFailed, match="still deleted"):
        executor_for(RecordingSession(CallLog())).rollback(folder)

    assert len(ec2.describe_volumes()["Volumes"]) == volumes  # no copy created


# ---- 2. a snapshot carrying the plan ID but of another volume --------------------------------


def test_a_snapshot_of_another_volume_with_the_plan_tag_is_not_this_backup(ec2, tmp_path):
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    other = make_volume(ec2)
    _tagged_snapshot(ec2, other, folder.name)
    log = CallLog()

    result = executor_for(RecordingSession(log)).apply(folder)

    assert not _exists(ec2, volume)
    (backup,) = _snapshots_of(ec2, volume)  # its own backup, made by this run
    assert result.output("backup", "SnapshotId") == backup["SnapshotId"]
    assert log.count("CreateSnapshot", VolumeId=volume) == 1


def test_a_backup_older_than_the_observation_is_not_this_runs(ec2, tmp_path, monkeypatch):
    """An old snapshot of this very volume, tagged with the plan ID (an earlier attempt's,
    before the volume changed), never makes the backup 'already done'."""
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    old = _tagged_snapshot(ec2, volume, folder.name)["SnapshotId"]
    # The run observes the volume an hour after that snapshot (beyond the allowed skew).
    import generator.executor.runner as runner

    real_now = runner.utc_now
    monkeypatch.setattr(runner, "utc_now", lambda: real_now() + timedelta(hours=1))
    session = RecordingSession(CallLog())

    result = executor_for(session).apply(folder)

    assert result.output("backup", "SnapshotId") != old
    assert session.log.count("CreateSnapshot", VolumeId=volume) == 1
    assert not _exists(ec2, volume)


# ---- 3. a forged finding: the record in plan.json is not believed ----------------------------


def test_a_finding_the_scan_never_made_is_not_applied(ec2, tmp_path):
    volume = make_volume(ec2, tags={"Name": "detached-this-morning"})
    settings = config_for(tmp_path)
    as_of = later(0)
    report = scan(settings, as_of=as_of)  # the clock starts now: too fresh to propose
    assert not report.findings
    trusted.remember(settings, as_of)
    (skipped,) = [s for s in report.skipped if s.resource_id == volume]
    # The author writes the finding the scan would have made 30 days on, and plans it.
    _, later_findings = _scanned(tmp_path / "elsewhere")
    template = next(f for f in later_findings if f.resource_id == volume)
    trusted.remember(settings, as_of)
    folder = _folder(template, tmp_path)

    with pytest.raises(PrecheckFailed, match=r"leaves .* alone .*under min_unattached_days"):
        executor_for(RecordingSession(CallLog())).apply(folder)

    assert _exists(ec2, volume) and not _snapshots_of(ec2, volume)
    assert "under min_unattached_days" in skipped.reason


def test_a_skip_tagged_volume_with_the_skip_tag_renamed_in_the_record_is_not_applied(ec2, tmp_path):
    volume = make_volume(ec2, tags={"Name": "scratch"})
    _, findings = _scanned(tmp_path)
    finding = next(f for f in findings if f.resource_id == volume)
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "reclaim:skip", "Value": "yes"}])
    forged = _forged(
        finding,
        **{
            "skip_tag": "not-the-skip-tag",
            "volume.tags": {"Name": "scratch", "reclaim:skip": "yes"},
        },
    )
    folder = _folder(forged, tmp_path)

    with pytest.raises(PrecheckFailed, match="skip tag 'reclaim:skip'"):
        executor_for(RecordingSession(CallLog())).apply(folder)

    assert _exists(ec2, volume) and not _snapshots_of(ec2, volume)


def test_an_exclusion_added_after_the_pr_was_opened_is_honoured(ec2, tmp_path):
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    # The default branch's reclaim.yml now excludes it.
    excluded = config_for(tmp_path, exclusions={"resource_ids": [volume]})
    trusted.remember(excluded, later(30))

    with pytest.raises(PrecheckFailed, match="matches the exclusion pattern"):
        executor_for(RecordingSession(CallLog())).apply(folder)

    assert _exists(ec2, volume) and not _snapshots_of(ec2, volume)


def test_a_threshold_edited_in_the_record_is_not_applied(ec2, tmp_path):
    """The snapshot wait is the rule's setting, not the PR's: a record claiming another value
    derives other manifests than the trusted reclaim.yml does."""
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    forged = _forged(
        next(f for f in findings if f.resource_id == volume), snapshot_timeout_minutes=5
    )
    folder = _folder(forged, tmp_path)

    with pytest.raises(PrecheckFailed, match="no longer what the rule derives"):
        executor_for(RecordingSession(CallLog())).apply(folder)

    assert _exists(ec2, volume) and not _snapshots_of(ec2, volume)


def test_a_retention_of_one_day_under_a_pr_for_ninety_is_not_applied(aws, tmp_path):
    logs = moto_client("logs")
    logs.create_log_group(logGroupName="/aws/ecs/payments")
    logs.create_log_stream(logGroupName="/aws/ecs/payments", logStreamName="s")
    logs.put_log_events(
        logGroupName="/aws/ecs/payments",
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x" * 200}],
    )
    as_of = later(360)
    finding = detect(
        "logs-retention", context(as_of=as_of), retention_days=90, min_monthly_savings_usd=0
    ).only()
    forged = _forged(finding, retention_days=1)
    folder = planned(forged, tmp_path)

    with pytest.raises(PrecheckFailed, match="no longer what the rule derives"):
        executor().apply(folder)

    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/ecs/payments")["logGroups"]
    assert "retentionInDays" not in group  # never expiring, as before: nothing was set


# ---- 4. a failed apply re-run after the volume changed ---------------------------------------


def _failing_delete(session: RecordingSession) -> None:
    """DeleteVolume (not its dry run) fails once on this session's EC2 client."""
    client = session.client("ec2", "us-east-1")
    state = {"failed": False}

    def fail(params: dict[str, Any], **_: Any) -> None:
        if not params.get("DryRun") and not state["failed"]:
            state["failed"] = True
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "try again"}}, "DeleteVolume"
            )

    client.meta.events.register("provide-client-params.ec2.DeleteVolume", fail)


def test_a_rerun_after_a_failed_delete_rechecks_a_volume_that_grew_and_was_skip_tagged(
    ec2, tmp_path
):
    volume = make_volume(ec2, Size=100)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    session = RecordingSession(CallLog())
    _failing_delete(session)
    with pytest.raises(Exception, match="InternalError"):
        executor_for(session).apply(folder)
    assert _exists(ec2, volume)

    ec2.modify_volume(VolumeId=volume, Size=500)
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "reclaim:skip", "Value": "keep"}])
    log = CallLog()
    with pytest.raises(PrecheckFailed) as refused:
        executor_for(RecordingSession(log)).apply(folder)

    assert refused.value.exit_code == 5
    assert "size" in refused.value.message or "skip tag" in refused.value.message
    assert _exists(ec2, volume)
    assert log.count("DeleteVolume") == 0


# ---- a completed change the journal claims but AWS does not show -----------------------------


def test_a_journal_claiming_the_delete_stops_a_resume(ec2, tmp_path):
    volume = make_volume(ec2)
    _, findings = _scanned(tmp_path)
    folder = _folder(next(f for f in findings if f.resource_id == volume), tmp_path)
    _forge_journal(folder, {"precheck": {}, "backup": {"SnapshotId": "snap-0"}, "delete": {}})
    log = CallLog()

    with pytest.raises(StateRefusal, match="does not show it"):
        executor_for(RecordingSession(log)).apply(folder)

    assert _exists(ec2, volume)
    assert log.count("DeleteVolume") == 0 and log.count("CreateSnapshot") == 0
