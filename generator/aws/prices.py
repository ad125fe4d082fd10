"""The bundled price table and the arithmetic that turns a resource into $/month."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from generator.findings import Cost


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeTypePrice(_Frozen):
    gib_month: float
    iops_month: float | None = None
    included_iops: int = 0
    iops_tiers: tuple[tuple[int | None, float], ...] = Field(
        default=(), description="(up to this many IOPS, $/IOPS-month); None is the open top tier."
    )
    mibps_month: float | None = None
    included_mibps: int = 0


class SnapshotPrice(_Frozen):
    standard_gib_month: float
    archive_gib_month: float


HOURS_PER_MONTH = 730
"""AWS bills hourly resources on a 730-hour month."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
BYTES_PER_GB = 1024**3
"""AWS bills storage and transfer per GB of 2^30 bytes."""


class PublicIpv4Price(_Frozen):
    hour: float
    source: str


class CloudWatchLogsPrice(_Frozen):
    storage_gb_month: float
    source: str


class CloudFrontPrice(_Frozen):
    """Data transfer out by the region codes Cost Explorer uses in CloudFront usage types
    (``SA-DataTransfer-Out-Bytes``), and which of them each price class serves."""

    source: str
    data_transfer_out_gb: dict[str, float]
    price_class_regions: dict[str, tuple[str, ...]]
    served_from_when_excluded: dict[str, tuple[str, ...]] = Field(
        description="Region code → where CloudFront most likely serves those viewers from "
        "when a price class excludes it, nearest first."
    )

    def dropped_regions(self, current: str, target: str) -> tuple[str, ...]:
        kept = set(self.price_class_regions[target])
        return tuple(r for r in self.price_class_regions[current] if r not in kept)

    def serving_region(self, dropped: str, target: str) -> str | None:
        kept = self.price_class_regions[target]
        return next((r for r in self.served_from_when_excluded.get(dropped, ()) if r in kept), None)

    def saving_per_gb(self, dropped: str, target: str) -> float | None:
        """$/GB saved when viewers in ``dropped`` are served from the target class's edges."""
        serving = self.serving_region(dropped, target)
        if serving is None or dropped not in self.data_transfer_out_gb:
            return None
        return max(0.0, self.data_transfer_out_gb[dropped] - self.data_transfer_out_gb[serving])


class PriceTable(_Frozen):
    source: str
    compiled: str
    region: str
    note: str = ""
    ebs_volume: dict[str, VolumeTypePrice]
    ebs_snapshot: SnapshotPrice
    public_ipv4: PublicIpv4Price
    cloudwatch_logs: CloudWatchLogsPrice
    cloudfront: CloudFrontPrice

    def public_ipv4_cost(self, *, region: str) -> Cost:
        price = self.public_ipv4.hour
        return self._cost(
            HOURS_PER_MONTH * price,
            region,
            f"1 public IPv4 address x ${price}/hour x {HOURS_PER_MONTH} hours",
        )

    def logs_storage_cost(self, *, region: str, stored_bytes: float, what: str) -> Cost:
        gb = stored_bytes / BYTES_PER_GB
        price = self.cloudwatch_logs.storage_gb_month
        return self._cost(gb * price, region, f"{what}: {gb:,.3g} GB x ${price}/GB-month")

    def global_cost(self, monthly_usd: float, basis: str) -> Cost:
        """A global service's cost (CloudFront): one price list, whatever the region."""
        return Cost(
            monthly_usd=round(monthly_usd, 2), estimated=False, price_region="global", basis=basis
        )

    def unknown_cost(self, region: str, why: str) -> Cost:
        return Cost(
            monthly_usd=0.0, estimated=False, unknown=True, price_region=self.region, basis=why
        )

    def volume_cost(
        self,
        *,
        region: str,
        volume_type: str,
        size_gib: int,
        iops: int | None,
        throughput_mibps: int | None,
    ) -> Cost:
        price = self.ebs_volume.get(volume_type)
        if price is None:
            return Cost(
                monthly_usd=0.0,
                estimated=True,
                price_region=self.region,
                basis=f"no bundled price for volume type {volume_type!r}; cost unknown",
            )
        parts = [f"{size_gib} GiB {volume_type} x ${price.gib_month}/GiB-month"]
        total = size_gib * price.gib_month
        if iops and price.iops_month is not None and iops > price.included_iops:
            billable = iops - price.included_iops
            total += billable * price.iops_month
            parts.append(f"{billable} IOPS x ${price.iops_month}/IOPS-month")
        elif iops and price.iops_tiers:
            total += _tiered(iops, price.iops_tiers)
            parts.append(f"{iops} IOPS at tiered rates")
        if throughput_mibps and price.mibps_month is not None:
            billable_mibps = throughput_mibps - price.included_mibps
            if billable_mibps > 0:
                total += billable_mibps * price.mibps_month
                parts.append(f"{billable_mibps} MiB/s x ${price.mibps_month}/MiB/s-month")
        return self._cost(total, region, " + ".join(parts))

    def _cost(self, total: float, region: str, basis: str) -> Cost:
        estimated = region != self.region
        if estimated:
            basis += f" ({self.region} list prices; {region} may differ)"
        return Cost(
            monthly_usd=round(total, 2), estimated=estimated, price_region=self.region, basis=basis
        )


def _tiered(quantity: int, tiers: tuple[tuple[int | None, float], ...]) -> float:
    total, floor = 0.0, 0
    for ceiling, rate in tiers:
        top = quantity if ceiling is None else min(quantity, ceiling)
        if top > floor:
            total += (top - floor) * rate
        if ceiling is None or quantity <= ceiling:
            break
        floor = ceiling
    return total


@cache
def bundled_prices() -> PriceTable:
    text = resources.files("generator.data").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable.model_validate(json.loads(text))
