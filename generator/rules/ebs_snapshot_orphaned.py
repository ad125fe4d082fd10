"""ebs-snapshot-orphaned: snapshots whose source volume is gone, kept by nobody's process.

Found: completed standard-tier snapshots owned by the account, older than ``min_age_days``
(90), whose source volume no longer exists, backing no AMI of the account, and not made by
AWS Backup, Data Lifecycle Manager or reclaim itself (those have lifecycles of their own).

Deleting one is reversible only through the EC2 Recycle Bin: a retention rule that covers
the snapshot keeps it, restorable with the same ID, for the rule's retention period. reclaim
uses a tag-level rule matching ``reclaim:recycle-bin=retain`` (``reclaim init``'s
customer-role Terraform creates one when ``recycle_bin_days`` is set): the plan tags the
snapshot, then deletes it into the bin. Without such a rule (or when the Recycle Bin cannot
be read) a finding is report-only: priced and listed, never proposed, since its deletion
could not be undone. Undo: RestoreSnapshotFromRecycleBin before the retention ends (the PR
states the deadline), then the tag is removed again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.aws.prices import PriceTable
from generator.aws.tags import PLAN_ID_TAG
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, SNAPSHOT, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step, WaitFor
from generator.rules.base import (
    BackupCost,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.rules.ebs_snapshot import SnapshotSpec, no_ami_precheck, snapshots_backing_amis
from generator.rules.ebs_volume import VOLUMES, region_volumes
from generator.rules.recycle_bin import (
    CARRIES_OUR_TAG,
    GET_RULE_SCOPE,
    RECYCLE_BIN_TAG,
    RECYCLE_BIN_VALUE,
    RecycleBinRule,
    kept_by_bin,
    rule_precheck,
    snapshot_bin_evidence,
    tag_call,
    tag_scope,
    tagged,
    untag_scope,
)
from generator.rules.recycle_bin import covering_rule as _covering_rule

__all__ = ["RECYCLE_BIN_TAG", "RECYCLE_BIN_VALUE", "EbsSnapshotOrphaned", "RecycleBinRule"]

_DLM_TAG = "aws:dlm:lifecycle-policy-id"
_AWS_BACKUP_MARKS = ("AWS Backup", "AWSBackup")
_NOT_FOUND = "InvalidSnapshot.NotFound"


class OrphanedSnapshotSettings(RuleSettings):
    min_age_days: int = Field(default=90, ge=1, description="Only snapshots older than this.")
    min_retention_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="A Recycle Bin rule counts as covering a snapshot only if it retains "
        "deleted snapshots at least this long (the time left to roll back).",
    )


class OrphanedSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot: SnapshotSpec
    age_days: int
    recycle_bin: RecycleBinRule | None
    """None: no rule covers it, so the finding is report-only."""
    skip_tag: str

    @property
    def already_tagged(self) -> bool:
        return already_tagged(self.snapshot)


def already_tagged(snapshot: SnapshotSpec) -> bool:
    return snapshot.tags.get(RECYCLE_BIN_TAG) == RECYCLE_BIN_VALUE


def _describe(sid: str) -> AwsCall:
    return AwsCall(service="ec2", operation="DescribeSnapshots", params={"SnapshotIds": [sid]})


def _in_bin(sid: str) -> AwsCall:
    return AwsCall(
        service="ec2", operation="ListSnapshotsInRecycleBin", params={"SnapshotIds": [sid]}
    )


_TAGGED = tagged("Snapshots[0].Tags")


def _as_recorded(snapshot: SnapshotSpec, root: str = "Snapshots[0]") -> tuple[Expectation, ...]:
    return (
        Expectation(path=f"{root}.State", equals="completed", what="state"),
        Expectation(path=f"{root}.VolumeId", equals=snapshot.volume_id, what="source volume"),
        Expectation(path=f"{root}.VolumeSize", equals=snapshot.volume_size_gib, what="size (GiB)"),
        Expectation(
            path=f"{root}.Encrypted || `false`", equals=snapshot.encrypted, what="encryption"
        ),
        Expectation(path=f"{root}.KmsKeyId", equals=snapshot.kms_key_id, what="KMS key"),
        Expectation(
            path=f"{root}.Description || ''", equals=snapshot.description, what="description"
        ),
    )


class EbsSnapshotOrphaned(Rule[OrphanedSnapshotSettings, OrphanedSnapshot]):
    name: ClassVar[str] = "ebs-snapshot-orphaned"
    summary: ClassVar[str] = "Snapshots of deleted volumes that no AMI or backup process keeps"
    resource_type: ClassVar[str] = "AWS::EC2::Snapshot"
    reversibility: ClassVar[Reversibility] = "full-delayed"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "snapshots owned by the account, older than `min_age_days` (90), whose source volume "
            "no longer exists, backing no AMI, not made by AWS Backup, DLM or reclaim. "
            "Report-only unless a tag-level Recycle Bin rule (`recycle_bin_days` in the "
            "customer-role Terraform) covers them"
        ),
        change="tag `reclaim:recycle-bin=retain`, then DeleteSnapshot into the Recycle Bin",
        undo=(
            "RestoreSnapshotFromRecycleBin (same snapshot ID) within the rule's retention (the "
            "PR states the deadline), then the tag is removed"
        ),
    )
    settings_model = OrphanedSnapshotSettings
    record_model = OrphanedSnapshot
    listings: ClassVar[tuple[Listing, ...]] = (
        VOLUMES.read_whole("a snapshot is orphaned only if no volume of the region is its source"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "DescribeVolumes"),
                ("ec2", "DescribeImages"),
                ("rbin", "ListRules"),
            }
        ),
        apply=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "DescribeVolumes"),
                ("ec2", "DescribeImages"),
                ("rbin", "GetRule"),
                ("ec2", "CreateTags"),
                ("ec2", "DeleteSnapshot"),
                ("ec2", "ListSnapshotsInRecycleBin"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "ListSnapshotsInRecycleBin"),
                ("ec2", "RestoreSnapshotFromRecycleBin"),
                ("ec2", "DeleteTags"),
            }
        ),
        scopes={
            "ec2:CreateTags": tag_scope(SNAPSHOT, "snapshots"),
            "ec2:DeleteSnapshot": ActionScope(
                grants=(
                    Grant(
                        (SNAPSHOT,),
                        (NOT_SKIPPED, CARRIES_OUR_TAG),
                        "only snapshots carrying the Recycle Bin tag (so a retention rule "
                        "keeps them), never one carrying the skip tag",
                    ),
                )
            ),
            "rbin:GetRule": GET_RULE_SCOPE,
            "ec2:RestoreSnapshotFromRecycleBin": only(
                SNAPSHOT, why="snapshots only, to undo a deletion"
            ),
            "ec2:DeleteTags": untag_scope(SNAPSHOT),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: OrphanedSnapshotSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        snapshots = [
            snapshot
            for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
            for snapshot in map(SnapshotSpec.from_api, page.get("Snapshots", []))
            if not snapshot.owner_id or snapshot.owner_id == ctx.account_id
        ]
        if not snapshots:
            return
        volumes = {volume["VolumeId"] for volume in region_volumes(ctx)}
        amis = snapshots_backing_amis(ctx)
        rule: RecycleBinRule | None = None
        rule_read = False
        for snapshot in snapshots:
            reason = self._skip_reason(ctx, settings, snapshot, volumes, amis)
            if reason is not None:
                yield self.skipped(ctx, snapshot.snapshot_id, reason)
                continue
            if not rule_read:
                rule, rule_read = covering_rule(ctx, settings.min_retention_days), True
            yield self._finding(ctx, snapshot, snapshots, rule)

    def _skip_reason(
        self,
        ctx: ScanContext,
        settings: OrphanedSnapshotSettings,
        snapshot: SnapshotSpec,
        volumes: set[str],
        amis: dict[str, str],
    ) -> str | None:
        age = ctx.as_of - snapshot.start_time
        if snapshot.state != "completed":
            return f"state is {snapshot.state!r}"
        if snapshot.storage_tier != "standard":
            return f"in the {snapshot.storage_tier} tier: left to ebs-snapshot-archive's undo"
        if age < timedelta(days=settings.min_age_days):
            return f"{age.days} days old, under min_age_days={settings.min_age_days}"
        if not snapshot.lineage_known:
            return "copied snapshot (volume vol-ffffffff): its source volume is unknown"
        if snapshot.volume_id in volumes:
            return f"its source volume {snapshot.volume_id} still exists"
        if snapshot.snapshot_id in amis:
            return f"backs AMI {amis[snapshot.snapshot_id]}"
        if snapshot.managed_by_aws_backup or any(
            mark in snapshot.description for mark in _AWS_BACKUP_MARKS
        ):
            return "made by AWS Backup: its backup plan's lifecycle owns it"
        if _DLM_TAG in snapshot.tags:
            return "made by Data Lifecycle Manager: its policy's retention owns it"
        if PLAN_ID_TAG in snapshot.tags:
            return "reclaim's own backup: kept for its plan's rollback"
        return ctx.exclusions.reason_to_skip(snapshot.snapshot_id, snapshot.tags)

    def _finding(
        self,
        ctx: ScanContext,
        snapshot: SnapshotSpec,
        snapshots: list[SnapshotSpec],
        rule: RecycleBinRule | None,
    ) -> Finding:
        age_days = (ctx.as_of - snapshot.start_time).days
        siblings = sum(
            1 for s in snapshots if s.volume_id == snapshot.volume_id and s is not snapshot
        )
        size = snapshot.full_size_gib
        rate = ctx.prices.ebs.snapshot.standard_gib_month
        cost = ctx.prices.cost(
            size * rate,
            ctx.region,
            f"{size:.1f} GiB x ${rate}/GiB-month standard snapshot storage"
            + (
                f"; an upper bound: {siblings} other snapshot(s) of {snapshot.volume_id} may "
                "share its blocks"
                if siblings
                else "; the only snapshot of its volume, so every block is its own"
            ),
        )
        if siblings or snapshot.full_size_bytes is None:
            cost = cost.model_copy(update={"estimated": True})
        record = OrphanedSnapshot(
            snapshot=snapshot, age_days=age_days, recycle_bin=rule, skip_tag=ctx.exclusions.skip_tag
        )
        evidence = [
            Evidence(label="Snapshot", value=snapshot.label(), source="DescribeSnapshots"),
            Evidence(
                label="Age",
                value=f"{age_days} days (started {snapshot.start_time:%Y-%m-%d})",
                source="DescribeSnapshots",
            ),
            Evidence(
                label="Source volume",
                value=f"{snapshot.volume_id} no longer exists",
                source="DescribeVolumes",
            ),
            Evidence(label="AMI", value="backs no AMI of this account", source="DescribeImages"),
            snapshot_bin_evidence(rule),
        ]
        finding = self.new_finding(
            ctx,
            title=f"Delete orphaned {snapshot.label()}, {age_days} days old",
            cost=cost,
            risk="medium" if rule else "high",
            risk_reasons=(
                "nobody may have a use for it, but nobody can say that from AWS alone",
                f"restorable for {rule.retention_days} days from the Recycle Bin"
                if rule
                else "no Recycle Bin rule: a deletion would be permanent",
            ),
            evidence=evidence,
            record=record,
        )
        if rule is None:
            return finding.model_copy(update={"reversibility": "report-only"})
        return finding

    # ---- manifests (pure) --------------------------------------------------------------

    def backup_cost(self, record: OrphanedSnapshot, prices: PriceTable) -> BackupCost | None:
        if record.recycle_bin is None:
            return None  # report-only: nothing is deleted
        return recycle_bin_wait_cost(record.snapshot, record.recycle_bin, prices)

    def resource_of(self, record: OrphanedSnapshot) -> str:
        return record.snapshot.snapshot_id

    def tags_of(self, record: OrphanedSnapshot) -> Mapping[str, str]:
        return record.snapshot.tags

    def plan(self, finding: Finding, record: OrphanedSnapshot) -> ManifestBody:
        return recycle_bin_deletion(
            finding,
            record.snapshot,
            kept_by_bin(finding, record.recycle_bin, "its deletion"),
            record.skip_tag,
        )

    def rollback(self, finding: Finding, record: OrphanedSnapshot) -> ManifestBody:
        return recycle_bin_restore(
            record.snapshot, kept_by_bin(finding, record.recycle_bin, "its deletion")
        )


def recycle_bin_deletion(
    finding: Finding,
    snapshot: SnapshotSpec,
    rule: RecycleBinRule,
    skip_tag: str,
    *,
    prechecks: tuple[Step, ...] = (),
) -> ManifestBody:
    """Pure: tag the snapshot for the Recycle Bin rule (unless it is), then delete it into
    the bin; ``prechecks`` (a rule's own) run after the common ones, before anything is
    changed. Shared by every rule that deletes a snapshot: ebs-snapshot-orphaned,
    backup-expired."""
    sid, root = snapshot.snapshot_id, "Snapshots[0]"
    delete = AwsCall(service="ec2", operation="DeleteSnapshot", params={"SnapshotId": sid})
    tag_steps: list[Step] = []
    if not already_tagged(snapshot):
        tag_steps.append(
            steps.change(
                "tag",
                f"Tag {sid} {RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE}, the tag Recycle Bin rule "
                f"{rule.identifier} retains deleted snapshots by.",
                tag_call("CreateTags", sid),
                already_done=Lookup(call=_describe(sid), found_when=_TAGGED),
            )
        )
    plan_steps = (
        steps.precheck(
            "precheck",
            f"Read {sid} and confirm it is completed, owned by this account, without the "
            "skip tag, and unchanged since the scan (source volume, size, encryption, "
            "description, tags).",
            _describe(sid),
            Expectation(path=f"{root}.OwnerId", equals=finding.account, what="owner"),
            Expectation(path=f"{root}.StorageTier || 'standard'", equals="standard", what="tier"),
            steps.skip_tag_absent(skip_tag, tags_at=f"{root}.Tags"),
            steps.tags_unchanged(f"{root}.Tags", snapshot.tags),
            *_as_recorded(snapshot),
        ),
        steps.precheck(
            "precheck-volume",
            f"Confirm its source volume {snapshot.volume_id} still does not exist.",
            AwsCall(
                service="ec2",
                operation="DescribeVolumes",
                params={"VolumeIds": [snapshot.volume_id]},
            ),
            expect_error="InvalidVolume.NotFound",
            failure_hint="the source volume exists (again): the snapshot is not orphaned",
        ),
        no_ami_precheck(sid),
        *prechecks,
        rule_precheck(rule, "EBS_SNAPSHOT"),
        steps.record(
            "record",
            f"Record {sid} in the journal: what the rollback's restore is checked against.",
            _describe(sid),
            outputs={
                "VolumeId": f"{root}.VolumeId",
                "VolumeSize": f"{root}.VolumeSize",
                "StartTime": f"{root}.StartTime",
                "Tags": f"{root}.Tags",
            },
        ),
        # The write role may delete only snapshots carrying the Recycle Bin tag, so before
        # the tag is set, the dry run asks about the tag; once it is, about the delete.
        steps.dry_run(
            f"Ask EC2 whether tagging {sid} would be permitted (DryRun).",
            tag_call("CreateTags", sid),
        )
        if tag_steps
        else steps.dry_run(
            f"Ask EC2 whether DeleteSnapshot {sid} would be permitted (DryRun).", delete
        ),
        *tag_steps,
        steps.change(
            "delete",
            f"Delete {sid}; Recycle Bin rule {rule.identifier} keeps it for "
            f"{rule.retention_days} days.",
            delete,
            destroys_data=True,
            already_done=Lookup(call=_describe(sid), found_on_error=_NOT_FOUND),
        ),
        steps.verify(
            "verify",
            f"Confirm {sid} is in the Recycle Bin, and record when it leaves it.",
            _in_bin(sid),
            Expectation(path="length(Snapshots)", equals=1, what="snapshot in the Recycle Bin"),
            outputs={"RecycleBinExitTime": "Snapshots[0].RecycleBinExitTime"},
        ),
    )
    return ManifestBody(
        steps=plan_steps,
        notes=(
            f"Deadline: the rollback can restore {sid} for {rule.retention_days} days after "
            "the apply (the journal records the Recycle Bin's exact exit time). After that "
            "the snapshot is deleted for good.",
            "While in the Recycle Bin the snapshot is still billed at the snapshot storage "
            "price: the saving starts when the retention ends.",
            "If the Recycle Bin rule is deleted or changed before the apply, the apply "
            "stops before deleting anything.",
        ),
    )


def recycle_bin_restore(snapshot: SnapshotSpec, rule: RecycleBinRule) -> ManifestBody:
    """Pure: the undo of `recycle_bin_deletion`: restore the same snapshot from the bin,
    take the Recycle Bin tag off again, and check it is back as recorded."""
    sid, root = snapshot.snapshot_id, "Snapshots[0]"
    restore = AwsCall(
        service="ec2", operation="RestoreSnapshotFromRecycleBin", params={"SnapshotId": sid}
    )
    untag: list[Step] = []
    if not already_tagged(snapshot):
        untag.append(
            steps.change(
                "untag",
                f"Remove the {RECYCLE_BIN_TAG} tag the apply added.",
                tag_call("DeleteTags", sid),
                already_done=Lookup(call=_describe(sid), found_when=f"!({_TAGGED})"),
            )
        )
    rollback_steps = (
        steps.precheck(
            "precheck",
            f"Confirm {sid} is in the Recycle Bin (it leaves it {rule.retention_days} days "
            "after the apply).",
            _in_bin(sid),
            Expectation(path="length(Snapshots)", equals=1, what="snapshot in the Recycle Bin"),
            failure_hint="past the retention the snapshot is deleted for good; if it is "
            "not in the bin but exists, someone restored it already",
        ),
        steps.dry_run(f"Ask EC2 whether restoring {sid} would be permitted (DryRun).", restore),
        steps.change(
            "restore",
            f"Restore {sid} from the Recycle Bin (same snapshot ID) and wait until it is "
            "completed.",
            restore,
            already_done=Lookup(
                call=_describe(sid),
                found_when="length(Snapshots) > `0`",
                not_done_on_error=_NOT_FOUND,
            ),
            wait=WaitFor(waiter="snapshot_completed", params={"SnapshotIds": [sid]}),
        ),
        *untag,
        steps.verify(
            "verify",
            f"Confirm {sid} is back as recorded: source volume, size, encryption, "
            "description and tags.",
            _describe(sid),
            steps.tags_unchanged(f"{root}.Tags", snapshot.tags),
            *_as_recorded(snapshot),
        ),
    )
    return ManifestBody(
        steps=rollback_steps,
        notes=(f"Only within the {rule.retention_days}-day Recycle Bin retention.",),
    )


def recycle_bin_wait_cost(
    snapshot: SnapshotSpec, rule: RecycleBinRule, prices: PriceTable
) -> BackupCost:
    """A snapshot in the Recycle Bin is billed at the standard snapshot rate until the
    retention ends: the saving starts only then."""
    size = snapshot.full_size_gib
    rate = prices.ebs.snapshot.standard_gib_month
    return BackupCost(
        what=f"{snapshot.snapshot_id} while it waits in the Recycle Bin",
        monthly_usd=round(size * rate, 2),
        kept_days=rule.retention_days,
        basis=(
            f"{size:.1f} GiB x ${rate}/GB-month: AWS bills a snapshot in the Recycle Bin "
            "at the standard snapshot rate until its retention ends, so the saving starts "
            "then"
        ),
    )


def covering_rule(ctx: ScanContext, min_retention_days: int) -> RecycleBinRule | None:
    """The tag-level rule retaining snapshots tagged reclaim:recycle-bin=retain longest,
    unlocked or not; None (and a warning) when none does or the Recycle Bin is unreadable."""
    return _covering_rule(
        ctx,
        "EBS_SNAPSHOT",
        min_retention_days,
        unreadable="snapshot deletions are report-only, since their deletion could not be "
        "shown to be undoable",
    )
