"""What rds-idle, aurora-idle and redshift-idle share: idleness judged by connections.

A database is idle when, over ``lookback_days`` of CloudWatch ``DatabaseConnections`` in
daily buckets of the Maximum statistic, no day saw more than ``max_daily_connections``
(0 by default: nobody connected at all). Fewer days with data than ``min_days_with_data`` is
"unknown", never idle: no metrics is no evidence. The metrics come from the one batched
GetMetricData helper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from generator.aws.metrics import MetricQuery, MetricSeries, MetricWindow, fetch_metrics
from generator.rules.base import RuleSettings

DAY_SECONDS = 86400
CONNECTIONS = "DatabaseConnections"

AUTO_START_DAYS = 7
"""AWS starts a stopped RDS DB instance or Aurora cluster again after this many days."""


class ConnectionIdleSettings(RuleSettings):
    lookback_days: int = Field(default=14, ge=2, le=63, description="Days of metrics judged.")
    max_daily_connections: int = Field(
        default=0,
        ge=0,
        description="Idle when no day's highest DatabaseConnections exceeds this (0: nobody "
        "connected at all).",
    )
    min_days_with_data: int = Field(
        default=14,
        ge=1,
        description="Days with DatabaseConnections data needed to judge; fewer is 'unknown'.",
    )


@dataclass(frozen=True)
class Connections:
    """One database's judged connections: the busiest day, and how many days had data."""

    peak: float
    days_with_data: int


def connection_query(key: str, namespace: str, dimension: str, value: str) -> MetricQuery:
    return MetricQuery(key, namespace, CONNECTIONS, ((dimension, value),), "Maximum")


def fetch_daily_peaks(
    cloudwatch: object, as_of: datetime, lookback_days: int, queries: Iterable[MetricQuery]
) -> dict[str, MetricSeries]:
    """Every query's daily Maximum over the window, in as few GetMetricData calls as fit."""
    window = MetricWindow.days_before(as_of, lookback_days, DAY_SECONDS)
    return fetch_metrics(cloudwatch, window, queries)


def judge(series: MetricSeries, settings: ConnectionIdleSettings) -> Connections | str:
    """The connections of an idle database, or why it is not judged idle."""
    needed = min(settings.min_days_with_data, settings.lookback_days)
    peak = series.maximum()
    if peak is None:
        return (
            f"unknown: no CloudWatch {CONNECTIONS} data in {settings.lookback_days} days; "
            "no metrics is no evidence of idleness"
        )
    if len(series.points) < needed:
        return (
            f"unknown: only {len(series.points)} of {settings.lookback_days} days have "
            f"{CONNECTIONS} data (min_days_with_data={needed})"
        )
    if peak > settings.max_daily_connections:
        limit = settings.max_daily_connections
        return f"not idle: {peak:g} connections on a day (max_daily_connections={limit})"
    return Connections(peak=peak, days_with_data=len(series.points))


def judge_all(
    series: Mapping[str, MetricSeries], keys: Iterable[str], settings: ConnectionIdleSettings
) -> Connections | str:
    """Several members judged together (an Aurora cluster): idle only if every one is; the
    days with data are the fewest any member has."""
    judged: list[Connections] = []
    for key in keys:
        one = judge(series[key], settings)
        if isinstance(one, str):
            return f"{key.split('/')[0]}: {one}"
        judged.append(one)
    if not judged:
        return "unknown: no members to judge"
    return Connections(
        peak=max(j.peak for j in judged), days_with_data=min(j.days_with_data for j in judged)
    )
