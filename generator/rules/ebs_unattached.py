"""ebs-unattached: volumes nobody has attached for a while. Snapshot, then delete.

Undo: a new volume from the snapshot, in the same zone, with the same type, size, IOPS,
throughput, encryption, KMS key and tags (it gets a new volume ID).

Where a tag-level Recycle Bin rule keeps EBS volumes tagged ``reclaim:recycle-bin=retain``
(created by hand for now: the AWS provider reclaim's Terraform is tested with, 5.100, does not
accept ``EBS_VOLUME``), the plan tags the volume and deletes it into the bin instead, and the
undo is RestoreVolumeFromRecycleBin: the same volume, ID included, within the rule's retention
(the PR states the deadline). The snapshot is taken either way and stays the long-term copy
(generator.rules.ebs_volume_recycle_bin).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.cloudtrail import DetachHistory, detach_history
from generator.aws.listings import Listing
from generator.aws.prices import PriceTable
from generator.aws.tags import PLAN_ID_TAG, tag_list
from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
)
from generator.iam.scopes import (
    KMS_KEY,
    NOT_SKIPPED,
    SNAPSHOT,
    VOLUME,
    ActionScope,
    Condition,
    Grant,
    create_action,
    only,
)
from generator.manifest import steps
from generator.manifest.models import (
    AwsCall,
    Expectation,
    Lookup,
    WaitFor,
)
from generator.manifest.paths import json_literal
from generator.manifest.refs import ref
from generator.rules.base import (
    BackupCost,
    BillFootprint,
    ManifestBody,
    MaterialChange,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.rules.ebs_volume import VOLUMES, VolumeSpec, region_volumes, spec_expectations
from generator.rules.ebs_volume_recycle_bin import (
    BinnedVolume,
    recycle_bin_backup_cost,
    recycle_bin_plan,
    recycle_bin_rollback,
)
from generator.rules.recycle_bin import (
    GET_RULE_SCOPE,
    RECYCLE_BIN_TAG,
    RECYCLE_BIN_VALUE,
    RecycleBinRule,
    covering_rule,
    tag_scope,
    untag_scope,
)
from generator.state import state_key

SNAPSHOT_POLL_SECONDS = 15
_SNAPSHOT_COMPLETED = Expectation(
    path="Snapshots[0].State", equals="completed", what="snapshot state"
)
_UNATTACHED = Evidence(label="State", value="available, no attachments", source="DescribeVolumes")
_IMPORTANT = re.compile(r"prod|do[-_ ]?not[-_ ]?delete|keep|critical|important", re.IGNORECASE)


_VIA_EC2 = Condition("StringLike", "kms:ViaService", ("ec2.{region}.amazonaws.com",))
# Restoring an encrypted volume makes EBS use the volume's KMS key on reclaim's behalf.
_RESTORE_ENCRYPTED = (
    (
        (
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ),
        Grant((KMS_KEY,), (_VIA_EC2,), "only through EC2, to restore encrypted volumes"),
    ),
    (
        ("kms:CreateGrant",),
        Grant(
            (KMS_KEY,),
            (_VIA_EC2, Condition("Bool", "kms:GrantIsForAWSResource", ("true",))),
            "grants only for EBS itself, to restore encrypted volumes",
        ),
    ),
)


class EbsUnattachedSettings(RuleSettings):
    min_unattached_days: int = Field(
        default=7, ge=1, description="Days a volume must have been unattached."
    )
    use_cloudtrail: bool = Field(
        default=True,
        description="Ask CloudTrail LookupEvents for DetachVolume times when permitted.",
    )
    cloudtrail_lookback_days: int = Field(
        default=90, ge=1, le=90, description="CloudTrail event history keeps 90 days."
    )
    snapshot_timeout_minutes: int = Field(
        default=120, ge=5, description="How long apply waits for the backup snapshot."
    )
    backup_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days the backup snapshot is kept after the apply, stated in the PR "
        "(with the saving net of the snapshot for that long); after them, rule backup-expired "
        "proposes deleting it, never silently.",
    )
    use_recycle_bin: bool = Field(
        default=True,
        description="Where a tag-level Recycle Bin rule keeps EBS volumes tagged "
        f"{RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE} (`aws rbin create-rule --resource-type "
        "EBS_VOLUME`, docs/rules.md), delete into it: /rollback then restores the same "
        "volume, ID included. "
        "Without such a rule, the volume is deleted after its snapshot as before.",
    )
    recycle_bin_min_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="A Recycle Bin rule counts only if it keeps deleted volumes at least this "
        "long (the time left to restore the same volume).",
    )


class UnattachedVolume(BaseModel):
    """What the finding records: enough to re-derive the plan and to restore."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    volume: VolumeSpec
    unattached_since: datetime
    unattached_source: str
    skip_tag: str
    snapshot_timeout_minutes: int
    backup_retention_days: int
    # The Recycle Bin came after findings were published: a record without a rule
    # serializes byte for byte as it did before (the field is left out, not null).
    recycle_bin: RecycleBinRule | None = Field(default=None, exclude_if=lambda rule: rule is None)
    """The retention rule that keeps the deleted volume; None: deleted after its snapshot."""

    @property
    def binned(self) -> BinnedVolume | None:
        if self.recycle_bin is None:
            return None
        return BinnedVolume(self.volume, self.recycle_bin)


def _client_token(plan_id: str) -> str:
    return "reclaim-" + hashlib.sha256(plan_id.encode()).hexdigest()[:48]


class EbsUnattached(Rule[EbsUnattachedSettings, UnattachedVolume]):
    name: ClassVar[str] = "ebs-unattached"
    summary: ClassVar[str] = "EBS volumes unattached for longer than a threshold"
    resource_type: ClassVar[str] = "AWS::EC2::Volume"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds="EBS volumes `available` for longer than `min_unattached_days` (7)",
        change=(
            "snapshot, then DeleteVolume; where a tag-level Recycle Bin rule keeps volumes "
            "tagged `reclaim:recycle-bin=retain`, tag the volume first and delete it into the "
            "bin"
        ),
        undo=(
            "CreateVolume from the snapshot in the same AZ with the same type, size, IOPS, "
            "throughput, encryption, KMS key and tags (new volume ID); from the Recycle Bin, "
            "RestoreVolumeFromRecycleBin (same volume ID) within the rule's retention (the PR "
            "states the deadline), then the tag is removed"
        ),
    )
    settings_model = EbsUnattachedSettings
    record_model = UnattachedVolume
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"EBS:VolumeUsage", moved=r"EBS:SnapshotUsage"
    )
    # A volume /rollback restored (under a new ID) is proposed again only when it doubled in
    # price, or nobody attached it in the 30 days after the restore.
    material_change: ClassVar[MaterialChange] = MaterialChange(
        savings_ratio=2.0, idle_days_after_rollback=30
    )
    listings: ClassVar[tuple[Listing, ...]] = (VOLUMES,)
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {("ec2", "DescribeVolumes"), ("cloudtrail", "LookupEvents"), ("rbin", "ListRules")}
        ),
        apply=frozenset(
            {
                ("ec2", "DescribeVolumes"),
                ("ec2", "DescribeSnapshots"),
                ("ec2", "CreateSnapshot"),
                ("ec2", "DeleteVolume"),
                ("rbin", "GetRule"),
                ("ec2", "CreateTags"),
                ("ec2", "ListVolumesInRecycleBin"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeSnapshots"),
                ("ec2", "DescribeVolumes"),
                ("ec2", "CreateVolume"),
                ("ec2", "ListVolumesInRecycleBin"),
                ("ec2", "RestoreVolumeFromRecycleBin"),
                ("ec2", "DeleteTags"),
            }
        ),
        scopes={
            "ec2:CreateSnapshot": ActionScope(
                grants=(
                    Grant((VOLUME,), why="snapshot any volume in the configured regions"),
                    Grant(
                        (SNAPSHOT,),
                        (Condition("Null", "aws:RequestTag/{plan_tag}", ("false",)),),
                        "only snapshots tagged with the plan ID at creation",
                    ),
                ),
                implied=(
                    (
                        ("ec2:CreateTags",),
                        Grant(
                            (SNAPSHOT,),
                            (create_action("CreateSnapshot"),),
                            "tags only while creating a snapshot",
                        ),
                    ),
                ),
            ),
            "ec2:DeleteVolume": ActionScope(
                grants=(Grant((VOLUME,), (NOT_SKIPPED,), "never a volume carrying the skip tag"),),
            ),
            "ec2:CreateTags": tag_scope(VOLUME, "volumes"),
            "rbin:GetRule": GET_RULE_SCOPE,
            "ec2:RestoreVolumeFromRecycleBin": only(VOLUME, why="volumes only, to undo a deletion"),
            "ec2:DeleteTags": untag_scope(VOLUME),
            "ec2:CreateVolume": ActionScope(
                grants=(
                    Grant(
                        (VOLUME,),
                        (Condition("Null", "ec2:ParentSnapshot", ("false",)),),
                        "the restored volume: only from a snapshot, never a blank volume",
                    ),
                    Grant(
                        (SNAPSHOT,),
                        (Condition("Null", "aws:ResourceTag/{plan_tag}", ("false",)),),
                        "restore only from reclaim's own backup snapshots",
                    ),
                ),
                implied=(
                    (
                        ("ec2:CreateTags",),
                        Grant(
                            (VOLUME,),
                            (create_action("CreateVolume"),),
                            "tags only while restoring a volume",
                        ),
                    ),
                    *_RESTORE_ENCRYPTED,
                ),
            ),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: EbsUnattachedSettings
    ) -> Iterator[Finding | SkippedResource]:
        history: DetachHistory | None = None  # asked at the first candidate, not before
        candidates = 0
        bin_rule: RecycleBinRule | None = None  # asked at the first finding, not before
        bin_read = not settings.use_recycle_bin
        threshold = timedelta(days=settings.min_unattached_days)
        costs: dict[tuple[str, int, int | None, int | None], Cost] = {}  # by priced spec
        # The region's volumes, page by page from the listing every rule that reads them
        # shares: attached ones (state in-use, creating, ...) are not this rule's business.
        for item in region_volumes(ctx):
            if item.get("State") != "available":
                continue
            volume = VolumeSpec.from_api(item)
            # The first-seen clock runs for every unattached volume, excluded or not,
            # so that lifting an exclusion does not restart it.
            first_seen = ctx.state.first_seen(
                self.name, state_key(ctx.account_id, ctx.region, volume.volume_id), ctx.as_of
            )
            reason = self._skip_reason(ctx, volume)
            if reason:
                yield self.skipped(ctx, volume.volume_id, reason)
                continue
            if history is None:
                history = self._detach_history(ctx, settings)
            candidates += 1
            since, source, source_note = self._unattached_since(volume, history, first_seen)
            idle_for = ctx.as_of - since
            if idle_for < threshold:
                yield self.skipped(
                    ctx,
                    volume.volume_id,
                    f"unattached {idle_for.days} day(s) by {source}, "
                    f"under min_unattached_days={settings.min_unattached_days}",
                )
                continue
            if not bin_read:
                bin_rule, bin_read = self._recycle_bin(ctx, settings), True
            yield self._finding(
                ctx, settings, volume, (since, source, source_note), bin_rule, costs
            )
        if history is not None and settings.use_cloudtrail and not history.available:
            ctx.warn(
                f"{history.unavailable_reason}: detach times unknown, so "
                f"{candidates} unattached volume(s) are aged by first-seen clocks "
                "and may be reported later than min_unattached_days"
            )

    def _skip_reason(self, ctx: ScanContext, volume: VolumeSpec) -> str | None:
        if volume.state != "available":
            return f"state is {volume.state!r}"
        if volume.attachment_count:
            return "reports attachments while available (odd state)"
        if volume.multi_attach:
            return "Multi-Attach enabled: left to a human"
        return ctx.exclusions.reason_to_skip(volume.volume_id, volume.tags)

    def _recycle_bin(
        self, ctx: ScanContext, settings: EbsUnattachedSettings
    ) -> RecycleBinRule | None:
        return covering_rule(
            ctx,
            "EBS_VOLUME",
            settings.recycle_bin_min_days,
            unreadable="unattached volumes are deleted after their snapshot only, as without "
            "a rule (a rollback makes a new volume); set use_recycle_bin: false to stop asking",
        )

    def _detach_history(self, ctx: ScanContext, settings: EbsUnattachedSettings) -> DetachHistory:
        start = ctx.as_of - timedelta(days=settings.cloudtrail_lookback_days)
        if not settings.use_cloudtrail:
            return DetachHistory(start, ctx.as_of, unavailable_reason="use_cloudtrail is off")
        return detach_history(ctx.client("cloudtrail"), start, ctx.as_of)

    def _unattached_since(
        self, volume: VolumeSpec, history: DetachHistory, first_seen: datetime
    ) -> tuple[datetime, str, str]:
        if history.available:
            detached = history.latest_detach.get(volume.volume_id)
            if detached is not None:
                return detached, "cloudtrail", "DetachVolume event in CloudTrail"
            if volume.create_time >= history.start:
                return (
                    volume.create_time,
                    "create-time",
                    "never attached: no DetachVolume in CloudTrail since it was created",
                )
        why = history.unavailable_reason or "volume older than the CloudTrail window"
        return (
            max(first_seen, volume.create_time),
            "first-seen",
            f"first seen unattached by reclaim's scans (state file); CloudTrail not used: {why}",
        )

    def _finding(
        self,
        ctx: ScanContext,
        settings: EbsUnattachedSettings,
        volume: VolumeSpec,
        unattached: tuple[datetime, str, str],
        bin_rule: RecycleBinRule | None,
        costs: dict[tuple[str, int, int | None, int | None], Cost],
    ) -> Finding:
        since, source, source_note = unattached
        idle_days = (ctx.as_of - since).days
        # Volumes of one type and size cost the same: priced once per unit.
        priced = (
            volume.volume_type,
            volume.size_gib,
            volume.explicit_iops,
            volume.explicit_throughput,
        )
        cost = costs.get(priced)
        if cost is None:
            cost = costs[priced] = ctx.prices.volume_cost(
                region=ctx.region,
                volume_type=volume.volume_type,
                size_gib=volume.size_gib,
                iops=volume.explicit_iops,
                throughput_mibps=volume.explicit_throughput,
            )
        label = volume.label()
        risk, risk_reasons = _risk(volume, idle_days)
        record = UnattachedVolume(
            volume=volume,
            unattached_since=since,
            unattached_source=source,
            skip_tag=ctx.exclusions.skip_tag,
            snapshot_timeout_minutes=settings.snapshot_timeout_minutes,
            backup_retention_days=settings.backup_retention_days,
            recycle_bin=bin_rule,
        )
        evidence = [
            _UNATTACHED,
            Evidence(
                label="Unattached since",
                value=f"{since.isoformat()} ({idle_days} days)",
                source=source_note,
            ),
            Evidence(
                label="Created", value=volume.create_time.isoformat(), source="DescribeVolumes"
            ),
            Evidence(label="Volume", value=label, source="DescribeVolumes"),
        ]
        if volume.source_snapshot_id:
            evidence.append(
                Evidence(
                    label="Created from snapshot",
                    value=volume.source_snapshot_id,
                    source="DescribeVolumes",
                )
            )
        if bin_rule is not None:
            evidence.append(
                Evidence(
                    label="Recycle Bin",
                    value=f"rule {bin_rule.identifier} keeps volumes tagged "
                    f"{RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE} for {bin_rule.retention_days} days: "
                    "deleted into it, the volume is restorable with its ID",
                    source="rbin ListRules",
                )
            )
        return self.new_finding(
            ctx,
            title=f"Delete unattached {label}, idle {idle_days} days",
            cost=cost,
            risk=risk,
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: UnattachedVolume) -> str:
        return record.volume.volume_id

    def tags_of(self, record: UnattachedVolume) -> Mapping[str, str]:
        return record.volume.tags

    def idle_since(self, record: UnattachedVolume) -> datetime | None:
        return record.unattached_since

    def backup_cost(self, record: UnattachedVolume, prices: PriceTable) -> BackupCost:
        snapshot = self._snapshot_cost(record, prices)
        if record.binned is None:
            return snapshot
        return recycle_bin_backup_cost(record.binned, snapshot, prices)

    def _snapshot_cost(self, record: UnattachedVolume, prices: PriceTable) -> BackupCost:
        volume = record.volume
        rate = prices.ebs.snapshot.standard_gib_month
        return BackupCost(
            what=f"the backup snapshot of {volume.volume_id}",
            monthly_usd=round(volume.size_gib * rate, 2),
            kept_days=record.backup_retention_days,
            basis=(
                f"at most {volume.size_gib} GiB x ${rate}/GB-month (EBS snapshot, standard "
                "tier): a snapshot is billed on the blocks the volume has written, so the "
                "volume's size is an upper bound"
            ),
        )

    def plan(self, finding: Finding, record: UnattachedVolume) -> ManifestBody:
        volume = record.volume
        vid = volume.volume_id
        root = "Volumes[0]"
        describe = AwsCall(service="ec2", operation="DescribeVolumes", params={"VolumeIds": [vid]})
        snapshot_tags = {
            PLAN_ID_TAG: finding.id,
            "reclaim:source-volume": vid,
            "reclaim:volume-spec": _spec_tag(volume),
        }
        if len(volume.restorable_tags) + len(snapshot_tags) <= 50:
            snapshot_tags = {**volume.restorable_tags, **snapshot_tags}
        by_plan_tag = AwsCall(
            service="ec2",
            operation="DescribeSnapshots",
            params={
                "OwnerIds": ["self"],
                "Filters": [{"Name": f"tag:{PLAN_ID_TAG}", "Values": [finding.id]}],
            },
        )
        # Only a snapshot of this volume counts, whatever else carries the plan-ID tag, and
        # the executor counts it only if it started after apply observed the volume.
        usable = f"Snapshots[?State != 'error' && VolumeId == {json_literal(vid)}]"
        newest = f"sort_by({usable}, &StartTime)[-1]"
        snapshot_ref = ref("steps.backup.SnapshotId")
        delete = AwsCall(service="ec2", operation="DeleteVolume", params={"VolumeId": vid})
        plan_steps = (
            steps.precheck(
                "precheck",
                f"Read {vid} and confirm it is still available, unattached, without the "
                f"skip tag, and unchanged since the scan (type, size, IOPS, throughput, "
                f"encryption, KMS key, tags).",
                describe,
                Expectation(path=f"{root}.State", equals="available", what="state"),
                Expectation(
                    path=f"length({root}.Attachments || `[]`)", equals=0, what="attachment count"
                ),
                steps.skip_tag_absent(record.skip_tag, tags_at=f"{root}.Tags"),
                *spec_expectations(volume, root),
            ),
            steps.backup(
                "backup",
                f"Snapshot {vid}, tagged with the plan ID and the volume's full "
                f"specification, and wait until the snapshot is completed.",
                AwsCall(
                    service="ec2",
                    operation="CreateSnapshot",
                    params={
                        "VolumeId": vid,
                        "Description": f"reclaim backup of {vid} before deletion ({finding.id})",
                        "TagSpecifications": [
                            {"ResourceType": "snapshot", "Tags": tag_list(snapshot_tags)}
                        ],
                    },
                ),
                outputs={"SnapshotId": "SnapshotId"},
                already_done=Lookup(
                    call=by_plan_tag,
                    found_when=f"length({usable}) > `0`",
                    outputs={"SnapshotId": f"{newest} | SnapshotId"},
                    created_at=f"{newest} | StartTime",
                ),
                wait=WaitFor(
                    waiter="snapshot_completed",
                    params={"SnapshotIds": [snapshot_ref]},
                    delay_seconds=SNAPSHOT_POLL_SECONDS,
                    max_attempts=record.snapshot_timeout_minutes * 60 // SNAPSHOT_POLL_SECONDS,
                ),
            ),
            steps.dry_run(
                f"Ask EC2 whether DeleteVolume {vid} would be permitted (DryRun); anything "
                f"but DryRunOperation stops the plan.",
                delete,
            ),
            steps.change(
                "delete",
                f"Delete {vid} and wait until EC2 reports it deleted.",
                delete,
                destroys_data=True,
                already_done=Lookup(call=describe, found_on_error="InvalidVolume.NotFound"),
                wait=WaitFor(waiter="volume_deleted", params={"VolumeIds": [vid]}),
            ),
            steps.verify(
                "verify-deleted",
                f"Confirm {vid} no longer exists.",
                describe,
                expect_error="InvalidVolume.NotFound",
            ),
            steps.verify(
                "verify-backup",
                "Confirm the backup snapshot is still there and completed.",
                AwsCall(
                    service="ec2",
                    operation="DescribeSnapshots",
                    params={"SnapshotIds": [snapshot_ref]},
                ),
                _SNAPSHOT_COMPLETED,
            ),
        )
        notes = [
            f"The backup snapshot is kept {record.backup_retention_days} days after the apply "
            "(backup_retention_days); it costs about "
            f"${volume.size_gib * 0.05:.2f}/month at most (incremental data only).",
            ("" if record.binned else "/rollback restores from it: keep it those days. ")
            + "After them the scheduled scan "
            "proposes deleting it (rule backup-expired) in a pull request of its own, or "
            f"reports it where no Recycle Bin rule would keep it (tag {PLAN_ID_TAG}={finding.id}).",
        ]
        if record.binned is None:
            notes.append("A restore creates a new volume with a new ID from the snapshot.")
        if len(volume.tags) != len(volume.restorable_tags):
            notes.append("Tags starting with 'aws:' are set by AWS and cannot be restored.")
        if record.binned is not None:
            return recycle_bin_plan(record.binned, plan_steps, notes)
        return ManifestBody(
            steps=plan_steps,
            notes=tuple(notes),
        )

    def rollback(self, finding: Finding, record: UnattachedVolume) -> ManifestBody:
        volume = record.volume
        backup = ref("apply.backup.SnapshotId")
        restored = ref("steps.restore.VolumeId")
        create_params: dict[str, Any] = {
            "AvailabilityZone": volume.availability_zone,
            "SnapshotId": backup,
            "VolumeType": volume.volume_type,
            "Size": volume.size_gib,
            "ClientToken": _client_token(finding.id),
        }
        if volume.encrypted:
            create_params["Encrypted"] = True
        if volume.kms_key_id:
            create_params["KmsKeyId"] = volume.kms_key_id
        if volume.explicit_iops is not None:
            create_params["Iops"] = volume.explicit_iops
        if volume.explicit_throughput is not None:
            create_params["Throughput"] = volume.explicit_throughput
        if volume.restorable_tags:
            create_params["TagSpecifications"] = [
                {"ResourceType": "volume", "Tags": tag_list(volume.restorable_tags)}
            ]
        live = "Volumes[?State == 'creating' || State == 'available' || State == 'in-use']"
        precheck_deleted = steps.precheck(
            "precheck-deleted",
            f"Confirm {volume.volume_id} is still deleted: the apply took effect.",
            AwsCall(
                service="ec2",
                operation="DescribeVolumes",
                params={"VolumeIds": [volume.volume_id]},
            ),
            expect_error="InvalidVolume.NotFound",
            failure_hint="the volume exists, so there is nothing to restore: someone "
            "restored it already, or journal.json claims a delete that did not happen",
        )
        if record.binned is not None:
            return recycle_bin_rollback(record.binned, precheck_deleted)
        rollback_steps = (
            precheck_deleted,
            steps.precheck(
                "precheck-backup",
                f"Confirm the backup snapshot exists, is completed, is of {volume.volume_id}, "
                "carries this plan's ID and started after apply observed the volume.",
                AwsCall(
                    service="ec2", operation="DescribeSnapshots", params={"SnapshotIds": [backup]}
                ),
                _SNAPSHOT_COMPLETED,
                Expectation(
                    path="Snapshots[0].VolumeId",
                    equals=volume.volume_id,
                    what="volume the snapshot was taken of",
                ),
                Expectation(
                    path=f"Snapshots[0].Tags[?Key == {json_literal(PLAN_ID_TAG)}] | [0].Value",
                    equals=finding.id,
                    what=f"snapshot tag {PLAN_ID_TAG}",
                ),
                Expectation(
                    path="Snapshots[0].StartTime",
                    equals=ref("run.apply.observed_at"),
                    compare="at_or_after",
                    what="snapshot start (after apply observed the volume)",
                ),
                failure_hint="the journal's backup is not this plan's snapshot of this volume: "
                "reclaim restores only from the backup its apply made; check journal.json's "
                "history in git",
            ),
            steps.change(
                "restore",
                f"Create a volume from the backup in {volume.availability_zone} with the "
                f"recorded type, size, IOPS, throughput, encryption, KMS key and tags, and "
                f"wait until it is available.",
                AwsCall(service="ec2", operation="CreateVolume", params=create_params),
                outputs={"VolumeId": "VolumeId"},
                already_done=Lookup(
                    call=AwsCall(
                        service="ec2",
                        operation="DescribeVolumes",
                        params={
                            "Filters": [
                                {"Name": "snapshot-id", "Values": [backup]},
                                {
                                    "Name": "availability-zone",
                                    "Values": [volume.availability_zone],
                                },
                            ]
                        },
                    ),
                    found_when=f"length({live}) > `0`",
                    outputs={"VolumeId": f"{live} | [0].VolumeId"},
                ),
                wait=WaitFor(waiter="volume_available", params={"VolumeIds": [restored]}),
            ),
            steps.verify(
                "verify-restored",
                "Confirm the restored volume matches the recorded specification.",
                AwsCall(
                    service="ec2", operation="DescribeVolumes", params={"VolumeIds": [restored]}
                ),
                Expectation(path="Volumes[0].State", equals="available", what="state"),
                *spec_expectations(volume, "Volumes[0]", include_az=True),
            ),
        )
        return ManifestBody(
            steps=rollback_steps,
            notes=(
                f"The restored volume gets a new ID; {volume.volume_id} is not reused.",
                "Data is as of the backup snapshot taken during apply.",
            ),
        )


def _spec_tag(volume: VolumeSpec) -> str:
    """The volume's specification in one tag value (max 256 characters)."""
    parts = [
        f"az={volume.availability_zone}",
        f"type={volume.volume_type}",
        f"size={volume.size_gib}",
    ]
    if volume.explicit_iops is not None:
        parts.append(f"iops={volume.explicit_iops}")
    if volume.explicit_throughput is not None:
        parts.append(f"throughput={volume.explicit_throughput}")
    parts.append(f"encrypted={str(volume.encrypted).lower()}")
    if volume.kms_key_id:
        parts.append(f"kms={volume.kms_key_id}")
    return ";".join(parts)[:256]


def _risk(volume: VolumeSpec, idle_days: int) -> tuple[Risk, list[str]]:
    reasons: list[str] = []
    for key, value in volume.tags.items():
        if _IMPORTANT.search(value) or _IMPORTANT.search(key):
            reasons.append(f"tag {key}={value!r} suggests someone meant to keep it")
            break
    if idle_days < 30:
        reasons.append(f"unattached only {idle_days} days")
    if volume.size_gib >= 1024:
        reasons.append("1 TiB or larger: the backup snapshot takes longer")
    if not reasons:
        return "low", ["unattached 30+ days, no tag asking to keep it"]
    return "medium", reasons
