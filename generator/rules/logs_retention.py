"""logs-retention: CloudWatch log groups that keep every event forever. Set a retention.

Undo: DeleteRetentionPolicy, so the group never expires events again. Events CloudWatch
expired in between are gone for good, hence the grade best-effort; with ``export_bucket``
set (on the default branch) the plan first exports every event the group stores to S3
(CreateExportTask, waited for until COMPLETED), and the grade is full: nothing is lost,
though expired events stay in S3 and cannot be put back into the group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from generator.aws.prices import BYTES_PER_GB, PriceTable
from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
)
from generator.iam.scopes import BUCKET, LOG_GROUP, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, NotBefore, Step, WaitFor
from generator.manifest.paths import json_literal
from generator.manifest.refs import ref
from generator.rules.base import (
    BackupCost,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
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
# S3 bucket naming rules (general purpose buckets), after the placeholders are filled in.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_PLACEHOLDERS = {"account": "123456789012", "region": "us-east-1"}
# CloudWatch Logs runs one export task (PENDING or RUNNING) per account at a time
# (CreateExportTask, botocore's logs model); a second is refused with this error.
EXPORT_BUSY = "LimitExceededException"


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

    export_bucket: str | None = Field(
        default=None,
        description="Before setting the retention, export every event the group stores to "
        "this S3 bucket (CreateExportTask, waited for until COMPLETED), so nothing is lost: "
        "the grade becomes full. `{account}` and `{region}` are replaced by the group's "
        "(an export bucket must be in the group's Region). The bucket must exist, belong to "
        "the account, and carry the bucket policy CloudWatch Logs needs (docs/rules.md). "
        "Unset: no export.",
    )
    export_prefix: str = Field(
        default="reclaim/logs-retention",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$",
        description="Key prefix of the exports; each plan writes under "
        "<prefix>/<account>/<region>/<group>/.",
    )

    @field_validator("export_bucket")
    @classmethod
    def _a_bucket_name(cls, bucket: str | None) -> str | None:
        if bucket is None:
            return None
        try:
            example = bucket.format(**_BUCKET_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"{bucket!r}: only the placeholders {{account}} and {{region}} may be used"
            ) from None
        if not _BUCKET_NAME.fullmatch(example) or ".." in example:
            raise ValueError(
                f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots "
                "and hyphens, starting and ending with a letter or digit)"
            )
        return bucket

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


class ExportDestination(BaseModel):
    """Where the plan exports the group's events: from the default branch's reclaim.yml
    (the apply derives it again from there; a PR cannot choose it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"


class RetentionProposal(BaseModel):
    """What the finding records: enough to re-derive the plan and the rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: LogGroupRecord
    retention_days: int
    skip_tag: str
    export: ExportDestination | None = None

    @model_serializer(mode="wrap")
    def _without_an_unset_export(self, handler: SerializerFunctionWrapHandler) -> Any:
        # export came after findings were published: left out when unset, so every record
        # written before it serializes byte for byte as it did.
        data = handler(self)
        if isinstance(data, dict) and data.get("export") is None:
            data.pop("export", None)
        return data


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
    graded_by_setting: ClassVar[Mapping[str, Reversibility]] = {"export_bucket": "full"}
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "log groups that never expire events and store data (`storedBytes > 0`), older than "
            "the retention"
        ),
        change=(
            "PutRetentionPolicy `retention_days` (90; only values CloudWatch accepts, checked in "
            "the config); with `export_bucket`, CreateExportTask of every stored event to S3 "
            "first, waited for until COMPLETED (one export per account at a time)"
        ),
        undo=(
            "DeleteRetentionPolicy, after checking nobody chose another retention since. **Events "
            "expired meanwhile are gone** from the group (with `export_bucket`: kept in S3, "
            "grade full)"
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
                # with export_bucket: the bucket is checked, the export made and waited for
                ("s3", "HeadBucket"),
                ("logs", "CreateExportTask"),
                ("logs", "DescribeExportTasks"),
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
            "logs:CreateExportTask": never_skipped(
                LOG_GROUP, "exports of log groups not carrying the skip tag"
            ),
            "s3:ListBucket": only(BUCKET, why="HeadBucket of the configured export bucket"),
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
        tags only for the findings propose can open (ctx.confirmed), never for every group.

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

        def confirmed(finding: Finding) -> Finding | SkippedResource:
            group, cost = candidates[finding.resource_id]
            tags = logs.list_tags_for_resource(resourceArn=group.arn).get("tags") or {}
            group = group.model_copy(update={"tags": dict(sorted(tags.items()))})
            reason = ctx.exclusions.reason_to_skip(group.name, group.tags)
            if reason is not None:
                return self.skipped(ctx, group.name, reason)
            return self._finding(ctx, settings, group, cost)

        yield from ctx.confirmed_each(untagged, confirmed)

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
        export = _export_destination(ctx, settings, group)
        risk, risk_reasons = _risk(group, retention, export)
        record = RetentionProposal(
            group=group,
            retention_days=retention,
            skip_tag=ctx.exclusions.skip_tag,
            export=export,
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
        if export is not None:
            evidence.append(
                Evidence(
                    label="Export",
                    value=f"every stored event to {export.url} before the change",
                    source="reclaim.yml rules.logs-retention.export_bucket (default branch)",
                )
            )
        finding = self.new_finding(
            ctx,
            title=f"Expire events older than {retention} days in log group {group.name}",
            cost=cost,
            risk=risk,
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )
        if export is not None:  # the export is the backup: nothing is lost
            return finding.model_copy(update={"reversibility": "full"})
        return finding

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
        if record.export is None:
            return ManifestBody(
                steps=_retention(record).apply_steps(prechecks),
                notes=(
                    f"Within days of the merge CloudWatch permanently deletes events older than "
                    f"{record.retention_days} days. reclaim takes no copy: if anything must be "
                    f"kept, export it to S3 (CreateExportTask) before merging.",
                    "Metric filters and subscriptions keep working; they only see new events.",
                ),
            )
        export = record.export
        return ManifestBody(
            steps=_retention(record).apply_steps(
                (*prechecks, _bucket_precheck(finding, export), _export(finding, record))
            ),
            notes=(
                f"Before the change, reclaim exports every event {group.name} stores up to the "
                f"apply to {export.url} (CreateExportTask) and waits until the export is "
                "COMPLETED; an export that fails or is cancelled stops the apply before the "
                "retention is set. The bucket is the one the default branch's reclaim.yml "
                "names (export_bucket), checked at the apply to exist in this Region and "
                "belong to this account.",
                f"Within days of the merge CloudWatch deletes events older than "
                f"{record.retention_days} days from the group; the export keeps them in S3, "
                "where they stay until someone deletes them (they cannot be put back into the "
                "log group).",
                "CloudWatch Logs runs one export task per account at a time: while another is "
                "running, the apply waits (it stops and says when to re-run it).",
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
        if record.export is None:
            notes = (
                f"Events CloudWatch expired while the {days}-day retention was in place are "
                "gone for good; the rollback only stops further expiry.",
            )
        else:
            notes = (
                f"Every event stored when the apply ran is in {record.export.url} (the "
                "apply's export); events CloudWatch expired from the group since cannot be put "
                "back into it. The rollback stops further expiry.",
            )
        return ManifestBody(steps=_retention(record).rollback_steps(prechecks), notes=notes)

    def backup_cost(self, record: RetentionProposal, prices: PriceTable) -> BackupCost | None:
        export = record.export
        if export is None:
            return None
        region = record.group.arn.split(":")[3]
        cost = prices.s3_standard_storage_cost(
            region=region,
            stored_bytes=record.group.stored_bytes,
            what="the group's stored bytes (the export is gzip-compressed, as CloudWatch "
            "stores them)",
        )
        return BackupCost(
            what=f"the export in {export.url}",
            monthly_usd=round(cost.monthly_usd, 2),
            basis=cost.basis,
            kept_days=None,
            upper_bound=False,
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
            # with an export, the change waits for it: refused unless the backup completed
            destroys_data=record.export is not None,
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


def _risk(
    group: LogGroupRecord, retention: int, export: ExportDestination | None
) -> tuple[Risk, list[str]]:
    if export is None:
        reasons = [f"events older than {retention} days are deleted for good (no copy is taken)"]
    else:
        reasons = [
            f"events older than {retention} days are deleted from the group; the export to "
            f"{export.url} keeps them, but they cannot be put back into the group"
        ]
    if _KEPT_ON_PURPOSE.search(group.name):
        reasons.append("the name suggests audit or security logs, often kept on purpose")
        return "high", reasons
    for key, value in group.tags.items():
        if _IMPORTANT_TAG.search(key) or _IMPORTANT_TAG.search(value):
            reasons.append(f"tag {key}={value!r} suggests someone meant to keep it")
            return "high", reasons
    return "medium", reasons


def _export_destination(
    ctx: ScanContext, settings: LogsRetentionSettings, group: LogGroupRecord
) -> ExportDestination | None:
    if settings.export_bucket is None:
        return None
    return ExportDestination(
        bucket=settings.export_bucket.format(account=ctx.account_id, region=ctx.region),
        prefix=f"{settings.export_prefix}/{ctx.account_id}/{ctx.region}/{group_slug(group.name)}",
    )


def _bucket_precheck(finding: Finding, export: ExportDestination) -> Step:
    return steps.precheck(
        "precheck-export-bucket",
        f"Confirm the export bucket {export.bucket} exists, belongs to account "
        f"{finding.account} and is in {finding.region} (CloudWatch Logs exports only to a "
        "bucket in the group's Region).",
        AwsCall(
            service="s3",
            operation="HeadBucket",
            params={"Bucket": export.bucket, "ExpectedBucketOwner": finding.account},
        ),
        Expectation(path="BucketRegion", equals=finding.region, what="bucket Region"),
        failure_hint="create the bucket named by rules.logs-retention.export_bucket on the "
        "default branch (in this account and Region, with the bucket policy docs/rules.md "
        "gives), or unset export_bucket and let the next scan propose again.",
    )


def _export(finding: Finding, record: RetentionProposal) -> Step:
    assert record.export is not None
    name, export = record.group.name, record.export
    task_name = f"reclaim-{finding.id}"[:512]
    mine = (
        f"exportTasks[?taskName == {json_literal(task_name)} && logGroupName == "
        f"{json_literal(name)} && destination == {json_literal(export.bucket)} && "
        f"destinationPrefix == {json_literal(export.prefix)} && "
        "contains(['PENDING', 'RUNNING', 'COMPLETED'], status.code)]"
    )
    return steps.backup(
        "export",
        f"Export every event {name} stores up to now to {export.url} and wait until the "
        "export task is COMPLETED (FAILED or CANCELLED stops the apply).",
        AwsCall(
            service="logs",
            operation="CreateExportTask",
            params={
                "taskName": task_name,
                "logGroupName": name,
                "from": 0,
                # when the apply observed the group: every event stored before the change
                "to": ref("run.apply.observed_at_ms"),
                "destination": export.bucket,
                "destinationPrefix": export.prefix,
            },
        ),
        outputs={"taskId": "taskId"},
        already_done=Lookup(
            call=AwsCall(service="logs", operation="DescribeExportTasks", params={}),
            found_when=f"length({mine}) > `0`",
            outputs={"taskId": f"{mine} | [0].taskId"},
        ),
        wait=WaitFor(
            waiter="export_task_completed",
            params={"taskId": ref("steps.export.taskId")},
            delay_seconds=30,
            max_attempts=240,
        ),
        not_before=NotBefore(
            call=AwsCall(
                service="logs", operation="DescribeExportTasks", params={"statusCode": "RUNNING"}
            ),
            ready_when="length(exportTasks[?status.code == 'RUNNING']) == `0`",
            recheck_after_seconds=300,
            refused_with=(EXPORT_BUSY,),
            reason="CloudWatch Logs runs one export task (PENDING or RUNNING) per account at "
            "a time",
        ),
        failure_hint="the export did not complete, so the retention was not changed. Check "
        "the bucket policy (docs/rules.md) and the task's status message "
        "(aws logs describe-export-tasks).",
    )
