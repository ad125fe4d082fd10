"""ebs-snapshot-archive: old snapshots kept for the record cost 4x less in the archive tier.

Archiving turns an incremental snapshot into a full one. It saves money only when the
archive price of the *full* snapshot is lower than what the snapshot costs today in the
standard tier. Today's standard price is known only when no other standard-tier snapshot
of the same volume shares its blocks: then every block is the snapshot's own, and it is
billed for all of them. A snapshot with standard-tier siblings (or an unknown lineage) may
cost far less than its full size today, so reclaim leaves it alone and says why.

Not archived: snapshots backing an AMI, snapshots managed by AWS Backup, snapshots that are
not completed, and those younger than ``min_age_days`` (default 90). Undo: a permanent
RestoreSnapshotTier, which takes up to 72 hours, costs a retrieval fee, and does not refund
the archive tier's 90-day minimum: hence full-delayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import SNAPSHOT, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.ebs_snapshot import SnapshotSpec, no_ami_precheck, snapshots_backing_amis

ARCHIVING = ("archival-in-progress", "archival-completed")
RESTORING = ("permanent-restore-in-progress", "permanent-restore-completed")


class SnapshotArchiveSettings(RuleSettings):
    min_age_days: int = Field(default=90, ge=1, description="Only snapshots older than this.")
    min_monthly_savings_usd: float = Field(
        default=0.0, ge=0, description="Propose only when archiving saves more than this."
    )


class ArchivableSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot: SnapshotSpec
    age_days: int
    standard_monthly_usd: float
    archive_monthly_usd: float
    archive_retrieval_usd: float
    archive_minimum_days: int
    skip_tag: str


def _tier_status(snapshot_id: str) -> AwsCall:
    return AwsCall(
        service="ec2",
        operation="DescribeSnapshotTierStatus",
        params={"Filters": [{"Name": "snapshot-id", "Values": [snapshot_id]}]},
    )


def _status_in(statuses: tuple[str, ...]) -> str:
    return (
        f"contains({json_literal(list(statuses))}, "
        "SnapshotTierStatuses[0].LastTieringOperationStatus || '')"
    )


def _snapshot_expectations(snapshot: SnapshotSpec, root: str) -> list[Expectation]:
    return [
        Expectation(path=f"{root}.VolumeId", equals=snapshot.volume_id, what="source volume"),
        Expectation(path=f"{root}.VolumeSize", equals=snapshot.volume_size_gib, what="size (GiB)"),
        Expectation(
            path=f"{root}.Encrypted || `false`", equals=snapshot.encrypted, what="encryption"
        ),
        steps.tags_unchanged(f"{root}.Tags", snapshot.tags),
    ]


class EbsSnapshotArchive(Rule[SnapshotArchiveSettings, ArchivableSnapshot]):
    name: ClassVar[str] = "ebs-snapshot-archive"
    summary: ClassVar[str] = "Old snapshots moved to the archive tier when that is cheaper"
    resource_type: ClassVar[str] = "AWS::EC2::Snapshot"
    reversibility: ClassVar[Reversibility] = "full-delayed"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "completed snapshots owned by the account, older than `min_age_days` (90), backing no "
            "AMI, not managed by AWS Backup, and the only standard-tier snapshot of their volume "
            "(so archiving the full size is provably cheaper)"
        ),
        change="ModifySnapshotTier to archive",
        undo=(
            "RestoreSnapshotTier permanent (up to 72 h, retrieval fee, 90-day archive minimum; all "
            "said in the PR)"
        ),
    )
    settings_model = SnapshotArchiveSettings
    record_model = ArchivableSnapshot
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("ec2", "DescribeSnapshots"), ("ec2", "DescribeImages")}),
        apply=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "DescribeImages"),
                ("ec2", "DescribeSnapshotTierStatus"),
                ("ec2", "ModifySnapshotTier"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "DescribeSnapshotTierStatus"),
                ("ec2", "RestoreSnapshotTier"),
            }
        ),
        scopes={
            "ec2:ModifySnapshotTier": never_skipped(
                SNAPSHOT, "never a snapshot carrying the skip tag"
            ),
            "ec2:RestoreSnapshotTier": only(SNAPSHOT, why="snapshots only, to undo an archive"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: SnapshotArchiveSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        # OwnerIds=["self"] already means this account's; the owner check guards against
        # endpoints that ignore it (moto lists public AMI snapshots). Those are not this
        # account's resources, so they are not reported as "left alone" either.
        snapshots = [
            snapshot
            for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
            for snapshot in map(SnapshotSpec.from_api, page.get("Snapshots", []))
            if not snapshot.owner_id or snapshot.owner_id == ctx.account_id
        ]
        if not snapshots:
            return
        backing_amis = snapshots_backing_amis(ctx)
        standard_by_volume: dict[str, int] = {}
        for snapshot in snapshots:
            if snapshot.storage_tier == "standard":
                standard_by_volume[snapshot.volume_id] = (
                    standard_by_volume.get(snapshot.volume_id, 0) + 1
                )
        for snapshot in snapshots:
            reason = self._skip_reason(ctx, settings, snapshot, backing_amis, standard_by_volume)
            if reason is None:
                finding, reason = self._finding(ctx, settings, snapshot)
                if finding is not None:
                    yield finding
                    continue
            yield self.skipped(ctx, snapshot.snapshot_id, reason or "")

    def _skip_reason(
        self,
        ctx: ScanContext,
        settings: SnapshotArchiveSettings,
        snapshot: SnapshotSpec,
        backing_amis: dict[str, str],
        standard_by_volume: dict[str, int],
    ) -> str | None:
        age = ctx.as_of - snapshot.start_time
        if snapshot.state != "completed":
            return f"state is {snapshot.state!r}"
        if snapshot.storage_tier != "standard":
            return f"already in the {snapshot.storage_tier} tier"
        if age < timedelta(days=settings.min_age_days):
            return f"{age.days} days old, under min_age_days={settings.min_age_days}"
        if snapshot.snapshot_id in backing_amis:
            return f"backs AMI {backing_amis[snapshot.snapshot_id]}"
        if snapshot.managed_by_aws_backup:
            return "managed by AWS Backup (its lifecycle owns the archive tier)"
        if not snapshot.lineage_known:
            return (
                "copied snapshot (volume vol-ffffffff): which snapshots share its blocks is "
                "unknown, so archiving may cost more than it saves"
            )
        siblings = standard_by_volume.get(snapshot.volume_id, 0) - 1
        if siblings > 0:
            return (
                f"{siblings} other standard-tier snapshot(s) of {snapshot.volume_id} share its "
                "blocks: today it may cost far less than its full size, so archiving (billed "
                "on the full size) is not provably cheaper"
            )
        return ctx.exclusions.reason_to_skip(snapshot.snapshot_id, snapshot.tags)

    def _finding(
        self, ctx: ScanContext, settings: SnapshotArchiveSettings, snapshot: SnapshotSpec
    ) -> tuple[Finding | None, str | None]:
        size = snapshot.full_size_gib
        # The only standard-tier snapshot of its volume owns every block: it is billed
        # for its full size today, the same data the archive tier would bill.
        standard = ctx.prices.snapshot_monthly(size, "standard")
        archive = ctx.prices.snapshot_monthly(size, "archive")
        savings = standard - archive
        if archive >= standard or savings <= settings.min_monthly_savings_usd:
            return None, (
                f"archive ${archive:.2f}/month is not cheaper than standard ${standard:.2f}/month "
                f"by more than min_monthly_savings_usd={settings.min_monthly_savings_usd}"
            )
        rates = ctx.prices.ebs.snapshot
        size_source = (
            "FullSnapshotSizeInBytes"
            if snapshot.full_size_bytes is not None
            else "volume size (upper bound: AWS did not report the snapshot's full size)"
        )
        basis = (
            f"{size:.1f} GiB ({size_source}) x (${rates.standard_gib_month} standard - "
            f"${rates.archive_gib_month} archive)/GiB-month"
        )
        cost = ctx.prices.cost(savings, ctx.region, basis)
        if snapshot.full_size_bytes is None:
            cost = cost.model_copy(update={"estimated": True})
        age_days = (ctx.as_of - snapshot.start_time).days
        record = ArchivableSnapshot(
            snapshot=snapshot,
            age_days=age_days,
            standard_monthly_usd=round(standard, 2),
            archive_monthly_usd=round(archive, 2),
            archive_retrieval_usd=round(size * rates.archive_retrieval_gib, 2),
            archive_minimum_days=rates.archive_minimum_days,
            skip_tag=ctx.exclusions.skip_tag,
        )
        evidence = (
            Evidence(label="Snapshot", value=snapshot.label(), source="DescribeSnapshots"),
            Evidence(
                label="Age",
                value=f"{age_days} days (started {snapshot.start_time:%Y-%m-%d})",
                source="DescribeSnapshots",
            ),
            Evidence(
                label="Lineage",
                value=f"the only standard-tier snapshot of {snapshot.volume_id}",
                source="DescribeSnapshots (owner self)",
            ),
            Evidence(label="AMI", value="backs no AMI of this account", source="DescribeImages"),
            Evidence(
                label="Standard vs archive",
                value=f"${standard:.2f} vs ${archive:.2f} per month",
                source=f"{size:.1f} GiB by {size_source}",
            ),
        )
        finding = self.new_finding(
            ctx,
            title=f"Archive {snapshot.label()}, {age_days} days old",
            cost=cost,
            risk="low",
            risk_reasons=(
                "the snapshot is kept; only its storage tier changes",
                "restoring takes up to 72 hours: not for snapshots needed at short notice",
            ),
            evidence=evidence,
            record=record,
        )
        return finding, None

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: ArchivableSnapshot) -> str:
        return record.snapshot.snapshot_id

    def tags_of(self, record: ArchivableSnapshot) -> Mapping[str, str]:
        return record.snapshot.tags

    def plan(self, finding: Finding, record: ArchivableSnapshot) -> ManifestBody:
        snapshot = record.snapshot
        sid = snapshot.snapshot_id
        root = "Snapshots[0]"
        prechecks = (
            steps.precheck(
                "precheck",
                f"Read {sid} and confirm it is completed, in the standard tier, owned by "
                "this account, without the skip tag, and unchanged since the scan.",
                _describe(sid),
                Expectation(path=f"{root}.State", equals="completed", what="state"),
                Expectation(
                    path=f"{root}.StorageTier || 'standard'",
                    equals="standard",
                    what="storage tier",
                ),
                Expectation(path=f"{root}.OwnerId", equals=finding.account, what="owner"),
                steps.skip_tag_absent(record.skip_tag, tags_at=f"{root}.Tags"),
                *_snapshot_expectations(snapshot, root),
            ),
            no_ami_precheck(sid),
            steps.precheck(
                "precheck-lineage",
                f"Confirm {sid} is still the only standard-tier snapshot of "
                f"{snapshot.volume_id}, so archiving its full size is cheaper.",
                AwsCall(
                    service="ec2",
                    operation="DescribeSnapshots",
                    params={
                        "OwnerIds": ["self"],
                        "Filters": [{"Name": "volume-id", "Values": [snapshot.volume_id]}],
                    },
                ),
                Expectation(
                    path="Snapshots[?(StorageTier || 'standard') == 'standard'].SnapshotId",
                    equals=[sid],
                    what="standard-tier snapshots of the volume",
                ),
            ),
        )
        return ManifestBody(
            steps=_tier_change(sid).apply_steps(prechecks),
            notes=(
                f"Archived snapshots are billed for at least {record.archive_minimum_days} "
                "days: restoring earlier still costs the rest of that period.",
                "The archive tier stores the full snapshot, not just its changed blocks; it is "
                f"${record.archive_monthly_usd:.2f}/month here against "
                f"${record.standard_monthly_usd:.2f}/month today.",
                "An archived snapshot cannot be used to create volumes until it is restored; "
                "restoring takes up to 72 hours and costs about "
                f"${record.archive_retrieval_usd:.2f} in retrieval fees.",
            ),
        )

    def rollback(self, finding: Finding, record: ArchivableSnapshot) -> ManifestBody:
        snapshot = record.snapshot
        sid = snapshot.snapshot_id
        root = "Snapshots[0]"
        prechecks = (
            steps.precheck(
                "precheck",
                f"Confirm {sid} finished archiving and is otherwise unchanged (a snapshot "
                "still being archived cannot be restored yet: re-run later).",
                _describe(sid),
                Expectation(path=f"{root}.StorageTier", equals="archive", what="storage tier"),
                *_snapshot_expectations(snapshot, root),
            ),
        )
        return ManifestBody(
            steps=_tier_change(sid).rollback_steps(prechecks),
            notes=(
                "Restoring takes up to 72 hours; the snapshot is usable once it is back in "
                "the standard tier.",
                f"Retrieval costs about ${record.archive_retrieval_usd:.2f}, and the "
                f"{record.archive_minimum_days}-day archive minimum is billed even if "
                "restored sooner.",
            ),
        )


def _describe(snapshot_id: str) -> AwsCall:
    return AwsCall(
        service="ec2", operation="DescribeSnapshots", params={"SnapshotIds": [snapshot_id]}
    )


def _tier_change(sid: str) -> steps.SetAndSetBack:
    """standard → archive, and a permanent restore back."""
    root = "Snapshots[0]"
    return steps.SetAndSetBack(
        record=steps.record(
            "record-tier",
            f"Record {sid}'s tier and size in the journal. The snapshot itself is "
            "kept: only its storage tier changes.",
            _describe(sid),
            outputs={
                "StorageTier": f"{root}.StorageTier",
                "VolumeSize": f"{root}.VolumeSize",
                "FullSnapshotSizeInBytes": f"{root}.FullSnapshotSizeInBytes",
            },
        ),
        dry_run=f"Ask EC2 whether ModifySnapshotTier {sid} would be permitted.",
        set=steps.change(
            "archive",
            f"Move {sid} to the archive tier.",
            AwsCall(
                service="ec2",
                operation="ModifySnapshotTier",
                params={"SnapshotId": sid, "StorageTier": "archive"},
            ),
            already_done=Lookup(call=_tier_status(sid), found_when=_status_in(ARCHIVING)),
        ),
        verify_set=steps.verify(
            "verify",
            f"Confirm archiving of {sid} is in progress or completed.",
            _tier_status(sid),
            Expectation(
                path=_status_in(ARCHIVING),
                equals=True,
                what="tiering status is archival-in-progress or archival-completed",
            ),
        ),
        set_back=steps.change(
            "restore",
            f"Restore {sid} permanently to the standard tier (AWS takes up to 72 hours).",
            AwsCall(
                service="ec2",
                operation="RestoreSnapshotTier",
                params={"SnapshotId": sid, "PermanentRestore": True},
            ),
            already_done=Lookup(call=_tier_status(sid), found_when=_status_in(RESTORING)),
        ),
        verify_set_back=(
            steps.verify(
                "verify",
                f"Confirm the permanent restore of {sid} is in progress or done.",
                _tier_status(sid),
                Expectation(
                    path=_status_in(RESTORING),
                    equals=True,
                    what="tiering status is permanent-restore-in-progress or -completed",
                ),
            ),
        ),
    )
