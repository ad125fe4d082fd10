"""`reclaim prices refresh`: rebuild the price table from the AWS Price List Query API.

pricing:GetProducts (through botocore's paginator) answers with one JSON document per
product: its attributes (usagetype, instanceType, ...) and its terms, whose On-Demand price
dimensions carry the $ rate. Products are recognised by usage type, which AWS prefixes with
a region code outside us-east-1 (``EUW1-EBS:VolumeUsage.gp2``), so only the suffix counts.

A price the API does not return keeps the bundled value and is listed as kept, so a partial
answer never silently zeroes a price. CloudFront's price-class membership is not in the
Price List; it, ECR storage and the extended-support surcharges are carried over from the
bundled table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from generator.aws.price_list_databases import refresh_rds, refresh_redshift
from generator.aws.prices import PriceTable, VolumeTypePrice, bundled_prices
from generator.errors import AwsCallFailed, CredentialsError, ReclaimError

PRICING_API_REGION = "us-east-1"
"""The Price List Query API is served from a few regions only; us-east-1 is one of them."""

_VOLUME_USAGE = {
    "EBS:VolumeUsage": "standard",
    "EBS:VolumeUsage.gp2": "gp2",
    "EBS:VolumeUsage.gp3": "gp3",
    "EBS:VolumeUsage.piops": "io1",
    "EBS:VolumeUsage.io2": "io2",
    "EBS:VolumeUsage.st1": "st1",
    "EBS:VolumeUsage.sc1": "sc1",
}
_IOPS_USAGE = {"EBS:VolumeP-IOPS.piops": "io1", "EBS:VolumeP-IOPS.gp3": "gp3"}
_IO2_TIERS = {
    "EBS:VolumeP-IOPS.io2": 0,
    "EBS:VolumeP-IOPS.io2.tier2": 1,
    "EBS:VolumeP-IOPS.io2.tier3": 2,
}
_SNAPSHOT_USAGE = {
    "EBS:SnapshotUsage": "standard_gib_month",
    "EBS:SnapshotArchiveStorage": "archive_gib_month",
    "EBS:SnapshotArchiveRetrieval": "archive_retrieval_gib",
}
_REGION_PREFIX = r"^(?:(?!IA-)[A-Z]{2,4}[0-9]?-)?"
"""A usage type's region prefix (none in us-east-1, ``USE2-``, ``EU-``); never ``IA-``, which
marks DynamoDB's Standard-Infrequent-Access table class rather than a region."""
_DYNAMODB_USAGE = {
    "ReadCapacityUnit-Hrs": ("provisioned_rcu_hourly", 1.0),
    "WriteCapacityUnit-Hrs": ("provisioned_wcu_hourly", 1.0),
    "ReadRequestUnits": ("on_demand_read_per_million", 1e6),
    "WriteRequestUnits": ("on_demand_write_per_million", 1e6),
}
_SAGEMAKER_HOSTING = re.compile(_REGION_PREFIX + r"Host:(ml\.[a-z0-9.-]+)$")
_EBS_FAMILIES = ("Storage", "System Operation", "Provisioned Throughput", "Storage Snapshot")


@dataclass(frozen=True)
class Product:
    attributes: dict[str, str]
    usage: str
    """Usage type without its region prefix."""
    unit: str
    usd: float


@dataclass
class RefreshResult:
    table: PriceTable
    refreshed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    calls: int = 0


def _usage_suffix(usagetype: str) -> str:
    for marker in (
        "EBS:",
        "BoxUsage",
        "PublicIPv4:",
        "TimedStorage-",
        "NatGateway-",
        "LoadBalancerUsage",
        "LCUUsage",
        "AWSSecretsManager-",
    ):
        if marker in usagetype:
            return usagetype[usagetype.index(marker) :]
    return usagetype


def _first_tier(terms: dict[str, Any]) -> tuple[str, float] | None:
    """The unit and $ rate of the lowest On-Demand tier that costs something."""
    dimensions = [
        dimension
        for term in (terms.get("OnDemand") or {}).values()
        for dimension in (term.get("priceDimensions") or {}).values()
    ]
    priced = []
    for dimension in dimensions:
        try:
            usd = float(dimension["pricePerUnit"]["USD"])
            begin = float(dimension.get("beginRange", "0"))
        except (KeyError, TypeError, ValueError):
            continue
        if usd > 0:
            priced.append((begin, dimension.get("unit", ""), usd))
    if not priced:
        return None
    _, unit, usd = min(priced)
    return unit, usd


def parse_products(price_list: list[str]) -> Iterator[Product]:
    for document in price_list:
        item = json.loads(document) if isinstance(document, str) else document
        attributes = item.get("product", {}).get("attributes", {})
        tier = _first_tier(item.get("terms", {}))
        if tier is None:
            continue
        yield Product(
            attributes=attributes,
            usage=_usage_suffix(attributes.get("usagetype", "")),
            unit=tier[0],
            usd=tier[1],
        )


class PriceListReader:
    """GetProducts through the paginator, counting requests, with errors a user can act on."""

    def __init__(self, pricing: Any) -> None:
        self.pricing = pricing
        self.calls = 0

    def products(self, service_code: str, **attributes: str) -> list[Product]:
        filters = [
            {"Type": "TERM_MATCH", "Field": name, "Value": value}
            for name, value in attributes.items()
        ]
        found: list[Product] = []
        try:
            pages = self.pricing.get_paginator("get_products").paginate(
                ServiceCode=service_code, Filters=filters, FormatVersion="aws_v1"
            )
            for page in pages:
                self.calls += 1
                found.extend(parse_products(page.get("PriceList", [])))
        except NoCredentialsError:
            raise AwsCallFailed(
                "no AWS credentials found for the Price List API",
                hint="configure credentials with pricing:GetProducts, or keep the bundled table",
            ) from None
        except ClientError as error:
            raise _refused(error, service_code) from None
        except BotoCoreError as error:
            raise AwsCallFailed(
                f"cannot reach the AWS Price List API: {error}; no price file was written"
            ) from None
        return found


_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
_BAD_CREDENTIALS = ("InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException")


def _refused(error: ClientError, service_code: str) -> ReclaimError:
    """What failed, said by its cause: a permission, the credentials, or AWS itself."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    what = f"GetProducts for {service_code}: {code}" + (f": {message}" if message else "")
    if code in _DENIED:
        return AwsCallFailed(
            f"the AWS Price List API refused {what}; no price file was written",
            hint="the credentials need pricing:GetProducts; without it reclaim keeps "
            "using its bundled table",
        )
    if code in _BAD_CREDENTIALS:
        return CredentialsError(
            f"the AWS credentials were rejected by the Price List API ({what}); "
            "no price file was written",
            hint="refresh the credentials (e.g. aws sso login) and re-run",
        )
    if (isinstance(status, int) and status >= 500) or "Throttl" in code:
        return AwsCallFailed(
            f"the AWS Price List API failed (HTTP {status}) on {what}; no price file was written",
            hint="this is on AWS's side, not a permission: re-run later; until then reclaim "
            "keeps using its bundled table",
        )
    return AwsCallFailed(f"the AWS Price List API rejected {what}; no price file was written")


def refresh_price_table(
    pricing: Any, region: str, *, base: PriceTable, today: date
) -> RefreshResult:
    """A new table for ``region`` from the Price List; prices it lacks keep ``base``'s value."""
    reader = PriceListReader(pricing)
    result = RefreshResult(table=base)
    data = base.model_dump(mode="json")
    data.update(region=region, compiled=today.isoformat())
    data["source"] = (
        f"AWS Price List Query API (pricing:GetProducts), region {region}, On-Demand first-tier "
        "rates; CloudFront price-class membership from the CloudFront Developer Guide."
    )
    data["note"] = ""

    def record(name: str, value: float | None, setter: Any) -> None:
        if value is None:
            result.kept.append(name)
        else:
            setter(value)
            result.refreshed.append(name)

    _refresh_ebs(reader, region, data, record)
    _refresh_ec2(reader, region, data, result)
    ipv4 = [
        p.usd
        for p in reader.products("AmazonVPC", regionCode=region)
        if p.usage == "PublicIPv4:InUseAddress"
    ]
    record(
        "vpc.public_ipv4_hourly",
        min(ipv4, default=None),
        _setter(data["vpc"], "public_ipv4_hourly"),
    )
    _refresh_nat_gateway(reader, region, data, record)
    _refresh_elb(reader, region, data, record)
    storage = [
        p.usd
        for p in reader.products("AmazonCloudWatch", regionCode=region)
        if p.usage == "TimedStorage-ByteHrs"
    ]
    record(
        "logs.storage_gb_month",
        min(storage, default=None),
        _setter(data["logs"], "storage_gb_month"),
    )
    _refresh_cloudfront(reader, data, record)
    refresh_rds(reader, region, data, result)
    refresh_redshift(reader, region, data, result)
    _refresh_dynamodb(reader, region, data, record)
    _refresh_sagemaker(reader, region, data, result)
    _refresh_s3(reader, region, data, record)
    _refresh_secretsmanager(reader, region, data, record)
    if result.kept:
        data["note"] = "Kept from the previous table (not in the Price List answer): " + ", ".join(
            sorted(result.kept)
        )
    result.table = PriceTable.model_validate(data)
    result.calls = reader.calls
    return result


def _setter(section: dict[str, Any], key: str) -> Any:
    def set_value(value: float) -> None:
        section[key] = value

    return set_value


def _refresh_ebs(reader: PriceListReader, region: str, data: dict[str, Any], record: Any) -> None:
    products = [
        product
        for family in _EBS_FAMILIES
        for product in reader.products("AmazonEC2", regionCode=region, productFamily=family)
    ]
    by_usage = {p.usage: p for p in products}
    volumes: dict[str, Any] = data["ebs"]["volume"]
    for usage, volume_type in _VOLUME_USAGE.items():
        entry = volumes.setdefault(volume_type, VolumeTypePrice(gib_month=0).model_dump())
        found = by_usage.get(usage)
        record(
            f"ebs.volume.{volume_type}.gib_month", found and found.usd, _setter(entry, "gib_month")
        )
    for usage, volume_type in _IOPS_USAGE.items():
        found = by_usage.get(usage)
        record(
            f"ebs.volume.{volume_type}.iops_month",
            found and found.usd,
            _setter(volumes[volume_type], "iops_month"),
        )
    tiers = [list(tier) for tier in volumes["io2"].get("iops_tiers") or []]
    for usage, index in _IO2_TIERS.items():
        found = by_usage.get(usage)
        if found is not None and index < len(tiers):
            tiers[index][1] = found.usd
            volumes["io2"]["iops_tiers"] = tiers
        record(f"ebs.volume.io2.iops_tier{index + 1}", found and found.usd, lambda _v: None)
    throughput = by_usage.get("EBS:VolumeP-Throughput.gp3")
    mibps = None
    if throughput is not None:
        # Published per GiBps-month in some answers and per MiBps-month in others.
        mibps = throughput.usd / 1024 if "GiBps" in throughput.unit else throughput.usd
    record("ebs.volume.gp3.mibps_month", mibps, _setter(volumes["gp3"], "mibps_month"))
    for usage, key in _SNAPSHOT_USAGE.items():
        found = by_usage.get(usage)
        record(f"ebs.snapshot.{key}", found and found.usd, _setter(data["ebs"]["snapshot"], key))


def _refresh_ec2(
    reader: PriceListReader, region: str, data: dict[str, Any], result: RefreshResult
) -> None:
    products = reader.products(
        "AmazonEC2",
        regionCode=region,
        productFamily="Compute Instance",
        operatingSystem="Linux",
        tenancy="Shared",
        preInstalledSw="NA",
        capacitystatus="Used",
    )
    hourly = {
        p.attributes["instanceType"]: p.usd
        for p in products
        if p.usage.startswith("BoxUsage") and p.attributes.get("instanceType")
    }
    if hourly:
        data["ec2"]["on_demand_hourly"] = dict(sorted(hourly.items()))
        result.refreshed.append(f"ec2.on_demand_hourly ({len(hourly)} instance types)")
    else:
        result.kept.append("ec2.on_demand_hourly")


def _refresh_nat_gateway(
    reader: PriceListReader, region: str, data: dict[str, Any], record: Any
) -> None:
    """NAT gateways are billed by EC2: an hourly rate and a rate per GB processed."""
    by_usage = {
        p.usage: p.usd
        for p in reader.products("AmazonEC2", regionCode=region, productFamily="NAT Gateway")
    }
    section = data["nat_gateway"]
    record("nat_gateway.hourly", by_usage.get("NatGateway-Hours"), _setter(section, "hourly"))
    record(
        "nat_gateway.data_processed_gb",
        by_usage.get("NatGateway-Bytes"),
        _setter(section, "data_processed_gb"),
    )


def _refresh_elb(reader: PriceListReader, region: str, data: dict[str, Any], record: Any) -> None:
    """Load balancers: an hourly rate and a capacity-unit rate per kind."""
    section = data["elb"]
    for family, kind in (("Load Balancer-Application", "alb"), ("Load Balancer-Network", "nlb")):
        by_usage = {
            p.usage: p.usd
            for p in reader.products("AWSELB", regionCode=region, productFamily=family)
        }
        record(
            f"elb.{kind}_hourly",
            by_usage.get("LoadBalancerUsage"),
            _setter(section, f"{kind}_hourly"),
        )
        record(
            f"elb.{kind}_lcu_hourly",
            by_usage.get("LCUUsage"),
            _setter(section, f"{kind}_lcu_hourly"),
        )


def _refresh_cloudfront(reader: PriceListReader, data: dict[str, Any], record: Any) -> None:
    rates: dict[str, float] = {}
    for product in reader.products("AmazonCloudFront"):
        usagetype = product.attributes.get("usagetype", "")
        code, _, rest = usagetype.partition("-")
        if rest == "DataTransfer-Out-Bytes" and product.unit.upper() == "GB":
            rates[code] = min(product.usd, rates.get(code, product.usd))
    section = data["cloudfront"]["data_transfer_out_gb"]
    for code in sorted(section):
        record(f"cloudfront.data_transfer_out_gb.{code}", rates.get(code), _setter(section, code))


def _refresh_dynamodb(
    reader: PriceListReader, region: str, data: dict[str, Any], record: Any
) -> None:
    """Standard table class: provisioned capacity per unit-hour (the first tier that costs
    something, after the free tier), on-demand per request unit (stored per million)."""
    found: dict[str, float] = {}
    for product in reader.products("AmazonDynamoDB", regionCode=region):
        usagetype = product.attributes.get("usagetype", "")
        for usage, (key, scale) in _DYNAMODB_USAGE.items():
            if re.fullmatch(_REGION_PREFIX + re.escape(usage), usagetype):
                found[key] = min(product.usd * scale, found.get(key, product.usd * scale))
    section = data["dynamodb"]
    for key, _ in _DYNAMODB_USAGE.values():
        record(f"dynamodb.{key}", found.get(key), _setter(section, key))


def _refresh_sagemaker(
    reader: PriceListReader, region: str, data: dict[str, Any], result: RefreshResult
) -> None:
    hourly: dict[str, float] = {}
    for product in reader.products("AmazonSageMaker", regionCode=region):
        match = _SAGEMAKER_HOSTING.match(product.attributes.get("usagetype", ""))
        if match and product.unit.lower().startswith("hr"):
            hourly[match.group(1)] = product.usd
    if hourly:
        data["sagemaker"]["hosting_hourly"] = dict(sorted(hourly.items()))
        result.refreshed.append(f"sagemaker.hosting_hourly ({len(hourly)} instance types)")
    else:
        result.kept.append("sagemaker.hosting_hourly")


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The table's ``name`` section; a base table refreshed before the section existed
    starts from the bundled one."""
    if data.get(name) is None:
        data[name] = bundled_prices().model_dump(mode="json")[name]
    section: dict[str, Any] = data[name]
    return section


def _refresh_s3(reader: PriceListReader, region: str, data: dict[str, Any], record: Any) -> None:
    standard = [
        p.usd
        for p in reader.products("AmazonS3", regionCode=region, volumeType="Standard")
        if p.usage == "TimedStorage-ByteHrs"
    ]
    section = _section(data, "s3")
    record(
        "s3.standard_gb_month", min(standard, default=None), _setter(section, "standard_gb_month")
    )


def _refresh_secretsmanager(
    reader: PriceListReader, region: str, data: dict[str, Any], record: Any
) -> None:
    secrets = [
        p.usd
        for p in reader.products("AWSSecretsManager", regionCode=region)
        if p.usage == "AWSSecretsManager-Secrets"
    ]
    section = _section(data, "secretsmanager")
    record(
        "secretsmanager.secret_month", min(secrets, default=None), _setter(section, "secret_month")
    )
