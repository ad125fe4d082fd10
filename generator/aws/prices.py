"""The bundled price table and the arithmetic that turns a resource into $/month.

The table is one JSON file with a section per service (``ebs``, ``ec2``, ``vpc``,
``nat_gateway``, ``elb``, ``logs``, ``cloudfront``, ``rds``, ``redshift``, ``dynamodb``,
``sagemaker``, ``ecr``, ``extended_support``, ``s3``, ``secretsmanager``), each naming its
source; the file as a whole names its region and the date it was compiled. ``reclaim prices
refresh`` rebuilds it from the AWS Price List (``generator/aws/price_list.py``). Prices are
list prices of one region: a finding in another region is marked ``estimated``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.errors import ConfigError
from generator.findings import Cost
from generator.untrusted import parse_json, read_text, to_model

HOURS_PER_MONTH = 730
"""AWS bills hourly resources on a 730-hour month."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIB = 1024**3
BYTES_PER_GB = GIB
"""AWS bills storage and transfer per GB of 2^30 bytes."""


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
    archive_retrieval_gib: float = Field(description="$ per GiB restored from the archive tier.")
    archive_minimum_days: int = Field(description="Archived snapshots are billed at least this.")


class EbsPrices(_Frozen):
    source: str
    volume: dict[str, VolumeTypePrice]
    snapshot: SnapshotPrice


class Ec2Prices(_Frozen):
    source: str
    hours_per_month: int = HOURS_PER_MONTH
    on_demand_hourly: dict[str, float] = Field(
        description="Instance type → $/hour, Linux, shared tenancy."
    )


class VpcPrices(_Frozen):
    source: str
    public_ipv4_hourly: float


class NatGatewayPrices(_Frozen):
    source: str
    hourly: float = Field(description="$ per NAT gateway-hour (public or private).")
    data_processed_gb: float = Field(description="$ per GB the gateway processes.")


class ElbPrices(_Frozen):
    source: str
    alb_hourly: float = Field(description="$ per Application Load Balancer-hour.")
    nlb_hourly: float = Field(description="$ per Network Load Balancer-hour.")
    alb_lcu_hourly: float = Field(description="$ per ALB capacity unit-hour (LCU).")
    nlb_lcu_hourly: float = Field(description="$ per NLB capacity unit-hour (NLCU).")


class LogsPrices(_Frozen):
    source: str
    storage_gb_month: float


class CloudFrontPrices(_Frozen):
    source: str
    data_transfer_out_gb: dict[str, float] = Field(
        description="CloudFront billing region code (usage-type prefix: US, EU, JP, ...) → "
        "$/GB out to the internet, first tier."
    )
    price_class_regions: dict[str, tuple[str, ...]] = Field(
        description="Price class → the billing regions whose edge locations it uses."
    )
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

    @model_validator(mode="after")
    def _classes_name_priced_regions(self) -> CloudFrontPrices:
        for price_class, regions in self.price_class_regions.items():
            unknown = set(regions) - set(self.data_transfer_out_gb)
            if unknown:
                raise ValueError(f"{price_class} names unpriced regions {sorted(unknown)}")
        return self


class RdsPrices(_Frozen):
    source: str
    multi_az_factor: float = Field(
        description="A Multi-AZ instance is billed this many times the Single-AZ rate."
    )
    instance_hourly: dict[str, dict[str, float]] = Field(
        description="Engine (as DescribeDBInstances spells it) → DB instance class → $/hour, "
        "Single-AZ, On-Demand."
    )
    engine_prices: dict[str, str] = Field(
        default_factory=dict,
        description="Engines billed at another engine's rates (mariadb at mysql's).",
    )
    storage_gb_month: dict[str, float] = Field(description="Storage type → $/GB-month.")
    provisioned_iops_month: dict[str, float] = Field(
        default_factory=dict, description="Storage type → $/provisioned IOPS-month."
    )

    def hourly(self, engine: str, instance_class: str, multi_az: bool) -> float | None:
        """$/hour of one DB instance, or None when the table has no rate for it."""
        rates = self.instance_hourly.get(self.engine_prices.get(engine, engine), {})
        rate = rates.get(instance_class)
        if rate is None:
            return None
        return rate * self.multi_az_factor if multi_az else rate

    def storage_monthly(
        self, storage_type: str, gib: int, iops: int | None, multi_az: bool
    ) -> float | None:
        """$/month of a DB instance's storage (billed whether it runs or is stopped)."""
        rate = self.storage_gb_month.get(storage_type)
        if rate is None:
            return None
        total = gib * rate
        if iops and storage_type in self.provisioned_iops_month:
            total += iops * self.provisioned_iops_month[storage_type]
        return total * self.multi_az_factor if multi_az else total


class RedshiftPrices(_Frozen):
    source: str
    node_hourly: dict[str, float] = Field(description="Node type → $/node-hour, On-Demand.")
    managed_storage_gb_month: float = Field(
        description="RA3 managed storage, $/GB-month (billed while paused)."
    )


class DynamoDbPrices(_Frozen):
    source: str
    provisioned_rcu_hourly: float = Field(description="$ per read capacity unit-hour.")
    provisioned_wcu_hourly: float = Field(description="$ per write capacity unit-hour.")
    on_demand_read_per_million: float = Field(description="$ per million read request units.")
    on_demand_write_per_million: float = Field(description="$ per million write request units.")


class SageMakerPrices(_Frozen):
    source: str
    hosting_hourly: dict[str, float] = Field(
        description="Real-time inference instance type (ml.*) → $/instance-hour, On-Demand."
    )


class EcrPrices(_Frozen):
    source: str
    storage_gb_month: float = Field(description="$ per GB-month of private repository storage.")


class ExtendedSupportPrices(_Frozen):
    """What a version past its end of standard support costs on top of the usual bill."""

    source: str
    rds_vcpu_hourly_years_1_2: float = Field(
        description="RDS for MySQL/PostgreSQL and Aurora provisioned instances: $ per vCPU-hour "
        "in the first two years of RDS Extended Support."
    )
    rds_vcpu_hourly_year_3: float = Field(description="$ per vCPU-hour from the third year on.")
    eks_cluster_hourly_standard: float = Field(description="EKS cluster $/hour, standard support.")
    eks_cluster_hourly_extended: float = Field(description="EKS cluster $/hour, extended support.")

    @property
    def eks_surcharge_hourly(self) -> float:
        return round(self.eks_cluster_hourly_extended - self.eks_cluster_hourly_standard, 6)


class S3Prices(_Frozen):
    source: str
    standard_gb_month: float = Field(description="S3 Standard storage, first tier, $/GB-month.")


class SecretsManagerPrices(_Frozen):
    source: str
    secret_month: float = Field(description="$ per secret per month (prorated hourly).")


class PriceTable(_Frozen):
    schema_version: Literal[2] = 2
    region: str
    currency: Literal["USD"] = "USD"
    compiled: str = Field(description="Date the prices were compiled (YYYY-MM-DD).")
    source: str
    note: str = ""
    ebs: EbsPrices
    ec2: Ec2Prices
    vpc: VpcPrices
    nat_gateway: NatGatewayPrices
    elb: ElbPrices
    logs: LogsPrices
    cloudfront: CloudFrontPrices
    rds: RdsPrices
    redshift: RedshiftPrices
    dynamodb: DynamoDbPrices
    sagemaker: SageMakerPrices
    ecr: EcrPrices
    extended_support: ExtendedSupportPrices
    # Added after schema 2 shipped: a table refreshed before them lacks them, and a rule
    # needing one then prices its findings "unknown" instead of refusing the whole table.
    s3: S3Prices | None = None
    secretsmanager: SecretsManagerPrices | None = None

    def public_ipv4_cost(self, *, region: str) -> Cost:
        price, hours = self.vpc.public_ipv4_hourly, self.ec2.hours_per_month
        return self.cost(
            hours * price, region, f"1 public IPv4 address x ${price}/hour x {hours} hours"
        )

    def nat_gateway_cost(self, *, region: str) -> Cost:
        """An idle NAT gateway: its hours only (it processes no data, by definition)."""
        price, hours = self.nat_gateway.hourly, self.ec2.hours_per_month
        return self.cost(
            hours * price,
            region,
            f"1 NAT gateway x ${price}/hour x {hours} hours (+ "
            f"${self.nat_gateway.data_processed_gb}/GB processed: none while idle)",
        )

    def load_balancer_cost(self, *, region: str, kind: Literal["application", "network"]) -> Cost:
        """An idle load balancer: its hours (an idle one uses next to no capacity units)."""
        application = kind == "application"
        price = self.elb.alb_hourly if application else self.elb.nlb_hourly
        lcu = self.elb.alb_lcu_hourly if application else self.elb.nlb_lcu_hourly
        hours = self.ec2.hours_per_month
        return self.cost(
            hours * price,
            region,
            f"1 {'Application' if application else 'Network'} Load Balancer x ${price}/hour x "
            f"{hours} hours (+ ${lcu}/capacity unit-hour: next to none while idle)",
        )

    def logs_storage_cost(self, *, region: str, stored_bytes: float, what: str) -> Cost:
        gb = stored_bytes / GIB
        price = self.logs.storage_gb_month
        return self.cost(gb * price, region, f"{what}: {gb:,.3g} GB x ${price}/GB-month")

    def global_cost(self, monthly_usd: float, basis: str) -> Cost:
        """A global service's cost (CloudFront): one price list, whatever the region."""
        return Cost(
            monthly_usd=round(monthly_usd, 2), estimated=False, price_region="global", basis=basis
        )

    def unknown_cost(self, region: str, why: str) -> Cost:
        return self.unknown(why)

    # ---- EBS ----------------------------------------------------------------------------

    def volume_monthly(
        self, volume_type: str, size_gib: int, iops: int | None, throughput_mibps: int | None
    ) -> tuple[float, str] | None:
        """$/month and its basis for a volume, or None when the type has no bundled price."""
        price = self.ebs.volume.get(volume_type)
        if price is None:
            return None
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
        return total, " + ".join(parts)

    def volume_cost(
        self,
        *,
        region: str,
        volume_type: str,
        size_gib: int,
        iops: int | None,
        throughput_mibps: int | None,
    ) -> Cost:
        priced = self.volume_monthly(volume_type, size_gib, iops, throughput_mibps)
        if priced is None:
            return self.unknown(f"no bundled price for volume type {volume_type!r}; cost unknown")
        return self.cost(priced[0], region, priced[1])

    def snapshot_monthly(self, size_gib: float, tier: Literal["standard", "archive"]) -> float:
        rate = (
            self.ebs.snapshot.standard_gib_month
            if tier == "standard"
            else self.ebs.snapshot.archive_gib_month
        )
        return size_gib * rate

    # ---- EC2, VPC, Logs, CloudFront ---------------------------------------------------------

    def instance_hourly(self, instance_type: str) -> float | None:
        return self.ec2.on_demand_hourly.get(instance_type)

    def public_ipv4_monthly(self, addresses: int = 1) -> float:
        return addresses * self.vpc.public_ipv4_hourly * self.ec2.hours_per_month

    def logs_storage_monthly(self, stored_bytes: int) -> float:
        return stored_bytes / GIB * self.logs.storage_gb_month

    def cloudfront_rate(self, billing_region: str) -> float | None:
        return self.cloudfront.data_transfer_out_gb.get(billing_region)

    def cloudfront_price_class(self, price_class: str) -> tuple[str, ...] | None:
        return self.cloudfront.price_class_regions.get(price_class)

    def s3_standard_storage_cost(self, *, region: str, stored_bytes: float, what: str) -> Cost:
        if self.s3 is None:
            return self._missing("s3")
        gb = stored_bytes / GIB
        price = self.s3.standard_gb_month
        return self.cost(
            gb * price, region, f"{what}: {gb:,.3g} GB x ${price}/GB-month (S3 Standard)"
        )

    def secret_cost(self, *, region: str, secrets: int = 1) -> Cost:
        if self.secretsmanager is None:
            return self._missing("secretsmanager")
        price = self.secretsmanager.secret_month
        return self.cost(secrets * price, region, f"{secrets} secret(s) x ${price}/secret-month")

    def _missing(self, section: str) -> Cost:
        return self.unknown(
            f"the price table has no {section!r} section (compiled {self.compiled}); "
            "rebuild it with `reclaim prices refresh`"
        )

    # ---- Cost values --------------------------------------------------------------------------

    def cost(self, total: float, region: str, basis: str) -> Cost:
        """A Cost for ``region``, marked estimated when the table is for another region."""
        estimated = region != self.region
        if estimated:
            basis += f" ({self.region} list prices; {region} may differ)"
        return Cost(
            monthly_usd=round(max(total, 0.0), 2),
            estimated=estimated,
            price_region=self.region,
            basis=basis,
        )

    def unknown(self, basis: str) -> Cost:
        return Cost(
            monthly_usd=0.0, estimated=False, unknown=True, price_region=self.region, basis=basis
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


def parse_price_table(text: str, source: str) -> PriceTable:
    hint = "rebuild it with `reclaim prices refresh`, or remove it to use the bundled table"
    return to_model(
        PriceTable, parse_json(text, source, ConfigError, hint), source, ConfigError, hint
    )


def load_price_table(path: Path) -> PriceTable:
    return parse_price_table(read_text(path, ConfigError), str(path))


@cache
def bundled_prices() -> PriceTable:
    text = resources.files("generator.data").joinpath("prices.json").read_text(encoding="utf-8")
    return parse_price_table(text, "bundled prices.json")
