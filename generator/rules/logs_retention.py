"""logs-retention: CloudWatch log groups that keep every event forever. Set a retention.

Undo: DeleteRetentionPolicy, so the group never expires events again. Events CloudWatch
expired in between are gone for good, hence the grade best-effort.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator.aws.prices import BYTES_PER_GB
from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
)
from generator.iam.scopes import LOG_GROUP, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext

# The only values PutRetentionPolicy accepts (CloudWatch Logs API reference).
ALLOWED_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
# Log groups that are often kept on purpose (audit trails, security evidence).
_KEPT_ON_PURPOSE = re.compile(
    r"audit|cloudtrail|compliance|security|guardduty|flow-?logs?|waf|forensic", re.IGNORECASE
)
_IMPORTANT_TAG = re.compile(r"prod|keep|critical|important|retain|legal", re.IGNORECASE)
_UNSAFE_ID_CHARS = re.compile(r"[^a-z0-9_.-]+")


class LogsRetentionSettings(RuleSettings):
    retention_days: int = Field(
        default=90,
        description="Retention to set, in days; one of the values CloudWatch Logs accepts: "
        + ", ".join(str(d) for d in ALLOWED_RETENTION_DAYS),
    )
    min_stored_gib: float = Field(
        default=0.0, ge=0, description="Only propose groups storing at least this much."
    )
    min_monthly_savings_usd: float = Field(
        default=1.0,
        ge=0,
        description="Leave alone groups whose estimated saving is smaller (an account holds "
        "hundreds of tiny never-expiring groups; 0 proposes every one). Groups whose saving "
        "is unknown are always proposed.",
    )

    @field_validator("retention_days")
    @classmethod
    def _accepted_by_cloudwatch(cls, days: int) -> int:
        if days not in ALLOWED_RETENTION_DAYS:
            nearest = min(ALLOWED_RETENTION_DAYS, key=lambda allowed: abs(allowed - days))
            raise ValueError(
                f"CloudWatch Logs does not accept a retention of {days} days (nearest accepted: "
                f"{nearest}); use one of {', '.join(str(d) for d in ALLOWED_RETENTION_DAYS)}"
            )
        return days


class LogGroupRecord(BaseModel):
    """A log group as DescribeLogGroups (and its tags) describe it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arn: str
    created: datetime | None
    stored_bytes: int
    retention_days: int | None
    log_group_class: str | None = None
    kms_key_id: str | None = None
    metric_filter_count: int = 0
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any], tags: dict[str, str] | None = None) -> LogGroupRecord:
        created_ms = item.get("creationTime")
        # Older responses only carry `arn`, which ends in ':*'; tagging APIs want it without.
        arn = item.get("logGroupArn") or str(item.get("arn", "")).removesuffix(":*")
        return cls(
            name=item["logGroupName"],
            arn=arn,
            created=datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else None,
            stored_bytes=int(item.get("storedBytes") or 0),
            retention_days=item.get("retentionInDays"),
            log_group_class=item.get("logGroupClass"),
            kms_key_id=item.get("kmsKeyId"),
            metric_filter_count=int(item.get("metricFilterCount") or 0),
            tags=dict(sorted((tags or {}).items())),
        )

    @property
    def stored_gib(self) -> float:
        return self.stored_bytes / BYTES_PER_GB


class RetentionProposal(BaseModel):
    """What the finding records: enough to re-derive the plan and the rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: LogGroupRecord
    retention_days: int
    skip_tag: str


def group_slug(name: str) -> str:
    """A finding-ID-safe stand-in for a log group name (which may hold '/' and '#'),
    unique through a short digest of the exact name."""
    readable = _UNSAFE_ID_CHARS.sub("-", name.lower()).strip("-.")[:60] or "group"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _describe(name: str) -> AwsCall:
    # The exact name sorts first among the names it prefixes, so it is on the first page.
    return AwsCall(
        service="logs", operation="DescribeLogGroups", params={"logGroupNamePrefix": name}
    )


def _the_group(name: str) -> str:
    return f"logGroups[?logGroupName == {json_literal(name)}]"


def _group_where(name: str, condition: str) -> str:
    """JMESPath: true when the named group exists and meets ``condition``."""
    return f"length(logGroups[?logGroupName == {json_literal(name)} && {condition}]) > `0`"


class LogsRetention(Rule[LogsRetentionSettings, RetentionProposal]):
    name: ClassVar[str] = "logs-retention"
    summary: ClassVar[str] = "CloudWatch log groups that never expire events and store data"
    resource_type: ClassVar[str] = "AWS::Logs::LogGroup"
    reversibility: ClassVar[Reversibility] = "best-effort"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "log groups that never expire events and store data (`storedBytes > 0`), older than "
            "the retention"
        ),
        change=(
            "PutRetentionPolicy `retention_days` (90; only values CloudWatch accepts, checked in "
            "the config)"
        ),
        undo=(
            "DeleteRetentionPolicy, after checking nobody chose another retention since. **Events "
            "expired meanwhile are gone**"
        ),
    )
    settings_model = LogsRetentionSettings
    record_model = RetentionProposal
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("logs", "DescribeLogGroups"), ("logs", "ListTagsForResource")}),
        apply=frozenset(
            {
                ("logs", "DescribeLogGroups"),
                ("logs", "ListTagsForResource"),
                ("logs", "PutRetentionPolicy"),
            }
        ),
        rollback=frozenset({("logs", "DescribeLogGroups"), ("logs", "DeleteRetentionPolicy")}),
        scopes={
            "logs:PutRetentionPolicy": never_skipped(
                LOG_GROUP, "never a log group carrying the skip tag"
            ),
            "logs:DeleteRetentionPolicy": only(
                LOG_GROUP, why="log groups only, to undo a retention change"
            ),
            # a read IAM can narrow too
            "logs:ListTagsForResource": only(LOG_GROUP, why="log groups"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: LogsRetentionSettings
    ) -> Iterator[Finding | SkippedResource]:
        logs = ctx.client("logs")
        items = (
            item
            for page in logs.get_paginator("describe_log_groups").paginate()
            for item in page.get("logGroups", [])
        )
        yield from self.evaluate(ctx, settings, items, logs)

    def evaluate(
        self,
        ctx: ScanContext,
        settings: LogsRetentionSettings,
        items: Iterable[dict[str, Any]],
        logs: Any,
    ) -> Iterator[Finding | SkippedResource]:
        """DescribeLogGroups entries, judged on what the listing says; ``logs`` is asked for
        tags only for the findings propose can open (ctx.to_confirm), never for every group.

        Tags decide the skip tag and the risk. A finding beyond the budget is reported
        without them (it is not proposed in this run); the plan's own pre-check reads the
        tags again before the apply changes anything."""
        candidates: dict[str, tuple[LogGroupRecord, Cost]] = {}
        for item in items:
            group = LogGroupRecord.from_api(item)
            if group.retention_days is not None or group.stored_bytes <= 0:
                continue  # already expires events, or holds nothing: not this rule's business
            reason = self._skip_reason(ctx, settings, group)
            cost = _saving(ctx, group, settings.retention_days)
            if (
                reason is None
                and not cost.unknown
                and cost.monthly_usd < settings.min_monthly_savings_usd
            ):
                reason = (
                    f"saves ${cost.monthly_usd:,.2f}/month, under min_monthly_savings_usd="
                    f"{settings.min_monthly_savings_usd}"
                )
            reason = reason or ctx.exclusions.reason_to_skip(group.name, {})
            if reason is not None:
                yield self.skipped(ctx, group.name, reason)
                continue
            candidates[group.name] = (group, cost)
        untagged = [self._finding(ctx, settings, *candidate) for candidate in candidates.values()]
        confirmed = {finding.resource_id for finding in ctx.to_confirm(untagged)}
        for finding in untagged:
            if finding.resource_id not in confirmed:
                yield finding
                continue
            group, cost = candidates[finding.resource_id]
            tags = logs.list_tags_for_resource(resourceArn=group.arn).get("tags") or {}
            group = group.model_copy(update={"tags": dict(sorted(tags.items()))})
            reason = ctx.exclusions.reason_to_skip(group.name, group.tags)
            if reason is not None:
                yield self.skipped(ctx, group.name, reason)
            else:
                yield self._finding(ctx, settings, group, cost)

    def _skip_reason(
        self, ctx: ScanContext, settings: LogsRetentionSettings, group: LogGroupRecord
    ) -> str | None:
        if group.log_group_class == "DELIVERY":
            return "DELIVERY class: CloudWatch fixes its retention"
        if group.stored_gib < settings.min_stored_gib:
            size = _size(group.stored_bytes)
            return f"stores {size}, under min_stored_gib={settings.min_stored_gib}"
        age = _age_days(group, ctx.as_of)
        if age is not None and age <= settings.retention_days:
            return (
                f"{age} day(s) old, not older than the {settings.retention_days}-day retention: "
                "nothing would expire yet"
            )
        return None

    def _finding(
        self,
        ctx: ScanContext,
        settings: LogsRetentionSettings,
        group: LogGroupRecord,
        cost: Cost,
    ) -> Finding:
        retention = settings.retention_days
        risk, risk_reasons = _risk(group, retention)
        record = RetentionProposal(
            group=group, retention_days=retention, skip_tag=ctx.exclusions.skip_tag
        )
        evidence = [
            Evidence(label="Retention", value="never expire", source="DescribeLogGroups"),
            Evidence(
                label="Stored",
                value=f"{group.stored_bytes:,} bytes ({_size(group.stored_bytes)})",
                source="DescribeLogGroups storedBytes",
            ),
            Evidence(
                label="Created",
                value=group.created.isoformat() if group.created else "not reported",
                source="DescribeLogGroups",
            ),
        ]
        if group.log_group_class:
            evidence.append(
                Evidence(label="Class", value=group.log_group_class, source="DescribeLogGroups")
            )
        return self.new_finding(
            ctx,
            title=f"Expire events older than {retention} days in log group {group.name}",
            cost=cost,
            risk=risk,
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def id_part(self, resource_id: str) -> str:
        return group_slug(resource_id)

    def resource_of(self, record: RetentionProposal) -> str:
        return record.group.name

    def tags_of(self, record: RetentionProposal) -> Mapping[str, str]:
        return record.group.tags

    def plan(self, finding: Finding, record: RetentionProposal) -> ManifestBody:
        group = record.group
        the_group = _the_group(group.name)
        prechecks = (
            steps.precheck(
                "precheck",
                f"Read log group {group.name} and confirm it still exists, still never "
                f"expires events, and is still of class {group.log_group_class or 'STANDARD'}.",
                _describe(group.name),
                Expectation(path=f"length({the_group})", equals=1, what="log group exists"),
                Expectation(
                    path=f"{the_group} | [0].retentionInDays",
                    equals=None,
                    what="retention (none: never expire)",
                ),
                Expectation(
                    path=f"{the_group} | [0].logGroupClass",
                    equals=group.log_group_class,
                    what="log group class",
                ),
            ),
            steps.skip_tag_precheck(
                "the group",
                record.skip_tag,
                AwsCall(
                    service="logs",
                    operation="ListTagsForResource",
                    params={"resourceArn": group.arn},
                ),
                keys_at="keys(tags || `{}`)",
            ),
        )
        return ManifestBody(
            steps=_retention(record).apply_steps(prechecks),
            notes=(
                f"Within days of the merge CloudWatch permanently deletes events older than "
                f"{record.retention_days} days. reclaim takes no copy: if anything must be "
                f"kept, export it to S3 (CreateExportTask) before merging.",
                "Metric filters and subscriptions keep working; they only see new events.",
            ),
        )

    def rollback(self, finding: Finding, record: RetentionProposal) -> ManifestBody:
        group, days = record.group, record.retention_days
        prechecks = (
            steps.precheck(
                "precheck",
                f"Confirm {group.name} still has the {days}-day retention reclaim set "
                "(if someone chose another since, rolling back would undo their choice).",
                _describe(group.name),
                _retention_is(group.name, days),
            ),
        )
        return ManifestBody(
            steps=_retention(record).rollback_steps(prechecks),
            notes=(
                f"Events CloudWatch expired while the {days}-day retention was in place are "
                "gone for good; the rollback only stops further expiry.",
            ),
        )


def _retention_is(name: str, days: int | None) -> Expectation:
    if days is None:
        return Expectation(
            path=f"{_the_group(name)} | [0].retentionInDays",
            equals=None,
            what="retention (none: never expire)",
        )
    return Expectation(
        path=f"{_the_group(name)} | [0].retentionInDays", equals=days, what="retention"
    )


def _retention(record: RetentionProposal) -> steps.SetAndSetBack:
    """Never-expire → ``days``, and back; no record step: "never" is the recorded value."""
    name, days = record.group.name, record.retention_days
    return steps.SetAndSetBack(
        set=steps.change(
            "set-retention",
            f"Set the retention of {name} to {days} days; CloudWatch then deletes "
            f"events older than that.",
            AwsCall(
                service="logs",
                operation="PutRetentionPolicy",
                params={"logGroupName": name, "retentionInDays": days},
            ),
            already_done=Lookup(
                call=_describe(name),
                found_when=_group_where(name, f"retentionInDays == `{days}`"),
            ),
        ),
        verify_set=steps.verify(
            "verify",
            f"Confirm the retention of {name} is {days} days.",
            _describe(name),
            _retention_is(name, days),
        ),
        set_back=steps.change(
            "remove-retention",
            f"Remove the retention of {name}: events never expire again.",
            AwsCall(
                service="logs", operation="DeleteRetentionPolicy", params={"logGroupName": name}
            ),
            already_done=Lookup(
                call=_describe(name),
                found_when=_group_where(name, "retentionInDays == `null`"),
            ),
        ),
        verify_set_back=(
            steps.verify(
                "verify",
                f"Confirm {name} never expires events again.",
                _describe(name),
                _retention_is(name, None),
            ),
        ),
    )


def _size(size: float) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,.0f} bytes"


def _age_days(group: LogGroupRecord, as_of: datetime) -> int | None:
    """Days since creation; None when unknown or in the future (sanitised captures)."""
    if group.created is None or group.created > as_of:
        return None
    return (as_of - group.created) // timedelta(days=1)


def _saving(ctx: ScanContext, group: LogGroupRecord, retention: int) -> Cost:
    age = _age_days(group, ctx.as_of)
    if age is None or age == 0:  # (0 cannot pass the age check; guards the division)
        current = ctx.prices.logs_storage_cost(
            region=ctx.region, stored_bytes=group.stored_bytes, what="stored today"
        )
        return ctx.prices.unknown_cost(
            ctx.region,
            f"the group stores ${current.monthly_usd:,.2f}/month ({current.basis}), but its "
            "creation time is not known, so how much is older than the retention is unknown",
        )
    expiring = group.stored_bytes * max(0.0, 1 - retention / age)
    return ctx.prices.logs_storage_cost(
        region=ctx.region,
        stored_bytes=expiring,
        what=(
            f"events older than {retention} days, estimated as {1 - retention / age:.0%} of "
            f"the {_size(group.stored_bytes)} stored (steady ingestion over its {age} days "
            "assumed)"
        ),
    )


def _risk(group: LogGroupRecord, retention: int) -> tuple[Risk, list[str]]:
    reasons = [f"events older than {retention} days are deleted for good (no copy is taken)"]
    if _KEPT_ON_PURPOSE.search(group.name):
        reasons.append("the name suggests audit or security logs, often kept on purpose")
        return "high", reasons
    for key, value in group.tags.items():
        if _IMPORTANT_TAG.search(key) or _IMPORTANT_TAG.search(value):
            reasons.append(f"tag {key}={value!r} suggests someone meant to keep it")
            return "high", reasons
    return "medium", reasons
