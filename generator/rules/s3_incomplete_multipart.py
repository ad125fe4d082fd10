"""s3-incomplete-multipart: buckets holding multipart uploads nobody finished or aborted.

The parts of an upload that was never completed are billed as storage, and S3 keeps them
until someone aborts the upload. A lifecycle rule with ``AbortIncompleteMultipartUpload``
does that automatically. reclaim finds buckets with uploads older than
``min_upload_age_days`` (7) that no enabled lifecycle rule aborts, and adds one such rule.

PutBucketLifecycleConfiguration replaces the whole configuration, so the plan carries the
configuration as the scan read it (checked again, unchanged, right before the write) with
one rule added. The rollback writes back exactly that configuration, or deletes the
configuration when there was none, and only while the configuration is still the one the
apply wrote: a rule someone added since is never overwritten.

S3 names buckets globally but keeps each in one region: a scan unit lists only the buckets
of its own region (ListBuckets ``BucketRegion``, confirmed by GetBucketLocation when the
answer does not say), so each bucket is judged once, by the region it lives in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from generator.aws.tags import tags_from_api
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import BUCKET, OBJECT, OWN_ACCOUNT, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext

RULE_ID = "reclaim-abort-incomplete-multipart-uploads"
"""The ID of the lifecycle rule reclaim adds (unique in the bucket's configuration)."""
MAX_LIFECYCLE_RULES = 1000
NO_CONFIGURATION = "NoSuchLifecycleConfiguration"
# GetBucketLocation's answer for buckets in us-east-1 (none) and the legacy name of eu-west-1.
_LOCATION_ALIASES = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


class IncompleteMultipartSettings(RuleSettings):
    enabled: bool = Field(
        default=False,
        description="Off by default: applying needs s3:PutLifecycleConfiguration on the "
        "account's buckets, and IAM cannot limit what a lifecycle configuration says (an "
        "Expiration rule in one deletes objects). Turn it on where the write role may hold "
        "that grant.",
    )
    min_upload_age_days: int = Field(
        default=7, ge=1, description="An upload started longer ago than this counts as stale."
    )
    abort_after_days: int = Field(
        default=7,
        ge=1,
        description="DaysAfterInitiation of the rule reclaim adds: S3 aborts uploads this many "
        "days after they started.",
    )
    max_uploads_sized: int = Field(
        default=100,
        ge=0,
        description="Stale uploads per bucket whose parts are listed (ListParts) to price them; "
        "beyond it the saving is a lower bound.",
    )
    min_monthly_savings_usd: float = Field(
        default=1.0,
        ge=0,
        description="Leave a bucket alone when its stale parts cost less than this per month "
        "(one GB of S3 Standard is about $0.02).",
    )


class LifecycleConfiguration(BaseModel):
    """A bucket's lifecycle configuration as GetBucketLifecycleConfiguration answers it
    (timestamps as the executor reads them back: UTC, through JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[dict[str, JsonValue]]
    transition_default_minimum_object_size: str | None = None

    @property
    def legacy_prefix(self) -> bool:
        """Rules written in the old form (``Prefix`` beside ``Filter``): S3 refuses a
        configuration that mixes the two, so reclaim's rule takes the same form."""
        return any("Prefix" in rule and "Filter" not in rule for rule in self.rules)


class StaleUploadsBucket(BaseModel):
    """What the finding records: enough to re-derive the plan and the rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    arn: str
    lifecycle: LifecycleConfiguration | None
    """None: the bucket had no lifecycle configuration."""
    abort_after_days: int
    tags: dict[str, str] = {}
    skip_tag: str


def _json_safe(value: Any) -> Any:
    def encode(item: Any) -> str:
        if isinstance(item, datetime):
            return str(item.astimezone(UTC))
        raise TypeError(type(item).__name__)

    return json.loads(json.dumps(value, default=encode))


def _abort_rule(record: StaleUploadsBucket) -> dict[str, JsonValue]:
    rule: dict[str, JsonValue] = {
        "ID": RULE_ID,
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": record.abort_after_days},
    }
    if record.lifecycle is not None and record.lifecycle.legacy_prefix:
        rule["Prefix"] = ""
    else:
        rule["Filter"] = {"Prefix": ""}
    return rule


def _put(bucket: str, account: str, config: LifecycleConfiguration, extra: list[Any]) -> AwsCall:
    params: dict[str, JsonValue] = {
        "Bucket": bucket,
        "ExpectedBucketOwner": account,
        "LifecycleConfiguration": {"Rules": [*config.rules, *extra]},
    }
    if config.transition_default_minimum_object_size is not None:
        params["TransitionDefaultMinimumObjectSize"] = config.transition_default_minimum_object_size
    return AwsCall(service="s3", operation="PutBucketLifecycleConfiguration", params=params)


def _get(bucket: str, account: str) -> AwsCall:
    return AwsCall(
        service="s3",
        operation="GetBucketLifecycleConfiguration",
        params={"Bucket": bucket, "ExpectedBucketOwner": account},
    )


_OURS = f"Rules[?ID == {json_literal(RULE_ID)}]"
_OTHERS = f"Rules[?ID != {json_literal(RULE_ID)}]"


def _as_recorded(config: LifecycleConfiguration, *, beside_ours: bool) -> tuple[Expectation, ...]:
    """The live configuration holds exactly the recorded rules (``beside_ours``: besides the
    rule the apply added) and the recorded transition default."""
    checks = [
        Expectation(
            path=_OTHERS if beside_ours else "Rules",
            equals=list(config.rules),
            what=f"lifecycle rules other than {RULE_ID}, as recorded"
            if beside_ours
            else "lifecycle rules, as recorded",
        )
    ]
    if config.transition_default_minimum_object_size is not None:
        checks.append(
            Expectation(
                path="TransitionDefaultMinimumObjectSize",
                equals=config.transition_default_minimum_object_size,
                what="TransitionDefaultMinimumObjectSize",
            )
        )
    return tuple(checks)


def _ours_as_written(days: int) -> tuple[Expectation, ...]:
    return (
        Expectation(path=f"length({_OURS})", equals=1, what=f"lifecycle rule {RULE_ID}"),
        Expectation(path=f"{_OURS} | [0].Status", equals="Enabled", what="its status"),
        Expectation(
            path=f"{_OURS} | [0].AbortIncompleteMultipartUpload.DaysAfterInitiation",
            equals=days,
            what="its DaysAfterInitiation",
        ),
    )


class S3IncompleteMultipart(Rule[IncompleteMultipartSettings, StaleUploadsBucket]):
    name: ClassVar[str] = "s3-incomplete-multipart"
    summary: ClassVar[str] = "S3 buckets keeping incomplete multipart uploads no rule aborts"
    resource_type: ClassVar[str] = "AWS::S3::Bucket"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "buckets with multipart uploads older than `min_upload_age_days` (7) that no enabled "
            "lifecycle rule aborts, priced by their parts' bytes at S3 Standard"
        ),
        change=(
            "PutBucketLifecycleConfiguration: the recorded configuration plus one "
            "AbortIncompleteMultipartUpload rule (`abort_after_days`, 7)"
        ),
        undo=(
            "writes back exactly the recorded configuration (DeleteBucketLifecycle if there was "
            "none), only while it is as the apply left it. Uploads aborted meanwhile stay gone"
        ),
    )
    settings_model = IncompleteMultipartSettings
    record_model = StaleUploadsBucket
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("s3", "ListBuckets"),
                ("s3", "GetBucketLocation"),
                ("s3", "ListMultipartUploads"),
                ("s3", "ListParts"),
                ("s3", "GetBucketLifecycleConfiguration"),
                ("s3", "GetBucketTagging"),
            }
        ),
        apply=frozenset(
            {
                ("resourcegroupstaggingapi", "GetResources"),
                ("s3", "GetBucketLifecycleConfiguration"),
                ("s3", "PutBucketLifecycleConfiguration"),
            }
        ),
        rollback=frozenset(
            {
                ("s3", "GetBucketLifecycleConfiguration"),
                ("s3", "PutBucketLifecycleConfiguration"),
                ("s3", "DeleteBucketLifecycle"),
            }
        ),
        scopes={
            # DeleteBucketLifecycle is authorized as s3:PutLifecycleConfiguration too.
            "s3:PutLifecycleConfiguration": ActionScope(
                grants=(
                    Grant(
                        (BUCKET,),
                        (OWN_ACCOUNT,),
                        "this account's buckets only; S3 offers no bucket-tag condition for "
                        "it, so the skip tag is the pre-check's (and ExpectedBucketOwner "
                        "on every call)",
                    ),
                )
            ),
            # reads IAM can narrow to buckets (and to objects, for an upload's parts)
            **{
                action: only(BUCKET, why="buckets")
                for action in (
                    "s3:GetBucketLocation",
                    "s3:GetBucketTagging",
                    "s3:GetLifecycleConfiguration",
                    "s3:ListBucketMultipartUploads",
                )
            },
            "s3:ListMultipartUploadParts": only(OBJECT, why="the parts of an upload"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: IncompleteMultipartSettings
    ) -> Iterator[Finding | SkippedResource]:
        s3 = ctx.client("s3")
        pages = s3.get_paginator("list_buckets").paginate(BucketRegion=ctx.region)
        for page in pages:
            for bucket in page.get("Buckets", []):
                if _region_of(s3, bucket) != ctx.region:
                    continue  # another region's unit judges it
                yield from self._bucket(ctx, settings, s3, bucket["Name"])

    def _bucket(
        self, ctx: ScanContext, settings: IncompleteMultipartSettings, s3: Any, name: str
    ) -> Iterator[Finding | SkippedResource]:
        owner = {"Bucket": name, "ExpectedBucketOwner": ctx.account_id}
        cutoff = ctx.as_of - timedelta(days=settings.min_upload_age_days)
        stale = [
            upload
            for page in s3.get_paginator("list_multipart_uploads").paginate(**owner)
            for upload in page.get("Uploads", [])
            if upload["Initiated"] <= cutoff
        ]
        if not stale:
            return  # nothing to abort: not this rule's business
        lifecycle = _lifecycle(s3, owner)
        rules = lifecycle.rules if lifecycle else []
        uncovered = [u for u in stale if not _aborted_by(rules, u["Key"])]
        if not uncovered:
            yield self.skipped(ctx, name, "an enabled lifecycle rule already aborts its uploads")
            return
        if any(rule.get("ID") == RULE_ID for rule in rules):
            yield self.skipped(
                ctx, name, f"its lifecycle already has a rule {RULE_ID} that does not cover them"
            )
            return
        if len(rules) >= MAX_LIFECYCLE_RULES:
            yield self.skipped(ctx, name, f"its lifecycle holds {len(rules)} rules, S3's maximum")
            return
        tags = _tags(s3, owner)
        reason = ctx.exclusions.reason_to_skip(name, tags)
        if reason is not None:
            yield self.skipped(ctx, name, reason)
            return
        sized = uncovered[: settings.max_uploads_sized]
        stale_bytes = sum(_upload_bytes(s3, owner, upload) for upload in sized)
        complete = len(sized) == len(uncovered)
        what = (
            f"parts of {len(uncovered)} stale upload(s)"
            if complete
            else f"parts of {len(sized)} of {len(uncovered)} stale uploads (the rest not "
            "listed: a lower bound)"
        )
        cost = ctx.prices.s3_standard_storage_cost(
            region=ctx.region, stored_bytes=stale_bytes, what=what
        )
        if not complete:
            cost = cost.model_copy(update={"estimated": True})
        if not cost.unknown and cost.monthly_usd < settings.min_monthly_savings_usd:
            yield self.skipped(
                ctx,
                name,
                f"stale parts cost ${cost.monthly_usd:,.2f}/month, under "
                f"min_monthly_savings_usd={settings.min_monthly_savings_usd}",
            )
            return
        record = StaleUploadsBucket(
            bucket=name,
            arn=f"arn:{s3.meta.partition}:s3:::{name}",
            lifecycle=lifecycle,
            abort_after_days=settings.abort_after_days,
            tags=tags,
            skip_tag=ctx.exclusions.skip_tag,
        )
        oldest = min(u["Initiated"] for u in uncovered)
        classes = sorted({u.get("StorageClass") or "STANDARD" for u in uncovered})
        evidence = (
            Evidence(
                label="Stale uploads",
                value=f"{len(uncovered)} started before {cutoff:%Y-%m-%d}, oldest "
                f"{oldest:%Y-%m-%d} ({(ctx.as_of - oldest).days} days)",
                source="ListMultipartUploads",
            ),
            Evidence(
                label="Stale parts",
                value=f"{stale_bytes:,} bytes in {len(sized)} upload(s) listed",
                source="ListParts",
            ),
            Evidence(
                label="Storage class", value=", ".join(classes), source="ListMultipartUploads"
            ),
            Evidence(
                label="Lifecycle",
                value="none"
                if lifecycle is None
                else f"{len(rules)} rule(s), none aborting these uploads",
                source="GetBucketLifecycleConfiguration",
            ),
        )
        yield self.new_finding(
            ctx,
            title=f"Abort stale multipart uploads in s3://{name} after "
            f"{settings.abort_after_days} days",
            cost=cost,
            risk="low",
            risk_reasons=(
                f"S3 aborts uploads {settings.abort_after_days} days after they start: an "
                "upload still running longer than that would be aborted too",
            ),
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: StaleUploadsBucket) -> str:
        return record.bucket

    def tags_of(self, record: StaleUploadsBucket) -> Mapping[str, str]:
        return record.tags

    def plan(self, finding: Finding, record: StaleUploadsBucket) -> ManifestBody:
        bucket, account = record.bucket, finding.account
        get = _get(bucket, account)
        config = record.lifecycle or LifecycleConfiguration(rules=[])
        ours = _abort_rule(record)
        put = _put(bucket, account, config, [ours])
        the_bucket = f"ResourceTagMappingList[?ResourceARN == {json_literal(record.arn)}] | [0]"
        prechecks: list[Step] = [
            steps.precheck(
                "precheck-tags",
                f"Confirm s3://{bucket} does not carry the skip tag {record.skip_tag!r} and "
                "its tags are as recorded (read through the Resource Groups Tagging API, "
                "which can lag S3 by minutes).",
                AwsCall(
                    service="resourcegroupstaggingapi",
                    operation="GetResources",
                    params={"ResourceARNList": [record.arn]},
                ),
                steps.skip_tag_absent(record.skip_tag, tags_at=f"{the_bucket}.Tags"),
                steps.tags_unchanged(f"{the_bucket}.Tags", record.tags),
            ),
        ]
        if record.lifecycle is None:
            prechecks.append(
                steps.precheck(
                    "precheck",
                    f"Confirm s3://{bucket} (owned by {account}) still has no lifecycle "
                    "configuration.",
                    get,
                    expect_error=NO_CONFIGURATION,
                    failure_hint="someone added a lifecycle configuration since the scan: "
                    "close this PR; the next scan proposes against the new configuration",
                )
            )
        else:
            prechecks += [
                steps.precheck(
                    "precheck",
                    f"Confirm the lifecycle configuration of s3://{bucket} (owned by "
                    f"{account}) is exactly as recorded: the write replaces all of it.",
                    get,
                    *_as_recorded(record.lifecycle, beside_ours=False),
                ),
                steps.record(
                    "record",
                    f"Record the lifecycle configuration of s3://{bucket} in the journal.",
                    get,
                    outputs={
                        "Rules": "Rules",
                        "TransitionDefaultMinimumObjectSize": "TransitionDefaultMinimumObjectSize",
                    },
                ),
            ]
        plan_steps = (
            *prechecks,
            steps.change(
                "add-rule",
                f"Write the lifecycle configuration of s3://{bucket}: the "
                f"{len(config.rules)} recorded rule(s) unchanged, plus {RULE_ID} aborting "
                f"uploads {record.abort_after_days} days after they start.",
                put,
                already_done=Lookup(
                    call=get,
                    found_when=f"length({_OURS}) > `0`",
                    not_done_on_error=NO_CONFIGURATION,
                ),
            ),
            steps.verify(
                "verify",
                f"Confirm s3://{bucket} holds the recorded rules and {RULE_ID}.",
                get,
                *_as_recorded(config, beside_ours=True),
                *_ours_as_written(record.abort_after_days),
            ),
        )
        return ManifestBody(
            steps=plan_steps,
            notes=(
                f"S3 aborts every upload in the bucket {record.abort_after_days} days after it "
                "started, from the next lifecycle run (within a day or two): their parts are "
                "deleted and cannot be completed any more. An upload that legitimately runs "
                "longer would be aborted too.",
                "PutBucketLifecycleConfiguration replaces the whole configuration: the plan "
                "writes the recorded rules back unchanged with one rule added, right after "
                "checking they are still exactly as recorded.",
                "The rollback restores the recorded configuration; uploads S3 aborted in "
                "between stay aborted.",
            ),
        )

    def rollback(self, finding: Finding, record: StaleUploadsBucket) -> ManifestBody:
        bucket, account = record.bucket, finding.account
        get = _get(bucket, account)
        config = record.lifecycle or LifecycleConfiguration(rules=[])
        precheck = steps.precheck(
            "precheck",
            f"Confirm the lifecycle configuration of s3://{bucket} is still the one the apply "
            f"wrote (the recorded rules and {RULE_ID}): a change someone made since is never "
            "overwritten.",
            get,
            *_as_recorded(config, beside_ours=True),
            *_ours_as_written(record.abort_after_days),
            failure_hint="someone changed the bucket's lifecycle since the apply; reclaim "
            f"does not overwrite it: remove the rule {RULE_ID} by hand if it should go",
        )
        if record.lifecycle is None:
            undo = steps.change(
                "delete-configuration",
                f"Delete the lifecycle configuration of s3://{bucket}: it had none before.",
                AwsCall(
                    service="s3",
                    operation="DeleteBucketLifecycle",
                    params={"Bucket": bucket, "ExpectedBucketOwner": account},
                ),
                already_done=Lookup(call=get, found_on_error=NO_CONFIGURATION),
            )
            verify = steps.verify(
                "verify",
                f"Confirm s3://{bucket} has no lifecycle configuration again.",
                get,
                expect_error=NO_CONFIGURATION,
            )
        else:
            undo = steps.change(
                "restore-configuration",
                f"Write back the {len(config.rules)} recorded lifecycle rule(s) of s3://{bucket}, "
                "exactly as they were.",
                _put(bucket, account, config, []),
                already_done=Lookup(call=get, found_when=f"length({_OURS}) == `0`"),
            )
            verify = steps.verify(
                "verify",
                f"Confirm s3://{bucket}'s lifecycle configuration is exactly the recorded one.",
                get,
                *_as_recorded(record.lifecycle, beside_ours=False),
            )
        return ManifestBody(
            steps=(precheck, undo, verify),
            notes=("Uploads S3 aborted while the rule was in place are gone for good.",),
        )


def _region_of(s3: Any, bucket: Mapping[str, Any]) -> str:
    region = bucket.get("BucketRegion")
    if region:
        return str(region)
    location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    return str(_LOCATION_ALIASES.get(location, location))


def _lifecycle(s3: Any, owner: Mapping[str, str]) -> LifecycleConfiguration | None:
    try:
        answer = s3.get_bucket_lifecycle_configuration(**owner)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == NO_CONFIGURATION:
            return None
        raise
    return LifecycleConfiguration(
        rules=_json_safe(answer.get("Rules") or []),
        transition_default_minimum_object_size=answer.get("TransitionDefaultMinimumObjectSize"),
    )


def _tags(s3: Any, owner: Mapping[str, str]) -> dict[str, str]:
    try:
        return tags_from_api(s3.get_bucket_tagging(**owner).get("TagSet"))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchTagSet":
            return {}
        raise


def _rule_prefix(rule: Mapping[str, Any]) -> str | None:
    """The key prefix an enabled aborting rule covers; None for a rule that aborts nothing."""
    if rule.get("Status") != "Enabled" or not rule.get("AbortIncompleteMultipartUpload"):
        return None
    if "Prefix" in rule and "Filter" not in rule:
        return str(rule["Prefix"] or "")
    found = rule.get("Filter") or {}
    # Tags and object sizes cannot narrow an abort rule; the prefix is what counts.
    prefix = found.get("Prefix", (found.get("And") or {}).get("Prefix", ""))
    return str(prefix or "")


def _aborted_by(rules: list[dict[str, Any]], key: str) -> bool:
    return any(
        (prefix := _rule_prefix(rule)) is not None and key.startswith(prefix) for rule in rules
    )


def _upload_bytes(s3: Any, owner: Mapping[str, str], upload: Mapping[str, Any]) -> int:
    pages = s3.get_paginator("list_parts").paginate(
        **owner, Key=upload["Key"], UploadId=upload["UploadId"]
    )
    return sum(int(part.get("Size") or 0) for page in pages for part in page.get("Parts", []))
