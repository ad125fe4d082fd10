"""ebs-gp2-to-gp3: every gp2 volume costs more than a gp3 volume with at least its performance.

Change: ModifyVolume to gp3 with IOPS and throughput at least gp2's (gp2 gives 3 IOPS/GiB,
bursting to 3,000, and up to 250 MiB/s; gp3 includes 3,000 IOPS and 125 MiB/s). The volume
stays attached and usable throughout. The backup is the recorded configuration: nothing is
deleted, and the undo is a ModifyVolume back to gp2.

AWS takes a volume's next modification only once the previous one has completed
(``optimizing`` can take hours on a large volume) and at most four in a rolling 24 hours
(botocore's ModifyVolume documentation). So the rollback runs as soon as AWS allows: its
not-before check reads the last modification's state and stops, pending in the journal,
while it has not completed; if AWS still refuses (the 24-hour limit, which the read cannot
see), the executor waits until the time AWS names in its error. That delay is why the grade
is full-delayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import VOLUME, never_skipped
from generator.manifest import steps
from generator.manifest.models import (
    AwsCall,
    Expectation,
    Lookup,
    NotBefore,
)
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.ebs_volume import VOLUMES, VolumeSpec, region_volumes, spec_expectations

RATE_REFUSAL = "VolumeModificationRateExceeded"
"""EC2's error for a modification too soon: the previous one is still in progress, or the
volume had four in the rolling 24 hours; its message names when the next one can be made."""
MODIFICATION_RECHECK_SECONDS = 15 * 60
GP2_IOPS_PER_GIB = 3
GP2_MIN_IOPS, GP3_INCLUDED_IOPS, GP3_MAX_IOPS = 100, 3000, 16000
GP2_SMALL_VOLUME_GIB = 170
GP2_SMALL_THROUGHPUT, GP2_MAX_THROUGHPUT, GP3_INCLUDED_THROUGHPUT = 128, 250, 125
_BUSY_MODIFICATION = frozenset({"modifying", "optimizing"})


class Gp2ToGp3Settings(RuleSettings):
    min_monthly_savings_usd: float = Field(
        default=1.0,
        ge=0,
        description="Propose only when gp3 saves more than this per month (a PR for cents is "
        "noise: small gp2 volumes need their throughput kept, which eats the saving).",
    )
    include_unattached: bool = Field(
        default=False,
        description="Also convert unattached volumes; by default ebs-unattached judges those "
        "(deleting an idle volume beats converting it, and one PR per volume avoids conflicts).",
    )
    min_throughput_mibps: int = Field(
        default=GP3_INCLUDED_THROUGHPUT,
        ge=GP3_INCLUDED_THROUGHPUT,
        le=GP2_MAX_THROUGHPUT,
        description="Lowest gp3 throughput to provision, whatever gp2 delivered.",
    )


class Gp2Volume(BaseModel):
    """What the finding records: the volume as it was, and the gp3 target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    volume: VolumeSpec
    gp2_baseline_iops: int
    gp2_max_throughput_mibps: int
    target_iops: int
    target_throughput_mibps: int
    skip_tag: str


def gp2_baseline_iops(size_gib: int) -> int:
    return min(max(GP2_IOPS_PER_GIB * size_gib, GP2_MIN_IOPS), GP3_MAX_IOPS)


def gp2_max_throughput(size_gib: int) -> int:
    """gp2 delivers up to 128 MiB/s at 170 GiB or less, and up to 250 MiB/s above."""
    return GP2_SMALL_THROUGHPUT if size_gib <= GP2_SMALL_VOLUME_GIB else GP2_MAX_THROUGHPUT


def gp3_target(size_gib: int, min_throughput: int) -> tuple[int, int]:
    """IOPS and throughput at least what gp2 gives: its baseline, and 3,000 to cover its burst."""
    iops = min(max(GP2_IOPS_PER_GIB * size_gib, GP3_INCLUDED_IOPS), GP3_MAX_IOPS)
    throughput = min(max(gp2_max_throughput(size_gib), min_throughput), GP2_MAX_THROUGHPUT)
    return iops, throughput


def _modifications(vid: str) -> AwsCall:
    # A filter, not VolumeIds: AWS answers a never-modified volume's ID with an error.
    return AwsCall(
        service="ec2",
        operation="DescribeVolumesModifications",
        params={"Filters": [{"Name": "volume-id", "Values": [vid]}]},
    )


_LATEST = "(sort_by(VolumesModifications, &StartTime) | [-1])"
"""The volume's most recent modification (AWS reports only that one; moto keeps them all)."""


def _latest_is(target_type: str) -> str:
    return (
        f"{_LATEST}.TargetVolumeType == {json_literal(target_type)} "
        f"&& {_LATEST}.ModificationState != 'failed'"
    )


def _modification_window(vid: str) -> NotBefore:
    return NotBefore(
        call=_modifications(vid),
        ready_when=(
            f'{_LATEST} == null || contains(`["completed", "failed"]`, {_LATEST}.ModificationState)'
        ),
        recheck_after_seconds=MODIFICATION_RECHECK_SECONDS,
        refused_with=(RATE_REFUSAL,),
        reason=f"AWS takes the next modification of an EBS volume only once the previous one "
        f"has completed (at most four in a rolling 24 hours), and {vid}'s last modification "
        "has not completed yet",
    )


def _accepted_states() -> str:
    return '`["modifying", "optimizing", "completed"]`'


class EbsGp2ToGp3(Rule[Gp2ToGp3Settings, Gp2Volume]):
    name: ClassVar[str] = "ebs-gp2-to-gp3"
    summary: ClassVar[str] = "gp2 volumes converted to gp3 with at least the same performance"
    resource_type: ClassVar[str] = "AWS::EC2::Volume"
    reversibility: ClassVar[Reversibility] = "full-delayed"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "attached gp2 volumes (`include_unattached: false` leaves unattached ones to "
            "`ebs-unattached`) where gp3 saves more than `min_monthly_savings_usd` ($1)"
        ),
        change=(
            "ModifyVolume to gp3 with IOPS ≥ gp2's (3/GiB, min 3,000, max 16,000) and throughput ≥ "
            "gp2's (128 MiB/s up to 170 GiB, else 250)"
        ),
        undo=(
            "ModifyVolume back to gp2 as soon as AWS allows: once the apply's modification has "
            "completed, at most four per volume in a rolling 24 h; earlier, the rollback stops, "
            "says when it can run (exit 9; the time AWS names when it refuses) and stays pending "
            "in the journal"
        ),
    )
    settings_model = Gp2ToGp3Settings
    record_model = Gp2Volume
    listings: ClassVar[tuple[Listing, ...]] = (VOLUMES,)
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("ec2", "DescribeVolumes"), ("ec2", "DescribeVolumesModifications")}),
        apply=frozenset(
            {
                ("ec2", "DescribeVolumes"),
                ("ec2", "DescribeVolumesModifications"),
                ("ec2", "ModifyVolume"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeVolumes"),
                ("ec2", "DescribeVolumesModifications"),
                ("ec2", "ModifyVolume"),
            }
        ),
        scopes={"ec2:ModifyVolume": never_skipped(VOLUME, "never a volume carrying the skip tag")},
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: Gp2ToGp3Settings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        busy: dict[str, str] | None = None  # asked at the first gp2 volume, not before
        for item in region_volumes(ctx):  # page by page, the listing ebs-unattached reads too
            if item.get("VolumeType") != "gp2":
                continue
            volume = VolumeSpec.from_api(item)
            if busy is None:
                busy = {
                    change["VolumeId"]: change.get("ModificationState", "")
                    for page in ec2.get_paginator("describe_volumes_modifications").paginate()
                    for change in page.get("VolumesModifications", [])
                    if change.get("ModificationState") in _BUSY_MODIFICATION
                }
            reason = self._skip_reason(ctx, volume, busy, settings)
            if reason is None:
                finding, reason = self._finding(ctx, settings, volume)
                if finding is not None:
                    yield finding
                    continue
            yield self.skipped(ctx, volume.volume_id, reason or "")

    def _skip_reason(
        self,
        ctx: ScanContext,
        volume: VolumeSpec,
        busy: dict[str, str],
        settings: Gp2ToGp3Settings,
    ) -> str | None:
        if volume.state not in ("available", "in-use"):
            return f"state is {volume.state!r}"
        if volume.state == "available" and not settings.include_unattached:
            return (
                "unattached: left to ebs-unattached (set include_unattached to convert "
                "unattached volumes too)"
            )
        if volume.volume_id in busy:
            return f"a modification is in progress ({busy[volume.volume_id]})"
        return ctx.exclusions.reason_to_skip(volume.volume_id, volume.tags)

    def _finding(
        self, ctx: ScanContext, settings: Gp2ToGp3Settings, volume: VolumeSpec
    ) -> tuple[Finding | None, str | None]:
        iops, throughput = gp3_target(volume.size_gib, settings.min_throughput_mibps)
        gp2 = ctx.prices.volume_monthly("gp2", volume.size_gib, None, None)
        gp3 = ctx.prices.volume_monthly("gp3", volume.size_gib, iops, throughput)
        if gp2 is None or gp3 is None:
            return None, "no bundled gp2/gp3 price: savings unknown"
        savings = gp2[0] - gp3[0]
        if savings <= settings.min_monthly_savings_usd:
            return None, (
                f"gp3 with {iops} IOPS and {throughput} MiB/s saves ${savings:.2f}/month, "
                f"not over min_monthly_savings_usd={settings.min_monthly_savings_usd}"
            )
        record = Gp2Volume(
            volume=volume,
            gp2_baseline_iops=gp2_baseline_iops(volume.size_gib),
            gp2_max_throughput_mibps=gp2_max_throughput(volume.size_gib),
            target_iops=iops,
            target_throughput_mibps=throughput,
            skip_tag=ctx.exclusions.skip_tag,
        )
        cost = ctx.prices.cost(savings, ctx.region, f"gp2: {gp2[1]}; minus gp3: {gp3[1]}")
        evidence = (
            Evidence(label="Volume", value=volume.label(), source="DescribeVolumes"),
            Evidence(
                label="gp2 performance",
                value=f"{record.gp2_baseline_iops} IOPS baseline (burst to 3000 under "
                f"1 TiB), up to {record.gp2_max_throughput_mibps} MiB/s",
                source="EBS documentation: 3 IOPS/GiB, min 100; 128 or 250 MiB/s",
            ),
            Evidence(
                label="gp3 target",
                value=f"{iops} IOPS, {throughput} MiB/s",
                source="at least gp2's baseline, burst and throughput",
            ),
            Evidence(
                label="State",
                value=volume.state
                + (f", attached ({volume.attachment_count})" if volume.attachment_count else ""),
                source="DescribeVolumes",
            ),
        )
        finding = self.new_finding(
            ctx,
            title=f"Convert {volume.label()} to gp3",
            cost=cost,
            risk="low",
            risk_reasons=(
                "online change: the volume stays attached and usable",
                "gp3 gets at least gp2's IOPS and throughput",
            ),
            evidence=evidence,
            record=record,
        )
        return finding, None

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: Gp2Volume) -> str:
        return record.volume.volume_id

    def tags_of(self, record: Gp2Volume) -> Mapping[str, str]:
        return record.volume.tags

    def plan(self, finding: Finding, record: Gp2Volume) -> ManifestBody:
        volume = record.volume
        vid = volume.volume_id
        root = "Volumes[0]"
        prechecks = (
            steps.precheck(
                "precheck",
                f"Read {vid} and confirm it is still gp2, available or in use, without the "
                f"skip tag, and unchanged since the scan (size, encryption, KMS key, tags).",
                _describe(vid),
                Expectation(
                    path=f'contains(`["available", "in-use"]`, {root}.State)',
                    equals=True,
                    what="state is available or in-use",
                ),
                steps.skip_tag_absent(record.skip_tag, tags_at=f"{root}.Tags"),
                *spec_expectations(volume, root),
            ),
        )
        return ManifestBody(
            steps=_conversion(record).apply_steps(prechecks),
            notes=(
                "Online change: the volume stays attached and usable. Performance moves from "
                "gp2 to gp3 during the 'optimizing' phase, which can take hours on large volumes.",
                f"gp3 gets {record.target_iops} IOPS and {record.target_throughput_mibps} MiB/s: "
                f"gp2 gave {record.gp2_baseline_iops} IOPS baseline (bursting to 3000 under "
                f"1 TiB) and up to {record.gp2_max_throughput_mibps} MiB/s.",
                "AWS takes a volume's next modification only once the previous one has completed, "
                "and at most four in a rolling 24 hours: a rollback before the apply's "
                "modification has completed stops without changing anything and says when it "
                "can run.",
            ),
        )

    def rollback(self, finding: Finding, record: Gp2Volume) -> ManifestBody:
        volume = record.volume
        vid = volume.volume_id
        root = "Volumes[0]"
        prechecks = (
            steps.precheck(
                "precheck",
                f"Confirm {vid} is the gp3 volume the apply made ({record.target_iops} IOPS, "
                f"{record.target_throughput_mibps} MiB/s, {volume.size_gib} GiB).",
                _describe(vid),
                Expectation(path=f"{root}.VolumeType", equals="gp3", what="volume type"),
                Expectation(path=f"{root}.Size", equals=volume.size_gib, what="size (GiB)"),
                Expectation(
                    path=f"{root}.Iops", equals=record.target_iops, what="provisioned IOPS"
                ),
                Expectation(
                    path=f"{root}.Throughput",
                    equals=record.target_throughput_mibps,
                    what="throughput (MiB/s)",
                ),
            ),
        )
        return ManifestBody(
            steps=_conversion(record).rollback_steps(prechecks),
            notes=(
                "The rollback can run once the apply's modification has completed ('optimizing' "
                "can take hours) and the volume has had fewer than four modifications in the "
                "last 24 hours; earlier, it stops without changing anything and says when to "
                "re-run (AWS names the time when it refuses).",
                "gp2 sets its IOPS and throughput from the size again (3 IOPS/GiB, min 100).",
            ),
        )


def _describe(vid: str) -> AwsCall:
    return AwsCall(service="ec2", operation="DescribeVolumes", params={"VolumeIds": [vid]})


def _modification_accepted(target_type: str) -> tuple[Expectation, Expectation]:
    return (
        Expectation(path=f"{_LATEST}.TargetVolumeType", equals=target_type, what="target type"),
        Expectation(
            path=f"contains({_accepted_states()}, {_LATEST}.ModificationState)",
            equals=True,
            what="modification state is modifying, optimizing or completed",
        ),
    )


def _conversion(record: Gp2Volume) -> steps.SetAndSetBack:
    """gp2 → gp3 with the target IOPS and throughput, and ModifyVolume back to gp2."""
    volume = record.volume
    vid = volume.volume_id
    root = "Volumes[0]"
    target_type, accepted = _modification_accepted("gp3")
    # gp2 derives IOPS and throughput from the size; ModifyVolume refuses them for gp2.
    gp2_spec = volume.model_copy(update={"volume_type": "gp2"})
    return steps.SetAndSetBack(
        record=steps.record(
            "record-configuration",
            f"Record {vid}'s configuration (type, size, IOPS, throughput) in the "
            "journal: nothing is deleted, and the rollback restores this configuration.",
            _describe(vid),
            outputs={
                "VolumeType": f"{root}.VolumeType",
                "Size": f"{root}.Size",
                "Iops": f"{root}.Iops",
                "Throughput": f"{root}.Throughput",
            },
        ),
        dry_run=f"Ask EC2 whether ModifyVolume {vid} to gp3 would be permitted.",
        set=steps.change(
            "modify",
            f"Modify {vid} to gp3 with {record.target_iops} IOPS and "
            f"{record.target_throughput_mibps} MiB/s (waits while an earlier modification of "
            "the volume has not completed, or until the time AWS names if it refuses).",
            AwsCall(
                service="ec2",
                operation="ModifyVolume",
                params={
                    "VolumeId": vid,
                    "VolumeType": "gp3",
                    "Iops": record.target_iops,
                    "Throughput": record.target_throughput_mibps,
                },
            ),
            already_done=Lookup(call=_modifications(vid), found_when=_latest_is("gp3")),
            not_before=_modification_window(vid),
        ),
        verify_set=steps.verify(
            "verify",
            f"Confirm EC2 accepted the modification of {vid} to gp3 with the target "
            "IOPS and throughput (optimizing in the background is fine).",
            _modifications(vid),
            target_type,
            Expectation(
                path=f"{_LATEST}.TargetIops", equals=record.target_iops, what="target IOPS"
            ),
            Expectation(
                path=f"{_LATEST}.TargetThroughput",
                equals=record.target_throughput_mibps,
                what="target throughput (MiB/s)",
            ),
            accepted,
        ),
        set_back=steps.change(
            "modify-back",
            f"Modify {vid} back to gp2 as soon as AWS allows: once the apply's "
            "modification has completed (at most four per volume in a rolling 24 hours). "
            "Before then this step stops, says when it can run (the time AWS names if it "
            "refuses), and the journal keeps the rollback pending.",
            AwsCall(
                service="ec2",
                operation="ModifyVolume",
                params={"VolumeId": vid, "VolumeType": "gp2"},
            ),
            already_done=Lookup(call=_modifications(vid), found_when=_latest_is("gp2")),
            not_before=_modification_window(vid),
        ),
        verify_set_back=(
            steps.verify(
                "verify-modification",
                f"Confirm EC2 accepted the modification of {vid} back to gp2.",
                _modifications(vid),
                *_modification_accepted("gp2"),
            ),
            steps.verify(
                "verify-volume",
                f"Confirm {vid} has its recorded size, encryption, KMS key, tags and zone.",
                _describe(vid),
                *(
                    check
                    for check in spec_expectations(gp2_spec, root, include_az=True)
                    if check.what != "volume type"
                ),
            ),
        ),
    )
