"""logs-retention: detect on moto, apply, roll back, and compare with the original."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.aws.prices import bundled_prices
from generator.config import parse_config
from generator.errors import ConfigError, PrecheckFailed
from generator.exclusions import Exclusions
from generator.manifest.folder import RemediationFolder
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.logs_retention import ALLOWED_RETENTION_DAYS, group_slug
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
