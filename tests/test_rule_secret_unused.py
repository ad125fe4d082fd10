"""secret-unused: detect on moto, apply (DeleteSecret with a recovery window), roll back
(RestoreSecret), and compare the restored secret with the original.

moto never records LastAccessedDate (every secret reads as never retrieved); where a test
needs a retrieval date, a thin client wrapper adds it to moto's answers, the way Secrets
Manager reports it (a day-precision timestamp).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.errors import PrecheckFailed
from generator.exclusions import Exclusions
from generator.rules import RULES
from generator.rules.logs_retention import group_slug
from tests.rule_harness import context, detect, executor, journal, moto_client, planned

RULE = "secret-unused"
LATER = datetime.now(UTC) + timedelta(days=120)
"""moto stamps secrets with the real clock; scanning 120 days later makes them unused."""


def _secret(name: str, *, tags: dict[str, str] | None = None, **extra: Any) -> str:
    sm = moto_client("secretsmanager")
    params: dict[str, Any] = {"Name": name, "SecretString": json.dumps({"password": "hunter2"})}
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return str(sm.create_secret(**params, **extra)["ARN"])


def _state(name: str) -> dict[str, Any]:
    """Every attribute DescribeSecret reports, and the value (the restore must bring it back)."""
    sm = moto_client("secretsmanager")
    described = sm.describe_secret(SecretId=name)
    described.pop("ResponseMetadata")
    if described.get("DeletedDate") is None:
        described["value"] = sm.get_secret_value(SecretId=name)["SecretString"]
    return described


class _Retrieved:
    """moto's client, with a LastAccessedDate on the named secrets' descriptions."""

    def __init__(self, client: Any, last_accessed: dict[str, datetime]) -> None:
        self._client, self._last = client, last_accessed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _add(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("Name") in self._last:
            item["LastAccessedDate"] = self._last[item["Name"]]
        return item

    def describe_secret(self, **params: Any) -> dict[str, Any]:
        return self._add(self._client.describe_secret(**params))

    def get_paginator(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        wrapper = self

        class _Pages:
            def paginate(self, **params: Any) -> Any:
                for page in paginator.paginate(**params):
                    page["SecretList"] = [wrapper._add(i) for i in page.get("SecretList", [])]
                    yield page

        return _Pages()


def _retrieved_context(last: dict[str, datetime], **kwargs: Any) -> Any:
    def client(service: str) -> Any:
        made = moto_client(service)
        return _Retrieved(made, last) if service == "secretsmanager" else made

    return context(as_of=LATER, client=client, **kwargs)


def _midnight(days_before_scan: int) -> datetime:
    day = (LATER - timedelta(days=days_before_scan)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_finds_unused_secrets_and_says_why_others_are_left_alone(aws: None) -> None:
    _secret("app/db-password", tags={"team": "payments"})
    _secret("app/kept", tags={"reclaim:skip": "yes"})
    _secret("app/recent")
    _secret("app/deleted")
    moto_client("secretsmanager").delete_secret(SecretId="app/deleted", RecoveryWindowInDays=7)
    _secret("rds!cluster-1", tags={"aws:secretsmanager:owningService": "rds"})

    result = detect(RULE, _retrieved_context({"app/recent": _midnight(3)}))

    finding = result.only()
    assert finding.resource_id == "app/db-password"
    assert finding.id == f"secret-unused-123456789012-us-east-1-{group_slug('app/db-password')}"
    assert finding.reversibility == "full-delayed"
    assert "never retrieved" in finding.title
    assert finding.cost.monthly_usd == 0.40 and "secret-month" in finding.cost.basis
    assert "skip tag" in result.skip_reason("app/kept")
    assert "under min_unused_days=90" in result.skip_reason("app/recent")
    assert "managed by rds" in result.skip_reason("rds!cluster-1")
    # ListSecrets leaves out secrets already scheduled for deletion.
    assert not any(s.resource_id == "app/deleted" for s in result.skipped + result.findings)


def test_a_secret_retrieved_long_ago_is_found_by_its_last_retrieval(aws: None) -> None:
    _secret("old")
    finding = detect(RULE, _retrieved_context({"old": _midnight(200)})).only()
    assert "last retrieved 200 days ago" in finding.title
    assert finding.risk == "low"
    record = RULES[RULE].record(finding)
    assert record.never_retrieved is False  # type: ignore[attr-defined]


def test_never_retrieved_secrets_can_be_left_out(aws: None) -> None:
    _secret("never")
    result = detect(RULE, context(as_of=LATER), include_never_retrieved=False)
    assert result.findings == []
    assert "include_never_retrieved is off" in result.skip_reason("never")


def test_young_never_retrieved_secret_is_left_alone(aws: None) -> None:
    _secret("fresh")
    result = detect(RULE, context(as_of=datetime.now(UTC) + timedelta(days=10, minutes=1)))
    assert result.findings == []
    assert "never retrieved, created 10 day(s) ago, under min_unused_days=90" in (
        result.skip_reason("fresh")
    )


def test_rotating_and_replicated_secrets_are_left_alone(aws: None) -> None:
    _secret("replicated", AddReplicaRegions=[{"Region": "eu-west-1"}])
    _secret("rotating")

    class _Rotating(_Retrieved):
        def _add(self, item: dict[str, Any]) -> dict[str, Any]:
            if item.get("Name") == "rotating":
                item["RotationEnabled"] = True
                item["RotationLambdaARN"] = "arn:aws:lambda:us-east-1:123456789012:function:rot"
            return item

    result = detect(
        RULE,
        context(
            as_of=LATER,
            client=lambda s: _Rotating(moto_client(s), {}) if s == "secretsmanager" else None,
        ),
    )
    assert result.findings == []
    assert "replicated to eu-west-1" in result.skip_reason("replicated")
    assert "rotation is on (arn:aws:lambda" in result.skip_reason("rotating")


def test_apply_then_rollback_restores_the_same_secret(aws: None, tmp_path: Path) -> None:
    arn = _secret("svc/api-key", tags={"team": "web", "env": "staging"}, Description="old key")
    original = _state("svc/api-key")
    finding = detect(RULE, context(as_of=LATER)).only()
    folder = planned(finding, tmp_path)
    readme = (folder / "README.md").read_text()
    assert "Deadline" in readme and "30 days" in readme

    executor().apply(folder)
    deleted = _state("svc/api-key")
    assert deleted["DeletedDate"] is not None
    applied = journal(folder)["apply"]
    deletion = next(s for s in applied["steps"] if s["step_id"] == "delete")
    assert deletion["outputs"]["DeletionDate"]  # the deadline, in the journal
    with pytest.raises(Exception, match="InvalidRequestException"):
        moto_client("secretsmanager").get_secret_value(SecretId=arn)

    executor().rollback(folder)
    restored = _state("svc/api-key")
    assert restored == original  # every attribute DescribeSecret reports, and the value
    assert journal(folder)["rollback"]["status"] == "completed"


def test_apply_refuses_a_secret_retrieved_since_the_scan(aws: None, tmp_path: Path) -> None:
    _secret("svc/token")
    folder = planned(detect(RULE, context(as_of=LATER)).only(), tmp_path)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def client_for(service: str, region: str) -> Any:
        made = moto_client(service, region)
        return _Retrieved(made, {"svc/token": today}) if service == "secretsmanager" else made

    with pytest.raises(PrecheckFailed, match="LastAccessedDate"):
        executor(client_for).apply(folder)
    assert _state("svc/token").get("DeletedDate") is None


def test_apply_refuses_when_the_skip_tag_appeared(aws: None, tmp_path: Path) -> None:
    arn = _secret("svc/token")
    folder = planned(detect(RULE, context(as_of=LATER)).only(), tmp_path)
    moto_client("secretsmanager").tag_resource(
        SecretId=arn, Tags=[{"Key": "reclaim:skip", "Value": ""}]
    )
    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)
    assert _state("svc/token").get("DeletedDate") is None


def test_rollback_refuses_a_secret_nobody_deleted(aws: None, tmp_path: Path) -> None:
    _secret("svc/token")
    folder = planned(detect(RULE, context(as_of=LATER)).only(), tmp_path)
    executor().apply(folder)
    moto_client("secretsmanager").restore_secret(SecretId="svc/token")
    moto_client("secretsmanager").tag_resource(
        SecretId="svc/token", Tags=[{"Key": "owner", "Value": "someone"}]
    )
    with pytest.raises(PrecheckFailed, match="scheduled for deletion"):
        executor().rollback(folder)


def test_exclusion_patterns_match_the_secret_name(aws: None) -> None:
    _secret("legacy/thing")
    ctx = context(as_of=LATER, exclusions=Exclusions(resource_ids=("legacy/*",)))
    result = detect(RULE, ctx)
    assert result.findings == []
    assert "exclusion pattern" in result.skip_reason("legacy/thing")
