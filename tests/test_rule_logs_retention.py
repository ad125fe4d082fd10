"""logs-retention: detect on moto, apply, roll back, and compare with the original."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.aws.prices import bundled_prices
from generator.config import parse_config
from generator.errors import AwsCallFailed, ConfigError, ManifestError, PrecheckFailed, RetryLater
from generator.exclusions import Exclusions
from generator.manifest.folder import RemediationFolder
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.logs_retention import ALLOWED_RETENTION_DAYS, group_slug
from generator.savings import net_savings
from tests import trusted
from tests.rule_harness import (
    context,
    detect,
    executor,
    journal,
    moto_client,
    planned,
)

RULE = "logs-retention"
LATER = datetime.now(UTC) + timedelta(days=360)
"""moto stamps groups with the real clock; scanning a year later makes them a year old."""


def _detect(ctx: Any, **settings: Any) -> Any:
    """moto's groups hold kilobytes: price them, but propose them whatever they save."""
    return detect(RULE, ctx, **{"min_monthly_savings_usd": 0, **settings})


def _group(name: str, *, events: int = 0, tags: dict[str, str] | None = None) -> None:
    logs = moto_client("logs")
    logs.create_log_group(logGroupName=name, **({"tags": tags} if tags else {}))
    if events:
        logs.create_log_stream(logGroupName=name, logStreamName="s")
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=name,
            logStreamName="s",
            logEvents=[
                {"timestamp": now + i, "message": f"event {i} " + "x" * 200} for i in range(events)
            ],
        )


def _state(name: str) -> dict[str, Any]:
    """Every attribute AWS reports for the group, plus its tags."""
    logs = moto_client("logs")
    entry = next(
        g
        for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        if g["logGroupName"] == name
    )
    arn = entry["logGroupArn"]
    return {**entry, "tags": logs.list_tags_for_resource(resourceArn=arn)["tags"]}


def test_detects_only_never_expiring_groups_that_hold_data(aws: None) -> None:
    _group("/aws/lambda/busy", events=20, tags={"team": "web"})
    _group("/aws/lambda/empty")
    _group("/aws/lambda/kept", events=5, tags={"reclaim:skip": "yes"})
    _group("/aws/lambda/expiring", events=5)
    moto_client("logs").put_retention_policy(
        logGroupName="/aws/lambda/expiring", retentionInDays=30
    )

    result = _detect(context(as_of=LATER))

    finding = result.only()
    assert finding.resource_id == "/aws/lambda/busy"
    assert finding.id == f"logs-retention-123456789012-us-east-1-{group_slug('/aws/lambda/busy')}"
    assert "/" not in finding.id.removeprefix("logs-retention-")
    assert finding.reversibility == "best-effort"
    assert "skip tag" in result.skip_reason("/aws/lambda/kept")
    assert not any(
        s.resource_id in ("/aws/lambda/empty", "/aws/lambda/expiring") for s in result.skipped
    )


def test_young_group_is_left_alone_until_something_would_expire(aws: None) -> None:
    _group("app", events=3)
    result = _detect(context(as_of=datetime.now(UTC) + timedelta(days=10)))
    assert result.findings == []
    assert "nothing would expire yet" in result.skip_reason("app")


def test_saving_is_the_share_older_than_the_retention(aws: None) -> None:
    _group("app", events=50)
    stored = _state("app")["storedBytes"]
    finding = _detect(context(as_of=LATER), retention_days=90).only()
    age = (LATER - datetime.fromtimestamp(_state("app")["creationTime"] / 1000, UTC)).days
    expected = stored * (1 - 90 / age) / 1024**3 * bundled_prices().logs.storage_gb_month
    assert finding.cost.monthly_usd == round(expected, 2)
    assert not finding.cost.unknown
    assert f"over its {age} days" in finding.cost.basis


def test_apply_then_rollback_restores_every_attribute(aws: None, tmp_path: Path) -> None:
    _group("/aws/ecs/payments", events=30, tags={"team": "payments", "env": "staging"})
    original = _state("/aws/ecs/payments")
    finding = _detect(context(as_of=LATER), retention_days=30).only()
    folder = planned(finding, tmp_path)
    run = executor()

    run.apply(folder)
    applied = _state("/aws/ecs/payments")
    assert applied["retentionInDays"] == 30
    assert {k: v for k, v in applied.items() if k != "retentionInDays"} == original

    run.rollback(folder)
    assert _state("/aws/ecs/payments") == original
    assert journal(folder)["rollback"]["status"] == "completed"


def test_apply_stops_when_someone_set_a_retention_since_the_scan(aws: None, tmp_path: Path) -> None:
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    moto_client("logs").put_retention_policy(logGroupName="app", retentionInDays=365)

    with pytest.raises(PrecheckFailed, match="retention"):
        executor().apply(folder)
    assert _state("app")["retentionInDays"] == 365


def test_apply_stops_when_the_skip_tag_appeared(aws: None, tmp_path: Path) -> None:
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    arn = _state("app")["logGroupArn"]
    moto_client("logs").tag_resource(resourceArn=arn, tags={"reclaim:skip": ""})

    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)
    assert "retentionInDays" not in _state("app")


def test_rollback_refuses_to_undo_a_retention_someone_else_chose(aws: None, tmp_path: Path) -> None:
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    executor().apply(folder)
    moto_client("logs").put_retention_policy(logGroupName="app", retentionInDays=7)

    with pytest.raises(PrecheckFailed, match="retention"):
        executor().rollback(folder)
    assert _state("app")["retentionInDays"] == 7


def test_apply_rerun_after_a_lost_journal_entry_does_not_repeat_the_change(
    aws: None, tmp_path: Path
) -> None:
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    result = executor().apply(folder)
    assert [s.status for s in result.steps] == ["done", "done", "done", "done"]
    # A crash between PutRetentionPolicy and its journal entry: the change step is 'started'.
    remediation = RemediationFolder(folder)
    recorded = remediation.load_journal()
    assert recorded is not None and recorded.apply is not None
    recorded.apply.status = "failed"
    change = recorded.apply.record("set-retention")
    assert change is not None
    change.status, change.outputs = "started", {}
    recorded.apply.steps = [s for s in recorded.apply.steps if s.step_id != "verify"]
    remediation.save_journal(recorded)

    rerun = executor().apply(folder)
    assert {s.step_id: s.status for s in rerun.steps}["set-retention"] == "already done"


def test_plan_is_valid_and_declares_only_its_calls(aws: None, tmp_path: Path) -> None:
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    remediation = RemediationFolder(folder)
    validate_pair(remediation.load_plan(), remediation.load_rollback(), RULES)
    readme = (folder / "README.md").read_text()
    assert "best-effort" in readme
    assert "gone for good" in readme
    assert "export it to S3" in readme


@pytest.mark.parametrize("days", [0, 2, 91, 10000])
def test_config_refuses_a_retention_cloudwatch_does_not_accept(days: int) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            {"rules": {RULE: {"retention_days": days}}}, source="reclaim.yml", base_dir=Path(".")
        )
    message = error.value.message
    assert f"rules.{RULE}.retention_days" in message
    assert "does not accept" in message
    assert all(str(d) in message for d in (1, 90, 3653))


def test_every_accepted_retention_is_a_valid_setting() -> None:
    for days in ALLOWED_RETENTION_DAYS:
        config = parse_config(
            {"rules": {RULE: {"retention_days": days}}}, source="reclaim.yml", base_dir=Path(".")
        )
        assert config.rule_settings(RULE).retention_days == days  # type: ignore[attr-defined]


def test_exclusion_patterns_match_the_group_name(aws: None) -> None:
    _group("/aws/lambda/legacy-thing", events=5)
    ctx = context(as_of=LATER, exclusions=Exclusions(resource_ids=("/aws/lambda/legacy-*",)))
    result = _detect(ctx)
    assert result.findings == []
    assert "exclusion pattern" in result.skip_reason("/aws/lambda/legacy-thing")


def test_groups_that_would_save_next_to_nothing_are_left_alone_by_default(aws: None) -> None:
    _group("tiny", events=5)
    result = detect(RULE, context(as_of=LATER))
    assert result.findings == []
    assert "saves $0.00/month, under min_monthly_savings_usd=1.0" in result.skip_reason("tiny")


# ---- the export variant: every stored event to S3 first, then the retention -------------

BUCKET = "acme-log-archive-us-east-1"
EXPORTING = {"export_bucket": "acme-log-archive-{region}", "export_prefix": "archive/logs"}


def _bucket(name: str = BUCKET) -> Any:
    s3 = moto_client("s3")
    s3.create_bucket(Bucket=name)
    return s3


def _exported_keys(bucket: str = BUCKET) -> list[str]:
    listed = moto_client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed if o["Key"] != "aws-logs-write-test")


def _exporting(tmp_path: Path, name: str = "/aws/ecs/payments") -> tuple[Any, Path]:
    _group(name, events=30, tags={"team": "payments"})
    finding = _detect(context(as_of=LATER), retention_days=30, **EXPORTING).only()
    return finding, planned(finding, tmp_path)


def _tasks() -> list[dict[str, Any]]:
    return list(moto_client("logs").describe_export_tasks()["exportTasks"])


def test_with_an_export_bucket_the_plan_exports_first_and_the_grade_is_full(
    aws: None, tmp_path: Path
) -> None:
    finding, folder = _exporting(tmp_path)
    assert finding.reversibility == "full"
    prefix = f"archive/logs/123456789012/us-east-1/{group_slug('/aws/ecs/payments')}"
    assert finding.resource["export"] == {"bucket": BUCKET, "prefix": prefix}
    plan = RemediationFolder(folder).load_plan()
    assert [s.id for s in plan.steps] == [
        "precheck",
        "precheck-tags",
        "precheck-export-bucket",
        "export",
        "set-retention",
        "verify",
    ]
    export = plan.step("export").call.params
    assert export["destination"] == BUCKET and export["destinationPrefix"] == prefix
    assert export["from"] == 0 and export["to"] == {"$from": "run.apply.observed_at_ms"}
    assert plan.step("set-retention").destroys_data
    readme = (folder / "README.md").read_text()
    assert f"s3://{BUCKET}/{prefix}/" in readme
    assert "cannot be put back" in readme


def test_apply_exports_every_event_before_the_retention_and_rollback_restores_it(
    aws: None, tmp_path: Path
) -> None:
    _bucket()
    _, folder = _exporting(tmp_path)
    original = _state("/aws/ecs/payments")

    result = executor().apply(folder)
    assert [s.step_id for s in result.steps][3:5] == ["export", "set-retention"]
    (task,) = _tasks()
    assert task["status"]["code"] == "COMPLETED"
    assert task["from"] == 0
    observed = journal(folder)["apply"]["observed_at"]
    assert task["to"] == int(datetime.fromisoformat(observed).timestamp() * 1000)
    keys = _exported_keys()
    assert keys and all(k.startswith("archive/logs/123456789012/us-east-1/") for k in keys)
    assert journal(folder)["apply"]["steps"][3]["outputs"] == {"taskId": task["taskId"]}
    assert _state("/aws/ecs/payments")["retentionInDays"] == 30

    executor().rollback(folder)
    assert _state("/aws/ecs/payments") == original
    assert _exported_keys() == keys  # the export stays: it is the backup


def test_a_bucket_forged_into_the_manifest_is_refused_and_nothing_is_exported(
    aws: None, tmp_path: Path
) -> None:
    _bucket()
    _bucket("attacker-bucket")
    _, folder = _exporting(tmp_path)
    for file in ("plan.json", "rollback.json", "README.md"):  # consistently: it validates
        path = folder / file
        path.write_text(path.read_text().replace(BUCKET, "attacker-bucket"))

    with pytest.raises(PrecheckFailed, match="no longer what the rule derives"):
        executor().apply(folder)
    assert _tasks() == []
    assert _exported_keys("attacker-bucket") == []
    assert "retentionInDays" not in _state("/aws/ecs/payments")


@pytest.mark.parametrize(
    "forged",
    [
        {"to": 1},  # a range that ends in 1970, before any event
        {"from": 4102444800000},  # one that starts in 2100
        {"logStreamNamePrefix": "nothing-matches"},
    ],
)
def test_a_time_range_forged_to_export_nothing_is_refused(
    aws: None, tmp_path: Path, forged: dict[str, Any]
) -> None:
    """The record carries no time range: the only range a plan may hold is the one the
    rule derives (everything up to the apply), so an edited one is refused."""
    _bucket()
    _, folder = _exporting(tmp_path)
    path = folder / "plan.json"
    plan = json.loads(path.read_text())
    export = next(step for step in plan["steps"] if step["id"] == "export")
    export["call"]["params"].update(forged)
    path.write_text(json.dumps(plan, indent=2) + "\n")

    with pytest.raises(ManifestError, match="derives"):
        executor().apply(folder)
    assert _tasks() == []
    assert "retentionInDays" not in _state("/aws/ecs/payments")


def test_a_plan_without_the_export_is_refused_when_the_default_branch_configures_one(
    aws: None, tmp_path: Path
) -> None:
    """A branch author cannot drop the export either: the apply derives the plan from the
    default branch's settings, which name a bucket."""
    _bucket()
    _group("app", events=10)
    folder = planned(_detect(context(as_of=LATER)).only(), tmp_path)
    trusted.remember(
        trusted.config_for_rule(RULE, {"min_monthly_savings_usd": 0, **EXPORTING}), LATER
    )

    with pytest.raises(PrecheckFailed):
        executor().apply(folder)
    assert "retentionInDays" not in _state("app")


def test_a_missing_bucket_stops_the_apply_before_anything_is_exported(
    aws: None, tmp_path: Path
) -> None:
    _, folder = _exporting(tmp_path)  # no bucket created

    with pytest.raises(PrecheckFailed, match="precheck-export-bucket"):
        executor().apply(folder)
    assert _tasks() == []
    assert "retentionInDays" not in _state("/aws/ecs/payments")


@pytest.mark.parametrize("ending", ["FAILED", "CANCELLED"])
def test_an_export_that_fails_stops_the_apply_and_the_retention_is_not_set(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    from moto.logs.models import LogsBackend

    original = LogsBackend.create_export_task

    def ends_badly(self: Any, **params: Any) -> str:
        task_id = original(self, **params)
        self.export_tasks[task_id].status = {"code": ending, "message": "Access Denied"}
        return task_id

    monkeypatch.setattr(LogsBackend, "create_export_task", ends_badly)
    _bucket()
    _, folder = _exporting(tmp_path)

    with pytest.raises(AwsCallFailed, match=f"export.*{ending}|{ending}.*export") as error:
        executor().apply(folder)
    assert "AWS says: Access Denied" in error.value.message
    assert "bucket policy" in (error.value.hint or "")
    assert "retentionInDays" not in _state("/aws/ecs/payments")
    steps = {s["step_id"]: s["status"] for s in journal(folder)["apply"]["steps"]}
    assert steps["export"] == "failed" and "set-retention" not in steps


def test_while_another_export_runs_in_the_account_the_apply_waits_and_changes_nothing(
    aws: None, tmp_path: Path
) -> None:
    from moto.logs.models import ExportTask, logs_backends

    _bucket()
    _, folder = _exporting(tmp_path)
    busy = ExportTask("t-1", "someone-elses", "/other", BUCKET, "x", 0, 1)
    busy.status = {"code": "RUNNING", "message": "running"}
    logs_backends["123456789012"]["us-east-1"].export_tasks["t-1"] = busy

    with pytest.raises(RetryLater, match="one export task"):
        executor().apply(folder)
    assert [t["taskId"] for t in _tasks()] == ["t-1"]
    assert "retentionInDays" not in _state("/aws/ecs/payments")

    busy.status = {"code": "COMPLETED", "message": "done"}
    executor().apply(folder)  # re-run: the account is free, the export and change go on
    assert len(_tasks()) == 2
    assert _state("/aws/ecs/payments")["retentionInDays"] == 30


def test_aws_refusing_a_second_export_makes_the_apply_wait_not_fail(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PENDING task (which the read of RUNNING ones does not see) or a race with another
    runner: CreateExportTask answers LimitExceededException."""
    from moto.logs.exceptions import LimitExceededException
    from moto.logs.models import LogsBackend

    def refused(self: Any, **params: Any) -> str:
        raise LimitExceededException()

    monkeypatch.setattr(LogsBackend, "create_export_task", refused)
    _bucket()
    _, folder = _exporting(tmp_path)

    with pytest.raises(RetryLater):
        executor().apply(folder)
    assert "retentionInDays" not in _state("/aws/ecs/payments")


def test_a_resumed_apply_finds_its_export_and_does_not_export_again(
    aws: None, tmp_path: Path
) -> None:
    _bucket()
    _, folder = _exporting(tmp_path)
    executor().apply(folder)
    # A crash after CreateExportTask, before its journal entry: the step is 'started'.
    remediation = RemediationFolder(folder)
    recorded = remediation.load_journal()
    assert recorded is not None and recorded.apply is not None
    recorded.apply.status = "failed"
    recorded.apply.steps = recorded.apply.steps[:4]
    recorded.apply.steps[3].status, recorded.apply.steps[3].outputs = "started", {}
    remediation.save_journal(recorded)
    moto_client("logs").delete_retention_policy(logGroupName="/aws/ecs/payments")

    rerun = executor().apply(folder)
    assert {s.step_id: s.status for s in rerun.steps}["export"] == "already done"
    assert len(_tasks()) == 1
    assert _state("/aws/ecs/payments")["retentionInDays"] == 30


def test_the_saving_shown_is_net_of_the_export_s3_keeps_billing(aws: None) -> None:
    _group("app", events=50)
    finding = _detect(context(as_of=LATER), **EXPORTING).only()
    net = net_savings(finding)
    assert net is not None
    stored = _state("app")["storedBytes"]
    s3 = bundled_prices().s3
    assert s3 is not None
    assert net.backup.monthly_usd == round(stored / 1024**3 * s3.standard_gb_month, 2)
    assert f"s3://{BUCKET}/" in net.backup.what
    assert net.net_monthly_usd == round(finding.cost.monthly_usd - net.backup.monthly_usd, 2)
    assert net_savings(_detect(context(as_of=LATER)).only()) is None  # no export, no backup


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        ("Acme_Logs", "not an S3 bucket name"),
        ("logs-{acount}", "only the placeholders"),
        ("ab", "not an S3 bucket name"),
    ],
)
def test_config_refuses_an_export_bucket_that_cannot_be_one(bucket: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            {"rules": {RULE: {"export_bucket": bucket}}}, source="reclaim.yml", base_dir=Path(".")
        )
    assert f"rules.{RULE}.export_bucket" in error.value.message
    assert message in error.value.message
