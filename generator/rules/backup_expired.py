"""backup-expired: reclaim's own backup snapshots, past their rule's retention.

A plan that deletes a volume keeps a snapshot of it, tagged ``reclaim:plan-id`` with the
plan's ID, for ``backup_retention_days`` after the apply (ebs-unattached, 30 by default), so
that /rollback can restore it. After that the scheduled scan proposes deleting it, as a pull
request of its own like any other finding: never silently, and only a backup that:

- the default branch's journal of that plan records as the backup its apply made (a tag
  anyone could set is not enough), with the tag still naming that plan;
- belongs to a plan that was never rolled back, and from which no volume was created (the
  restore of a rollback, or anyone's);
- is older than the retention of the default branch's reclaim.yml, counted from the
  snapshot's StartTime as AWS reports it;
- backs no AMI and is in the standard tier.

Deleting a snapshot cannot be undone unless a Recycle Bin retention rule keeps it. The
change is ebs-snapshot-orphaned's (tag ``reclaim:recycle-bin=retain``, delete into the bin,
undo with RestoreSnapshotFromRecycleBin, the same snapshot ID): where no such rule covers
snapshots, the finding is report-only, priced and listed, never proposed. The apply looks
at the backup again through this detection, with the default branch's journals and
reclaim.yml, and its pre-checks confirm on AWS that the tag still names the plan, that no
AMI uses the snapshot and that no volume was restored from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.aws.prices import PriceTable
from generator.aws.tags import PLAN_ID_TAG
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.ledger import Ledger, PlanHistory
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation
from generator.manifest.paths import json_literal
from generator.rules.base import BackupCost, ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.ebs_snapshot import SnapshotSpec, snapshots_backing_amis
from generator.rules.ebs_snapshot_orphaned import (
    EbsSnapshotOrphaned,
    RecycleBinRule,
    covering_rule,
    recycle_bin_deletion,
    recycle_bin_restore,
    recycle_bin_wait_cost,
)
from generator.rules.ebs_volume import VOLUMES, region_volumes
from generator.rules.recycle_bin import kept_by_bin, snapshot_bin_evidence

_TAGGED_BY_RECLAIM = [{"Name": "tag-key", "Values": [PLAN_ID_TAG]}]
_PLAN_TAG_VALUE = f"Snapshots[0].Tags[?Key == {json_literal(PLAN_ID_TAG)}] | [0].Value"


class BackupExpiredSettings(RuleSettings):
    min_retention_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="A Recycle Bin rule counts as covering a backup only if it retains "
        "deleted snapshots at least this long (the time left to undo the deletion). The "
        "backups' own retention is each rule's backup_retention_days.",
    )


class ExpiredBackup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot: SnapshotSpec
    plan_id: str
    """The plan whose backup it is: its tag, and the journal that records it."""
    made_by: str
    """That plan's rule, whose backup_retention_days applies."""
    retention_days: int
    recycle_bin: RecycleBinRule | None
    """None: no rule covers it, so the finding is report-only."""
    skip_tag: str


class BackupExpired(Rule[BackupExpiredSettings, ExpiredBackup]):
    name: ClassVar[str] = "backup-expired"
    summary: ClassVar[str] = "reclaim's own backup snapshots past their rule's retention"
    resource_type: ClassVar[str] = "AWS::EC2::Snapshot"
    reversibility: ClassVar[Reversibility] = "full-delayed"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "snapshots tagged `reclaim:plan-id` that the default branch's journal records as "
            "that plan's backup, older than its rule's `backup_retention_days` (30), of a plan "
            "never rolled back, restored into no volume, backing no AMI. Report-only unless a "
            "tag-level Recycle Bin rule (`recycle_bin_days`) covers them"
        ),
        change="as ebs-snapshot-orphaned: tag `reclaim:recycle-bin=retain`, then DeleteSnapshot "
        "into the Recycle Bin",
        undo="RestoreSnapshotFromRecycleBin (same snapshot ID) within the rule's retention (the "
        "PR states the deadline), then the tag is removed",
    )
    settings_model = BackupExpiredSettings
    record_model = ExpiredBackup
    # The same change as ebs-snapshot-orphaned's, so the same calls and IAM scopes: the
    # generated policy shares their statements.
    listings: ClassVar[tuple[Listing, ...]] = (
        VOLUMES.read_whole("a backup any volume of the region was restored from is kept"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=EbsSnapshotOrphaned.calls.scan,
        apply=EbsSnapshotOrphaned.calls.apply,
        rollback=EbsSnapshotOrphaned.calls.rollback,
        scopes=EbsSnapshotOrphaned.calls.scopes,
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: BackupExpiredSettings
    ) -> Iterator[Finding | SkippedResource]:
        tagged = [
            SnapshotSpec.from_api(item)
            for page in ctx.pages(
                "ec2", "describe_snapshots", OwnerIds=["self"], Filters=_TAGGED_BY_RECLAIM
            )
            for item in page.get("Snapshots", [])
        ]
        expired: list[tuple[SnapshotSpec, PlanHistory, int]] = []
        for snapshot in tagged:
            found = self._expired(ctx, snapshot)
            if isinstance(found, str):
                yield self.skipped(ctx, snapshot.snapshot_id, found)
            else:
                expired.append((snapshot, *found))
        if not expired:
            return
        restored = {
            str(volume["SnapshotId"]): str(volume["VolumeId"])
            for volume in region_volumes(ctx)
            if volume.get("SnapshotId")
        }
        amis = snapshots_backing_amis(ctx)
        rule: RecycleBinRule | None = None
        rule_read = False
        for snapshot, history, retention in expired:
            sid = snapshot.snapshot_id
            if sid in restored:
                yield self.skipped(
                    ctx, sid, f"volume {restored[sid]} was created from it (a restore): kept"
                )
                continue
            if sid in amis:
                yield self.skipped(ctx, sid, f"backs AMI {amis[sid]}")
                continue
            if not rule_read:
                rule, rule_read = covering_rule(ctx, settings.min_retention_days), True
            yield self._finding(ctx, snapshot, history, retention, rule)

    def _expired(self, ctx: ScanContext, snapshot: SnapshotSpec) -> tuple[PlanHistory, int] | str:
        """The plan whose expired backup this is, with its retention; or why it is kept."""
        tag = snapshot.tags.get(PLAN_ID_TAG, "")
        if snapshot.state != "completed":
            return f"state is {snapshot.state!r}"
        if snapshot.owner_id and snapshot.owner_id != ctx.account_id:
            return f"owned by {snapshot.owner_id}"
        if snapshot.storage_tier != "standard":
            return f"in the {snapshot.storage_tier} tier: left to ebs-snapshot-archive's undo"
        ledger = ctx.ledger or Ledger()
        history = ledger.backup(snapshot.snapshot_id)
        if history is None:
            return (
                f"tagged {PLAN_ID_TAG}={tag}, but no journal on the default branch records it "
                "as an applied plan's backup: reclaim proposes deleting only what its own "
                "apply made"
            )
        if history.plan_id != tag:
            return f"its tag names plan {tag!r}, but the journal of {history.plan_id} records it"
        if (history.finding.account, history.finding.region) != (ctx.account_id, ctx.region):
            return f"the journal of {history.plan_id} is of another account or region"
        if snapshot.volume_id != history.finding.resource_id:
            # AWS's own value: a snapshot of another volume is not this plan's backup,
            # whatever a tag or a journal claims.
            return (
                f"a snapshot of {snapshot.volume_id}, not of {history.finding.resource_id}, "
                f"which plan {history.plan_id} backed up"
            )
        if history.rolled_back_at is not None:
            return (
                f"plan {history.plan_id} was rolled back "
                f"({history.rolled_back_at:%Y-%m-%d}): its backup is kept"
            )
        made_by = history.finding.rule
        retention = ledger.backup_retention_days.get(made_by)
        if retention is None:
            return f"rule {made_by} sets no backup_retention_days: kept"
        age = ctx.as_of - snapshot.start_time
        if age < timedelta(days=retention):
            until = snapshot.start_time + timedelta(days=retention)
            return (
                f"{age.days} days old, within {made_by}'s backup_retention_days={retention}: "
                f"/rollback of {history.plan_id} may need it until {until:%Y-%m-%d}"
            )
        return history, retention

    def _finding(
        self,
        ctx: ScanContext,
        snapshot: SnapshotSpec,
        history: PlanHistory,
        retention: int,
        rule: RecycleBinRule | None,
    ) -> Finding:
        age_days = (ctx.as_of - snapshot.start_time).days
        size = snapshot.full_size_gib
        rate = ctx.prices.ebs.snapshot.standard_gib_month
        cost = ctx.prices.cost(
            size * rate,
            ctx.region,
            f"{size:.1f} GiB x ${rate}/GiB-month standard snapshot storage"
            + (
                "; an upper bound: the snapshot is billed on the blocks it holds, the volume's "
                "size at most"
                if snapshot.full_size_bytes is None
                else ""
            ),
        )
        if snapshot.full_size_bytes is None:
            cost = cost.model_copy(update={"estimated": True})
        record = ExpiredBackup(
            snapshot=snapshot,
            plan_id=history.plan_id,
            made_by=history.finding.rule,
            retention_days=retention,
            recycle_bin=rule,
            skip_tag=ctx.exclusions.skip_tag,
        )
        journal = f"journal.json of {history.plan_id} on the default branch"
        evidence = [
            Evidence(label="Snapshot", value=snapshot.label(), source="DescribeSnapshots"),
            Evidence(
                label="Backup of",
                value=f"plan {history.plan_id}, applied {history.applied_at:%Y-%m-%d}, "
                f"never rolled back",
                source=journal,
            ),
            Evidence(
                label="Age",
                value=f"{age_days} days (started {snapshot.start_time:%Y-%m-%d})",
                source="DescribeSnapshots StartTime",
            ),
            Evidence(
                label="Retention",
                value=f"{history.finding.rule} backup_retention_days={retention}, past since "
                f"{snapshot.start_time + timedelta(days=retention):%Y-%m-%d}",
                source="reclaim.yml on the default branch",
            ),
            Evidence(
                label="Restores", value="no volume was created from it", source="DescribeVolumes"
            ),
            Evidence(label="AMI", value="backs no AMI of this account", source="DescribeImages"),
            snapshot_bin_evidence(rule),
        ]
        finding = self.new_finding(
            ctx,
            title=f"Delete expired reclaim backup {snapshot.snapshot_id} of {history.plan_id}, "
            f"{age_days} days old",
            cost=cost,
            risk="low" if rule else "high",
            risk_reasons=(
                f"past the {retention}-day window in which /rollback of {history.plan_id} "
                "restores from it",
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

    def resource_of(self, record: ExpiredBackup) -> str:
        return record.snapshot.snapshot_id

    def tags_of(self, record: ExpiredBackup) -> Mapping[str, str]:
        return record.snapshot.tags

    def backup_cost(self, record: ExpiredBackup, prices: PriceTable) -> BackupCost | None:
        if record.recycle_bin is None:
            return None  # report-only: nothing is deleted
        return recycle_bin_wait_cost(record.snapshot, record.recycle_bin, prices)

    def plan(self, finding: Finding, record: ExpiredBackup) -> ManifestBody:
        sid = record.snapshot.snapshot_id
        body = recycle_bin_deletion(
            finding,
            record.snapshot,
            kept_by_bin(finding, record.recycle_bin, "deleting the backup"),
            record.skip_tag,
            prechecks=(
                steps.precheck(
                    "precheck-plan-tag",
                    f"Confirm {sid} still carries {PLAN_ID_TAG}={record.plan_id}: it is "
                    "reclaim's backup of that plan.",
                    AwsCall(
                        service="ec2", operation="DescribeSnapshots", params={"SnapshotIds": [sid]}
                    ),
                    Expectation(
                        path=_PLAN_TAG_VALUE, equals=record.plan_id, what=f"tag {PLAN_ID_TAG}"
                    ),
                    failure_hint="the snapshot is no longer tagged as this plan's backup: "
                    "reclaim deletes only its own backups",
                ),
                steps.precheck(
                    "precheck-not-restored",
                    f"Confirm no volume was created from {sid} (a /rollback of "
                    f"{record.plan_id} restores from it).",
                    AwsCall(
                        service="ec2",
                        operation="DescribeVolumes",
                        params={"Filters": [{"Name": "snapshot-id", "Values": [sid]}]},
                    ),
                    Expectation(path="length(Volumes)", equals=0, what="volumes created from it"),
                    failure_hint="a volume was restored from this backup: it is kept",
                ),
            ),
        )
        return dataclasses.replace(
            body,
            notes=(
                *body.notes,
                f"Once this is applied, /rollback of {record.plan_id} has no backup to restore "
                f"from; while {sid} is in the Recycle Bin, /rollback of this PR brings it back "
                "first.",
            ),
        )

    def rollback(self, finding: Finding, record: ExpiredBackup) -> ManifestBody:
        return recycle_bin_restore(
            record.snapshot, kept_by_bin(finding, record.recycle_bin, "deleting the backup")
        )
