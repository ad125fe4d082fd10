"""`reclaim prices refresh` for the database sections: RDS instance-hours and storage, and
Redshift node-hours, from the AWS Price List (pricing:GetProducts).

RDS products name their engine as the Price List spells it (``PostgreSQL``, ``Aurora
MySQL``); the table keys them as DescribeDBInstances does (``postgres``, ``aurora-mysql``).
Only Single-AZ On-Demand instance usage (``InstanceUsage:<class>``, not the I/O-Optimized
``InstanceUsageIOOptimized:``) is read; Multi-AZ is the table's factor on it. A rate the
answer lacks keeps its previous value, as in every other section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generator.aws.price_list import PriceListReader, RefreshResult

PRICE_LIST_ENGINES = {
    "MySQL": "mysql",
    "PostgreSQL": "postgres",
    "Aurora MySQL": "aurora-mysql",
    "Aurora PostgreSQL": "aurora-postgresql",
}
"""The Price List's databaseEngine → the engine name DescribeDBInstances answers."""

_STORAGE_USAGE = {"RDS:GP2-Storage": "gp2", "RDS:GP3-Storage": "gp3", "RDS:PIOPS-Storage": "io1"}

Record = Callable[[str, float | None, Callable[[float], None]], None]


def _suffix(usagetype: str, marker: str) -> str | None:
    """What follows ``marker`` in a usage type with or without a region prefix
    (``USE2-InstanceUsage:db.m5.large`` → ``db.m5.large``), or None without the marker."""
    _, found, rest = usagetype.partition(marker)
    if not found or (usagetype.index(marker) and usagetype[usagetype.index(marker) - 1] != "-"):
        return None
    return rest


def refresh_rds(
    reader: PriceListReader, region: str, data: dict[str, Any], result: RefreshResult
) -> None:
    section = data["rds"]
    hourly: dict[str, dict[str, float]] = {}
    for product in reader.products(
        "AmazonRDS",
        regionCode=region,
        productFamily="Database Instance",
        deploymentOption="Single-AZ",
    ):
        engine = PRICE_LIST_ENGINES.get(product.attributes.get("databaseEngine", ""))
        instance_class = _suffix(product.attributes.get("usagetype", ""), "InstanceUsage:")
        if engine and instance_class and product.unit.lower().startswith("hr"):
            rates = hourly.setdefault(engine, {})
            rates[instance_class] = min(product.usd, rates.get(instance_class, product.usd))
    for engine in sorted(set(section["instance_hourly"]) | set(hourly)):
        if engine in hourly:
            section["instance_hourly"][engine] = dict(sorted(hourly[engine].items()))
            result.refreshed.append(f"rds.instance_hourly.{engine} ({len(hourly[engine])} classes)")
        else:
            result.kept.append(f"rds.instance_hourly.{engine}")
    storage: dict[str, float] = {}
    for product in reader.products(
        "AmazonRDS",
        regionCode=region,
        productFamily="Database Storage",
        deploymentOption="Single-AZ",
    ):
        usagetype = product.attributes.get("usagetype", "")
        for usage, storage_type in _STORAGE_USAGE.items():
            if _suffix(usagetype, usage) == "":
                storage[storage_type] = min(product.usd, storage.get(storage_type, product.usd))
    for storage_type in sorted(section["storage_gb_month"]):
        name = f"rds.storage_gb_month.{storage_type}"
        if storage_type in storage:
            section["storage_gb_month"][storage_type] = storage[storage_type]
            result.refreshed.append(name)
        else:
            result.kept.append(name)


def refresh_redshift(
    reader: PriceListReader, region: str, data: dict[str, Any], result: RefreshResult
) -> None:
    nodes: dict[str, float] = {}
    for product in reader.products(
        "AmazonRedshift", regionCode=region, productFamily="Compute Instance"
    ):
        node_type = _suffix(product.attributes.get("usagetype", ""), "Node:")
        if node_type:
            nodes[node_type] = min(product.usd, nodes.get(node_type, product.usd))
    if nodes:
        data["redshift"]["node_hourly"] = dict(sorted(nodes.items()))
        result.refreshed.append(f"redshift.node_hourly ({len(nodes)} node types)")
    else:
        result.kept.append("redshift.node_hourly")
    result.kept.append("redshift.managed_storage_gb_month")
