"""ebs-unattached's Recycle Bin variant: delete the volume into the bin, restore the same one.

Where a tag-level retention rule keeps EBS volumes tagged ``reclaim:recycle-bin=retain``, the
plan is the snapshot plan with the bin's steps added: the rule checked live (GetRule), the
volume tagged, deleted into the bin, and the bin asked for it (its exit time, the rollback's
deadline, goes to the journal). The backup snapshot is still taken and kept: it is the copy
that outlives the bin's retention.

The rollback restores, with RestoreVolumeFromRecycleBin, only the volume ID the apply's
journal recorded in the bin, and only if that is the plan's volume; it then checks the
volume is back under the same ID with the recorded specification and removes the tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from generator.aws.prices import PriceTable
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step, WaitFor
from generator.manifest.refs import ref
from generator.rules.base import BackupCost, ManifestBody
from generator.rules.ebs_volume import VolumeSpec, spec_expectations
from generator.rules.recycle_bin import (
    RECYCLE_BIN_TAG,
    RECYCLE_BIN_VALUE,
    RecycleBinRule,
    rule_precheck,
    tag_call,
    tagged,
)

_NOT_FOUND = "InvalidVolume.NotFound"
IN_BIN_STEP = "verify-in-bin"


@dataclass(frozen=True)
class BinnedVolume:
    """A volume whose deletion a Recycle Bin rule keeps."""

    volume: VolumeSpec
    rule: RecycleBinRule

    @property
    def already_tagged(self) -> bool:
        return self.volume.tags.get(RECYCLE_BIN_TAG) == RECYCLE_BIN_VALUE


def _describe(vid: str) -> AwsCall:
    return AwsCall(service="ec2", operation="DescribeVolumes", params={"VolumeIds": [vid]})


def _in_bin(volume_id: JsonValue) -> AwsCall:
    return AwsCall(
        service="ec2",
        operation="ListVolumesInRecycleBin",
        params={"VolumeIds": [volume_id]},
    )


def _in_bin_as_recorded(volume: VolumeSpec) -> tuple[Expectation, ...]:
    return (
        Expectation(path="length(Volumes)", equals=1, what="volume in the Recycle Bin"),
        Expectation(path="Volumes[0].VolumeId", equals=volume.volume_id, what="volume ID"),
        Expectation(
            path="Volumes[0].AvailabilityZone",
            equals=volume.availability_zone,
            what="availability zone",
        ),
        Expectation(path="Volumes[0].VolumeType", equals=volume.volume_type, what="volume type"),
        Expectation(path="Volumes[0].Size", equals=volume.size_gib, what="size (GiB)"),
    )


def recycle_bin_plan(
    binned: BinnedVolume, snapshot_plan: tuple[Step, ...], notes: list[str]
) -> ManifestBody:
    """The snapshot plan (its pre-check, backup, dry run and verifications, unchanged) with
    the Recycle Bin's steps: rule check, tag, delete into the bin, confirm it is there.
    ``notes``: the snapshot plan's notes on its backup, after the bin's."""
    volume, rule = binned.volume, binned.rule
    vid = volume.volume_id
    by_id = {step.id: step for step in snapshot_plan}
    delete = by_id["delete"]
    tag_steps: list[Step] = []
    if not binned.already_tagged:
        tag_steps = [
            steps.dry_run(
                f"Ask EC2 whether tagging {vid} would be permitted (DryRun).",
                tag_call("CreateTags", vid),
                step_id="dry-run-tag",
            ),
            steps.change(
                "tag",
                f"Tag {vid} {RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE}, the tag Recycle Bin rule "
                f"{rule.identifier} retains deleted volumes by.",
                tag_call("CreateTags", vid),
                already_done=Lookup(call=_describe(vid), found_when=tagged("Volumes[0].Tags")),
            ),
        ]
    plan_steps = (
        by_id["precheck"],
        rule_precheck(rule, "EBS_VOLUME"),
        by_id["backup"],
        by_id["dry-run"],
        *tag_steps,
        delete.model_copy(
            update={
                "description": f"Delete {vid} into the Recycle Bin (rule {rule.identifier} "
                f"keeps it, same ID, for {rule.retention_days} days) and wait until EC2 "
                "reports it deleted."
            }
        ),
        by_id["verify-deleted"],
        steps.verify(
            IN_BIN_STEP,
            f"Confirm {vid} is in the Recycle Bin as recorded, and record its ID and when it "
            "leaves the bin.",
            _in_bin(vid),
            *_in_bin_as_recorded(volume),
            outputs={
                "VolumeId": "Volumes[0].VolumeId",
                "RecycleBinExitTime": "Volumes[0].RecycleBinExitTime",
            },
        ),
        by_id["verify-backup"],
    )
    bin_notes = [
        f"Deadline: the rollback can restore {vid} itself, same volume ID, for "
        f"{rule.retention_days} days after the apply (Recycle Bin rule {rule.identifier}; the "
        "journal records the bin's exact exit time). After that the volume is deleted for "
        "good and the backup snapshot is the copy left.",
        "While in the Recycle Bin the volume is billed as the volume: the saving starts when "
        "it leaves the bin.",
        "If the Recycle Bin rule is deleted or changed before the apply, the apply stops "
        "before deleting anything.",
    ]
    return ManifestBody(steps=plan_steps, notes=(*bin_notes, *notes))


def recycle_bin_rollback(binned: BinnedVolume, precheck_deleted: Step) -> ManifestBody:
    """Restore the volume the apply's journal recorded in the bin, the plan's volume only."""
    volume, rule = binned.volume, binned.rule
    vid = volume.volume_id
    journaled = ref(f"apply.{IN_BIN_STEP}.VolumeId")
    restore = AwsCall(
        service="ec2", operation="RestoreVolumeFromRecycleBin", params={"VolumeId": journaled}
    )
    untag: list[Step] = []
    if not binned.already_tagged:
        untag.append(
            steps.change(
                "untag",
                f"Remove the {RECYCLE_BIN_TAG} tag the apply added.",
                tag_call("DeleteTags", vid),
                already_done=Lookup(
                    call=_describe(vid), found_when=f"!({tagged('Volumes[0].Tags')})"
                ),
            )
        )
    rollback_steps = (
        precheck_deleted,
        steps.precheck(
            "precheck-in-bin",
            f"Confirm the volume the apply's journal recorded in the Recycle Bin is {vid} and "
            f"is still there (it leaves the bin {rule.retention_days} days after the apply).",
            _in_bin(journaled),
            *_in_bin_as_recorded(volume),
            failure_hint="past the retention the volume is deleted for good: the backup "
            "snapshot (the journal's apply.backup.SnapshotId, tagged with this plan's ID) is "
            "the copy left, to create a new volume from; a journal naming another volume is "
            "not this apply's",
        ),
        steps.dry_run(f"Ask EC2 whether restoring {vid} would be permitted (DryRun).", restore),
        steps.change(
            "restore",
            f"Restore {vid} from the Recycle Bin (same volume ID) and wait until it is available.",
            restore,
            already_done=Lookup(
                call=_describe(vid),
                found_when="length(Volumes) > `0`",
                not_done_on_error=_NOT_FOUND,
            ),
            wait=WaitFor(waiter="volume_available", params={"VolumeIds": [vid]}),
        ),
        *untag,
        steps.verify(
            "verify-restored",
            f"Confirm {vid} is back under its own ID with the recorded specification and tags.",
            _describe(vid),
            Expectation(path="Volumes[0].VolumeId", equals=vid, what="volume ID"),
            Expectation(path="Volumes[0].State", equals="available", what="state"),
            *spec_expectations(volume, "Volumes[0]", include_az=True),
        ),
    )
    return ManifestBody(
        steps=rollback_steps,
        notes=(
            f"Restores {vid} itself (same volume ID, data as at the deletion), only within the "
            f"{rule.retention_days}-day Recycle Bin retention.",
            "After it, the backup snapshot taken during apply is the copy left.",
        ),
    )


def recycle_bin_backup_cost(
    binned: BinnedVolume, snapshot: BackupCost, prices: PriceTable
) -> BackupCost:
    """While in the bin the volume is billed as before: nothing is saved until it leaves;
    the backup snapshot is billed beside it, then alone until its own retention ends."""
    volume, days = binned.volume, binned.rule.retention_days
    priced = prices.volume_monthly(
        volume.volume_type, volume.size_gib, volume.explicit_iops, volume.explicit_throughput
    )
    in_bin, in_bin_basis = (
        (
            priced[0],
            f"${priced[0]:,.2f}/month: AWS bills a resource in the Recycle Bin as the resource",
        )
        if priced
        else (0.0, f"no bundled price for volume type {volume.volume_type!r}")
    )
    then = snapshot if snapshot.kept_days is None or snapshot.kept_days > days else None
    return BackupCost(
        what=f"{volume.volume_id} in the Recycle Bin and {snapshot.what}",
        monthly_usd=round(in_bin + snapshot.monthly_usd, 2),
        kept_days=days,
        basis=(
            f"the volume at its own price ({in_bin_basis}) for the {days} days the bin keeps "
            f"it, and beside it {snapshot.basis}"
        ),
        then=then,
    )
