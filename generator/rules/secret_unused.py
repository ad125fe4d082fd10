"""secret-unused: Secrets Manager secrets nobody has retrieved for months. Schedule deletion.

Secrets Manager records when a secret was last retrieved in its Region (``LastAccessedDate``,
to the day) and omits the field when it never was. reclaim reads an absent date as "never
retrieved since it was created", ages the secret from ``CreatedDate``, and says so in the
finding; ``include_never_retrieved: false`` leaves such secrets alone instead.

Left alone, each with its reason: secrets another service owns (RDS, Redshift, ...), secrets
with rotation turned on (a rotation Lambda may serve other secrets too, and rotation reads
the secret on a schedule of its own), primaries replicated to other Regions and replicas
(DeleteSecret refuses a replicated primary; a replica is deleted at once, with no recovery
window) and secrets already scheduled for deletion.

The change is DeleteSecret with a recovery window (30 days by default): the secret, its
value and every version stay recoverable until the window ends, and any application still
reading it fails meanwhile (the scream test). Undo: RestoreSecret inside the window, which
brings back the same secret, ARN, versions and tags included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.tags import tags_from_api
from generator.findings import Evidence, Finding, Reversibility, Risk, SkippedResource
from generator.iam.scopes import SECRET, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.manifest.refs import ref
from generator.rules.base import (
    BillFootprint,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.rules.logs_retention import group_slug


class SecretUnusedSettings(RuleSettings):
    min_unused_days: int = Field(
        default=90,
        ge=7,
        description="Days since the secret was last retrieved (LastAccessedDate), or since it "
        "was created when it never was.",
    )
    include_never_retrieved: bool = Field(
        default=True,
        description="Propose secrets Secrets Manager reports as never retrieved (no "
        "LastAccessedDate), aged from their creation. Off: only secrets with a last-retrieved "
        "date count.",
    )
    recovery_window_days: int = Field(
        default=30,
        ge=7,
        le=30,
        description="DeleteSecret's recovery window (7 to 30 days): how long the rollback can "
        "restore the secret.",
    )


class SecretSpec(BaseModel):
    """A secret's metadata as DescribeSecret reports it (never its value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arn: str
    name: str
    description: str = ""
    kms_key_id: str | None = None
    created: datetime | None = None
    last_accessed: datetime | None = None
    last_changed: datetime | None = None
    rotation_enabled: bool = False
    rotation_lambda_arn: str | None = None
    owning_service: str | None = None
    primary_region: str | None = None
    replica_regions: tuple[str, ...] = ()
    deleted: datetime | None = None
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> SecretSpec:
        return cls(
            arn=item["ARN"],
            name=item["Name"],
            description=item.get("Description") or "",
            kms_key_id=item.get("KmsKeyId"),
            created=item.get("CreatedDate"),
            last_accessed=item.get("LastAccessedDate"),
            last_changed=item.get("LastChangedDate"),
            rotation_enabled=bool(item.get("RotationEnabled")),
            rotation_lambda_arn=item.get("RotationLambdaARN"),
            owning_service=item.get("OwningService"),
            primary_region=item.get("PrimaryRegion"),
            replica_regions=tuple(
                sorted(r["Region"] for r in item.get("ReplicationStatus") or [] if "Region" in r)
            ),
            deleted=item.get("DeletedDate"),
            tags=tags_from_api(item.get("Tags")),
        )


class UnusedSecret(BaseModel):
    """What the finding records: enough to re-derive the plan and the rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretSpec
    unused_since: datetime
    never_retrieved: bool
    recovery_window_days: int
    skip_tag: str


def _describe(arn: str) -> AwsCall:
    return AwsCall(service="secretsmanager", operation="DescribeSecret", params={"SecretId": arn})


def _unchanged(secret: SecretSpec) -> tuple[Expectation, ...]:
    """The attributes the rollback brings back, as recorded: checked before the delete and
    after the restore."""
    return (
        Expectation(path="ARN", equals=secret.arn, what="ARN"),
        Expectation(path="Name", equals=secret.name, what="name"),
        Expectation(path="Description || ''", equals=secret.description, what="description"),
        Expectation(path="KmsKeyId", equals=secret.kms_key_id, what="KMS key"),
        steps.tags_unchanged("Tags", secret.tags),
    )


class SecretUnused(Rule[SecretUnusedSettings, UnusedSecret]):
    name: ClassVar[str] = "secret-unused"
    summary: ClassVar[str] = "Secrets Manager secrets nobody has retrieved for months"
    resource_type: ClassVar[str] = "AWS::SecretsManager::Secret"
    reversibility: ClassVar[Reversibility] = "full-delayed"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "secrets not retrieved for `min_unused_days` (90) by LastAccessedDate (never "
            "retrieved: aged from creation), not rotating, not replicated, not owned by another "
            "service"
        ),
        change="DeleteSecret with a `recovery_window_days` (30) recovery window",
        undo=(
            "RestoreSecret inside the window (same secret, ARN, versions and tags); the PR "
            "states the deadline. After it the secret is gone"
        ),
    )
    settings_model = SecretUnusedSettings
    record_model = UnusedSecret
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(own=r"AWSSecretsManager-Secrets")
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("secretsmanager", "ListSecrets"), ("secretsmanager", "DescribeSecret")}),
        apply=frozenset({("secretsmanager", "DescribeSecret"), ("secretsmanager", "DeleteSecret")}),
        rollback=frozenset(
            {("secretsmanager", "DescribeSecret"), ("secretsmanager", "RestoreSecret")}
        ),
        scopes={
            "secretsmanager:DeleteSecret": never_skipped(
                SECRET, "never a secret carrying the skip tag"
            ),
            "secretsmanager:RestoreSecret": only(
                SECRET, why="secrets only, to cancel a scheduled deletion"
            ),
            "secretsmanager:DescribeSecret": only(SECRET, why="secrets"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: SecretUnusedSettings
    ) -> Iterator[Finding | SkippedResource]:
        sm = ctx.client("secretsmanager")
        unused: list[SecretSpec] = []
        for page in sm.get_paginator("list_secrets").paginate():
            for entry in page.get("SecretList", []):
                listed = SecretSpec.from_api(entry)
                reason = self._skip_reason(ctx, settings, listed)
                if reason is None:
                    unused.append(listed)
                else:
                    yield self.skipped(ctx, listed.name, reason)
        # ListSecrets does not say whether a secret is replicated, and Secrets Manager answers
        # that one secret at a time (DescribeSecret): it is asked for the findings propose can
        # open (ctx.confirmed), never for every unused secret. The rest stay findings; the
        # plan's pre-check (DescribeSecret: no replica) refuses a replicated one before
        # anything is deleted.
        unconfirmed = [self._finding(ctx, settings, secret) for secret in unused]
        by_name = {secret.name: secret for secret in unused}

        def confirmed(finding: Finding) -> Finding | SkippedResource:
            listed = by_name[finding.resource_id]
            secret = SecretSpec.from_api(sm.describe_secret(SecretId=listed.arn))
            reason = self._skip_reason(ctx, settings, secret)
            if reason is not None:
                return self.skipped(ctx, listed.name, reason)
            return self._finding(ctx, settings, secret)

        yield from ctx.confirmed_each(unconfirmed, confirmed)

    def _skip_reason(
        self, ctx: ScanContext, settings: SecretUnusedSettings, secret: SecretSpec
    ) -> str | None:
        if secret.deleted is not None:
            return "already scheduled for deletion"
        if secret.owning_service:
            return f"managed by {secret.owning_service}: that service owns its lifecycle"
        if secret.primary_region and secret.primary_region != ctx.region:
            return (
                f"a replica of a secret in {secret.primary_region}: judged there (deleting a "
                "replica is immediate, with no recovery window)"
            )
        if secret.replica_regions:
            return (
                f"replicated to {', '.join(secret.replica_regions)}: DeleteSecret refuses a "
                "replicated primary, and its use in those Regions is not in this LastAccessedDate"
            )
        if secret.rotation_enabled:
            lambda_arn = secret.rotation_lambda_arn or "a managed rotation"
            return (
                f"rotation is on ({lambda_arn}): rotation reads the secret on its own "
                "schedule, and its Lambda may serve other secrets; left to a human"
            )
        if secret.last_accessed is None:
            if not settings.include_never_retrieved:
                return "never retrieved, and include_never_retrieved is off"
            if secret.created is None:
                return "never retrieved, and its creation date is not reported: age unknown"
        since = _unused_since(secret)
        if since is None:
            return "age unknown"
        idle = ctx.as_of - since
        if idle < timedelta(days=settings.min_unused_days):
            what = "last retrieved" if secret.last_accessed else "never retrieved, created"
            return (
                f"{what} {idle.days} day(s) ago, under min_unused_days={settings.min_unused_days}"
            )
        return ctx.exclusions.reason_to_skip(secret.name, secret.tags)

    def _finding(
        self, ctx: ScanContext, settings: SecretUnusedSettings, secret: SecretSpec
    ) -> Finding:
        since = _unused_since(secret)
        assert since is not None  # _skip_reason refused it otherwise
        idle_days = (ctx.as_of - since).days
        never = secret.last_accessed is None
        record = UnusedSecret(
            secret=secret,
            unused_since=since,
            never_retrieved=never,
            recovery_window_days=settings.recovery_window_days,
            skip_tag=ctx.exclusions.skip_tag,
        )
        retrieved = (
            Evidence(
                label="Last retrieved",
                value="never (Secrets Manager reports no LastAccessedDate)",
                source="DescribeSecret: the field is omitted when the secret was never retrieved",
            )
            if never
            else Evidence(
                label="Last retrieved",
                value=f"{since:%Y-%m-%d} ({idle_days} days ago)",
                source="DescribeSecret LastAccessedDate (day precision)",
            )
        )
        evidence = [
            retrieved,
            Evidence(
                label="Created",
                value=secret.created.isoformat() if secret.created else "not reported",
                source="DescribeSecret",
            ),
            Evidence(label="Rotation", value="off", source="DescribeSecret RotationEnabled"),
            Evidence(label="Replication", value="none", source="DescribeSecret ReplicationStatus"),
        ]
        risk, reasons = _risk(secret, never, idle_days)
        return self.new_finding(
            ctx,
            title=(
                f"Delete secret {secret.name}, never retrieved in {idle_days} days"
                if never
                else f"Delete secret {secret.name}, last retrieved {idle_days} days ago"
            ),
            cost=ctx.prices.secret_cost(region=ctx.region),
            risk=risk,
            risk_reasons=reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: UnusedSecret) -> str:
        return record.secret.name

    def id_part(self, resource_id: str) -> str:
        return group_slug(resource_id)  # a secret's name may hold '/', '+', '=' and '@'

    def tags_of(self, record: UnusedSecret) -> Mapping[str, str]:
        return record.secret.tags

    def plan(self, finding: Finding, record: UnusedSecret) -> ManifestBody:
        secret = record.secret
        window = record.recovery_window_days
        describe = _describe(secret.arn)
        last = (
            "never retrieved"
            if record.never_retrieved
            else f"last retrieved {record.unused_since:%Y-%m-%d}"
        )
        delete = AwsCall(
            service="secretsmanager",
            operation="DeleteSecret",
            params={"SecretId": secret.arn, "RecoveryWindowInDays": window},
        )
        plan_steps = (
            steps.precheck(
                "precheck",
                f"Read {secret.name} and confirm it is still {last}, not scheduled for "
                "deletion, not rotating, not replicated, without the skip tag, and unchanged "
                "since the scan (name, description, KMS key, tags).",
                describe,
                steps.skip_tag_absent(record.skip_tag, tags_at="Tags"),
                Expectation(
                    path="LastAccessedDate",
                    equals=_json_time(secret.last_accessed),
                    what="last retrieved (LastAccessedDate): retrieved since the scan",
                ),
                Expectation(path="DeletedDate", equals=None, what="not scheduled for deletion"),
                Expectation(path="RotationEnabled || `false`", equals=False, what="rotation off"),
                Expectation(
                    path="length(ReplicationStatus || `[]`)", equals=0, what="replica count"
                ),
                Expectation(path="OwningService", equals=None, what="owning service"),
                *_unchanged(secret),
            ),
            steps.record(
                "record",
                f"Record {secret.name}'s metadata in the journal (never its value): what the "
                "rollback restores and checks.",
                describe,
                outputs={
                    "ARN": "ARN",
                    "Name": "Name",
                    "KmsKeyId": "KmsKeyId",
                    "Tags": "Tags",
                    "VersionIdsToStages": "VersionIdsToStages",
                },
            ),
            steps.change(
                "delete",
                f"Schedule {secret.name} for deletion with a {window}-day recovery window. "
                "Until it ends the secret can be restored; anything reading it meanwhile fails.",
                delete,
                destroys_data=True,
                outputs={"DeletionDate": "DeletionDate"},
                already_done=Lookup(
                    call=describe,
                    found_when="DeletedDate != null",
                    outputs={"DeletionDate": "DeletedDate"},
                ),
            ),
            steps.verify(
                "verify",
                f"Confirm {secret.name} is scheduled for deletion.",
                describe,
                Expectation(path="DeletedDate != null", equals=True, what="scheduled for deletion"),
            ),
        )
        return ManifestBody(
            steps=plan_steps,
            notes=(
                f"Deadline: the rollback can restore the secret for {window} days after the "
                f"merge's apply (the journal records the exact DeletionDate). After that, "
                "Secrets Manager deletes the secret and every version of its value for good.",
                "While scheduled for deletion the value cannot be retrieved: anything still "
                "using the secret fails with InvalidRequestException. If that happens, comment "
                "/rollback: RestoreSecret brings back the same secret, ARN, versions and tags.",
                f"LastAccessedDate is kept to the day and only for this Region ({finding.region}).",
            ),
        )

    def rollback(self, finding: Finding, record: UnusedSecret) -> ManifestBody:
        secret = record.secret
        describe = _describe(secret.arn)
        window = record.recovery_window_days
        rollback_steps = (
            steps.precheck(
                "precheck",
                f"Confirm {secret.name} is still scheduled for deletion by this plan's apply "
                f"and otherwise as recorded. Past the {window}-day window it no longer "
                "exists and nothing can be restored.",
                describe,
                Expectation(path="DeletedDate != null", equals=True, what="scheduled for deletion"),
                Expectation(
                    path="DeletedDate",
                    equals=ref("run.apply.observed_at"),
                    compare="at_or_after",
                    what="deletion scheduled after apply observed the secret",
                ),
                *_unchanged(secret),
                failure_hint="ResourceNotFoundException means the recovery window ended and "
                "Secrets Manager deleted the secret for good; a deletion date before the apply "
                "means someone else scheduled it: restore it by hand if that was a mistake",
            ),
            steps.change(
                "restore",
                f"Restore {secret.name}: cancel the scheduled deletion.",
                AwsCall(
                    service="secretsmanager",
                    operation="RestoreSecret",
                    params={"SecretId": secret.arn},
                ),
                already_done=Lookup(call=describe, found_when="DeletedDate == null"),
            ),
            steps.verify(
                "verify",
                f"Confirm {secret.name} is active again, with its recorded name, description, "
                "KMS key, tags and versions.",
                describe,
                Expectation(path="DeletedDate", equals=None, what="not scheduled for deletion"),
                Expectation(
                    path="VersionIdsToStages",
                    equals=ref("apply.record.VersionIdsToStages"),
                    what="versions and their stages, as recorded before the delete",
                ),
                *_unchanged(secret),
            ),
        )
        return ManifestBody(
            steps=rollback_steps,
            notes=(
                "RestoreSecret brings back the same secret: ARN, value, versions and tags.",
                f"Only inside the {window}-day recovery window that started with the apply.",
            ),
        )


def _unused_since(secret: SecretSpec) -> datetime | None:
    return secret.last_accessed or secret.created


def _json_time(value: datetime | None) -> str | None:
    """A timestamp as the executor sees it in a response: parsed in UTC (reclaim's session),
    then through its JSON round trip."""
    return None if value is None else str(value.astimezone(UTC))


def _risk(secret: SecretSpec, never: bool, idle_days: int) -> tuple[Risk, list[str]]:
    reasons = [
        "anything still using the secret fails until it is restored",
        "after the recovery window the value is gone for good",
    ]
    if never:
        reasons.append(
            "never retrieved: it may be kept for break-glass use or read outside this Region"
        )
        return "medium", reasons
    if idle_days < 180:
        reasons.append(f"retrieved {idle_days} days ago: a quarterly job may still need it")
        return "medium", reasons
    return "low", reasons
