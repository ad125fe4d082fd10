"""ec2-previous-generation: running instances of a previous-generation family that a
current-generation type of the same size replaces for less. Report-only: a resize needs a
stop and start, and often drivers (a Xen family moving to Nitro needs ENA and NVMe), so it is
the owner's change to make, in their launch template or infrastructure code.

Which families are previous-generation, and their successor, is reclaim's table below (AWS
still reports t2 as "current generation" in DescribeInstanceTypes, so that flag cannot say
it). Whether the successor of the same size exists in the region, and is at least as large
(vCPUs and memory), DescribeInstanceTypes says; the saving is the difference of the two
On-Demand rates in the price table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.findings import Cost, Evidence, Finding, Reversibility, SkippedResource
from generator.rules.base import Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.ec2_instance import INSTANCES, IncompleteInstance, InstanceSpec

SUCCESSOR_FAMILY: Mapping[str, str] = {
    "t1": "t3",
    "t2": "t3",
    "m1": "m5",
    "m3": "m5",
    "m4": "m5",
    "c1": "c5",
    "c3": "c5",
    "c4": "c5",
    "m2": "r5",
    "cr1": "r5",
    "r3": "r5",
    "r4": "r5",
    "i2": "i3",
    "d2": "d3",
    "hs1": "d3",
    "g2": "g4dn",
    "g3": "g4dn",
    "p2": "p3",
}
"""Previous-generation family → the current-generation x86 family of the same purpose whose
sizes it maps onto one to one (same size name). Families without one are not reported."""

_TYPE_BATCH = 100
"""DescribeInstanceTypes filter values asked per request."""


class Ec2PreviousGenerationSettings(RuleSettings):
    min_monthly_savings_usd: float = Field(
        default=0.0,
        ge=0,
        description="Report an instance only when its current-generation equivalent saves more "
        "than this per month (an equivalent that costs as much or more is never reported).",
    )


class TypeSpec(BaseModel):
    """What DescribeInstanceTypes says of one type, as far as equivalence goes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_type: str
    vcpus: int
    memory_mib: int
    hypervisor: str | None = None
    instance_storage_gb: int = 0
    architectures: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> TypeSpec:
        return cls(
            instance_type=item["InstanceType"],
            vcpus=int((item.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
            memory_mib=int((item.get("MemoryInfo") or {}).get("SizeInMiB", 0)),
            hypervisor=item.get("Hypervisor"),
            instance_storage_gb=int(
                (item.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0)
            ),
            architectures=tuple(
                (item.get("ProcessorInfo") or {}).get("SupportedArchitectures", ())
            ),
        )

    def describe(self) -> str:
        storage = (
            f", {self.instance_storage_gb:,} GB instance store" if self.instance_storage_gb else ""
        )
        return f"{self.vcpus} vCPU, {self.memory_mib / 1024:g} GiB{storage}" + (
            f", {self.hypervisor}" if self.hypervisor else ""
        )


class PreviousGenerationInstance(BaseModel):
    """What the finding records: the instance, its type and the equivalent, both priced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance: InstanceSpec
    architecture: str | None
    ena_support: bool | None
    current: TypeSpec
    equivalent: TypeSpec
    hourly_usd: float | None
    equivalent_hourly_usd: float | None
    skip_tag: str


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def equivalent_type(instance_type: str) -> str | None:
    family, _, size = instance_type.partition(".")
    successor = SUCCESSOR_FAMILY.get(family)
    return f"{successor}.{size}" if successor and size else None


class Ec2PreviousGeneration(Rule[Ec2PreviousGenerationSettings, PreviousGenerationInstance]):
    name: ClassVar[str] = "ec2-previous-generation"
    summary: ClassVar[str] = (
        "Running instances of previous-generation families with a cheaper current equivalent"
    )
    resource_type: ClassVar[str] = "AWS::EC2::Instance"
    reversibility: ClassVar[Reversibility] = "report-only"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "running On-Demand instances of a previous-generation family (t2, m3, m4, c3, c4, r3, "
            "r4, i2, d2, ...) whose current-generation type of the same size (t3, m5, c5, r5, i3, "
            "d3, ...) exists in the region with at least the vCPUs and memory; priced as the "
            "difference of the two On-Demand rates. Report-only: a resize is a stop, a start "
            "and often new drivers"
        ),
    )
    settings_model = Ec2PreviousGenerationSettings
    record_model = PreviousGenerationInstance
    listings: ClassVar[tuple[Listing, ...]] = (
        INSTANCES.read_whole("the candidates' types are asked in one DescribeInstanceTypes"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("ec2", "DescribeInstances"), ("ec2", "DescribeInstanceTypes")}),
        apply=frozenset(),
        rollback=frozenset(),
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: Ec2PreviousGenerationSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        candidates: list[tuple[InstanceSpec, dict[str, Any]]] = []
        for page in ctx.listing(INSTANCES):  # the listing ec2-idle reads too
            for reservation in page.get("Reservations", []):
                for item in reservation.get("Instances", []):
                    if family_of(str(item.get("InstanceType", ""))) not in SUCCESSOR_FAMILY:
                        continue  # current generation (or a family without a successor)
                    try:
                        instance = InstanceSpec.from_api(item)
                    except IncompleteInstance as error:
                        yield self.skipped(
                            ctx, str(item.get("InstanceId", "unknown")), f"cannot judge: {error}"
                        )
                        continue
                    if instance.state == "running":
                        candidates.append((instance, item))
        if not candidates:
            return
        wanted = {i.instance_type for i, _ in candidates}
        wanted |= {t for i, _ in candidates if (t := equivalent_type(i.instance_type))}
        types = _describe_types(ec2, wanted)
        for instance, item in candidates:
            reason = self._skip_reason(ctx, settings, instance, types)
            if reason:
                yield self.skipped(ctx, instance.instance_id, reason)
                continue
            record = self._record(ctx, instance, item, types)
            cost = _saving(ctx, record)
            if not cost.unknown and cost.monthly_usd <= settings.min_monthly_savings_usd:
                yield self.skipped(
                    ctx,
                    instance.instance_id,
                    f"{record.equivalent.instance_type} saves ${cost.monthly_usd:,.2f}/month "
                    f"over {instance.instance_type}, not more than min_monthly_savings_usd="
                    f"{settings.min_monthly_savings_usd}",
                )
                continue
            yield self._finding(ctx, record, cost)

    def _skip_reason(
        self,
        ctx: ScanContext,
        settings: Ec2PreviousGenerationSettings,
        instance: InstanceSpec,
        types: Mapping[str, TypeSpec],
    ) -> str | None:
        if instance.lifecycle:
            return f"{instance.lifecycle} instance: not billed at On-Demand rates"
        target = equivalent_type(instance.instance_type)
        current = types.get(instance.instance_type)
        equivalent = types.get(target) if target else None
        if current is None:
            return f"DescribeInstanceTypes does not describe {instance.instance_type}"
        if equivalent is None:
            return (
                f"no same-size current-generation equivalent of {instance.instance_type} is "
                f"offered in {ctx.region}" + (f" ({target} is not)" if target else "")
            )
        if equivalent.vcpus < current.vcpus or equivalent.memory_mib < current.memory_mib:
            return (
                f"{equivalent.instance_type} ({equivalent.describe()}) is smaller than "
                f"{current.instance_type} ({current.describe()})"
            )
        return ctx.exclusions.reason_to_skip(instance.instance_id, instance.tags)

    def _record(
        self,
        ctx: ScanContext,
        instance: InstanceSpec,
        item: dict[str, Any],
        types: Mapping[str, TypeSpec],
    ) -> PreviousGenerationInstance:
        current = types[instance.instance_type]
        equivalent = types[equivalent_type(instance.instance_type) or ""]
        ena = item.get("EnaSupport")
        return PreviousGenerationInstance(
            instance=instance,
            architecture=item.get("Architecture"),
            ena_support=ena if isinstance(ena, bool) else None,
            current=current,
            equivalent=equivalent,
            hourly_usd=ctx.prices.instance_hourly(current.instance_type),
            equivalent_hourly_usd=ctx.prices.instance_hourly(equivalent.instance_type),
            skip_tag=ctx.exclusions.skip_tag,
        )

    def _finding(self, ctx: ScanContext, record: PreviousGenerationInstance, cost: Cost) -> Finding:
        instance, current, equivalent = record.instance, record.current, record.equivalent
        evidence = [
            Evidence(label="State", value="running", source="DescribeInstances"),
            Evidence(
                label="Instance type",
                value=f"{current.instance_type} ({current.describe()})",
                source="DescribeInstances, DescribeInstanceTypes",
            ),
            Evidence(
                label="Current-generation equivalent",
                value=f"{equivalent.instance_type} ({equivalent.describe()})",
                source="DescribeInstanceTypes",
            ),
        ]
        return self.new_finding(
            ctx,
            title=f"Move {instance.label()} to {equivalent.instance_type}",
            cost=cost,
            risk="medium",
            risk_reasons=_risk_reasons(record),
            evidence=evidence,
            record=record,
        )

    # ---- names -----------------------------------------------------------------------

    def resource_of(self, record: PreviousGenerationInstance) -> str:
        return record.instance.instance_id

    def tags_of(self, record: PreviousGenerationInstance) -> Mapping[str, str]:
        return record.instance.tags


def _describe_types(ec2: Any, names: set[str]) -> dict[str, TypeSpec]:
    """The types among ``names`` EC2 offers here (a filter, so a type it lacks is simply
    absent from the answer rather than failing the request)."""
    found: dict[str, TypeSpec] = {}
    ordered = sorted(names)
    for offset in range(0, len(ordered), _TYPE_BATCH):
        pages = ec2.get_paginator("describe_instance_types").paginate(
            Filters=[{"Name": "instance-type", "Values": ordered[offset : offset + _TYPE_BATCH]}]
        )
        for page in pages:
            for item in page.get("InstanceTypes", []):
                spec = TypeSpec.from_api(item)
                found[spec.instance_type] = spec
    return found


def _saving(ctx: ScanContext, record: PreviousGenerationInstance) -> Cost:
    old, new = record.current.instance_type, record.equivalent.instance_type
    missing = [
        t
        for t, price in ((old, record.hourly_usd), (new, record.equivalent_hourly_usd))
        if price is None
    ]
    if missing:
        return ctx.prices.unknown(
            f"no bundled On-Demand price for {' or '.join(missing)}; saving unknown (refresh the "
            "table with `reclaim prices refresh`)"
        )
    assert record.hourly_usd is not None and record.equivalent_hourly_usd is not None
    hours = ctx.prices.ec2.hours_per_month
    basis = (
        f"({old} ${record.hourly_usd}/h - {new} ${record.equivalent_hourly_usd}/h) x {hours} h, "
        "On-Demand Linux rates"
    )
    platform = record.instance.platform_details
    if platform and platform != "Linux/UNIX":
        basis += f" ({platform} licence not included)"
    return ctx.prices.cost(
        (record.hourly_usd - record.equivalent_hourly_usd) * hours, ctx.region, basis
    )


def _risk_reasons(record: PreviousGenerationInstance) -> list[str]:
    current, equivalent = record.current, record.equivalent
    reasons = ["changing the type needs a stop and a start: plan the downtime"]
    if current.hypervisor == "xen" and equivalent.hypervisor == "nitro":
        reasons.append(
            f"{equivalent.instance_type} is a Nitro type: the AMI needs the ENA and NVMe "
            "drivers (EBS volumes appear as NVMe devices)"
        )
        if record.ena_support is not True:
            reasons.append("ENA support is not enabled on this instance (EnaSupport)")
    if record.architecture and record.architecture not in equivalent.architectures:
        reasons.append(
            f"the instance runs {record.architecture}, which {equivalent.instance_type} does not "
            "support: it needs a new AMI"
        )
    if family_of(current.instance_type) in ("t1", "t2"):
        reasons.append(
            f"{equivalent.instance_type} launches with unlimited CPU credits by default (t2: "
            "standard): set the credit specification to standard to keep the bill bounded"
        )
    if current.instance_storage_gb:
        reasons.append(
            f"instance-store data is lost on the stop ({current.instance_storage_gb:,} GB on "
            f"{current.instance_type}; {equivalent.instance_storage_gb:,} GB on "
            f"{equivalent.instance_type})"
        )
    if record.instance.in_auto_scaling_group:
        reasons.append("in an Auto Scaling group: change its launch template, not the instance")
    return reasons
