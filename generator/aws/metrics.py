"""CloudWatch reads for every rule: one batched, paginated GetMetricData helper.

GetMetricData takes up to 500 queries a call, so a rule asks for all its resources at once
and a 1,000-instance account costs two calls per metric over a whole window, where
GetMetricStatistics would cost one call per resource and metric. botocore's paginator
follows NextToken (a result split across pages comes back as PartialData and is stitched
together here by query).

GetMetricStatistics responses (recorded captures, older tooling) parse into the same
``MetricSeries`` so that the summaries rules compute do not care where points came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from generator.aws.pool import bounded_map
from generator.errors import AwsCallFailed

MAX_QUERIES_PER_CALL = 500
"""The GetMetricData limit on MetricDataQueries per request."""

_STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")


@dataclass(frozen=True)
class MetricQuery:
    """One statistic of one metric of one resource, named by the caller's ``key``."""

    key: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def to_api(self, query_id: str, period_seconds: int) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
                },
                "Period": period_seconds,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


@dataclass(frozen=True)
class MetricWindow:
    """A time range cut into periods, e.g. the last 14 days in daily buckets."""

    start: datetime
    end: datetime
    period_seconds: int

    @classmethod
    def days_before(cls, end: datetime, days: int, period_seconds: int = 86400) -> MetricWindow:
        return cls(end - timedelta(days=days), end, period_seconds)


@dataclass(frozen=True)
class MetricSeries:
    """Timestamped values of one query, oldest first. Empty means CloudWatch has no data."""

    key: str
    points: tuple[tuple[datetime, float], ...] = ()
    status: str = "Complete"
    messages: tuple[str, ...] = field(default=())

    @property
    def has_data(self) -> bool:
        return bool(self.points)

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]

    def maximum(self) -> float | None:
        return max(self.values) if self.points else None


def _batches(queries: Sequence[MetricQuery], size: int) -> Iterator[Sequence[MetricQuery]]:
    for offset in range(0, len(queries), size):
        yield queries[offset : offset + size]


BATCHES_IN_FLIGHT = 4
"""GetMetricData requests of one rule at a time. CloudWatch allows 50 GetMetricData
transactions per second per account and Region (its service quotas); 4 in flight from each
of a scan's units keeps a 16-worker scan inside that, and adaptive retries back off if the
customer's own dashboards take the rest."""


def fetch_metrics(
    cloudwatch: Any,
    window: MetricWindow,
    queries: Iterable[MetricQuery],
    *,
    batch_size: int = MAX_QUERIES_PER_CALL,
    in_flight: int = BATCHES_IN_FLIGHT,
) -> dict[str, MetricSeries]:
    """Every query's series over ``window``, in ceil(len(queries) / 500) requests (plus one per
    extra page when CloudWatch paginates a very large answer), ``in_flight`` at a time."""
    if not 1 <= batch_size <= MAX_QUERIES_PER_CALL:
        raise ValueError(f"batch_size must be 1..{MAX_QUERIES_PER_CALL}")
    ordered = list(queries)
    keys = [q.key for q in ordered]
    if len(set(keys)) != len(keys):
        raise ValueError("metric query keys must be unique")
    paginator = cloudwatch.get_paginator("get_metric_data")

    def fetch_batch(batch: Sequence[MetricQuery]) -> dict[str, MetricSeries]:
        by_id = {f"q{index}": query for index, query in enumerate(batch)}
        points: dict[str, list[tuple[datetime, float]]] = {qid: [] for qid in by_id}
        status: dict[str, str] = {qid: "Complete" for qid in by_id}
        messages: dict[str, list[str]] = {qid: [] for qid in by_id}
        pages = paginator.paginate(
            MetricDataQueries=[q.to_api(qid, window.period_seconds) for qid, q in by_id.items()],
            StartTime=window.start,
            EndTime=window.end,
            ScanBy="TimestampAscending",
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                qid = result["Id"]
                if qid not in by_id:
                    continue
                points[qid].extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                )
                # A later page's status wins: PartialData on page 1 is Complete by the last.
                status[qid] = result.get("StatusCode", "Complete")
                messages[qid].extend(m.get("Value", "") for m in result.get("Messages", []))
        found: dict[str, MetricSeries] = {}
        for qid, query in by_id.items():
            if status[qid] in ("Forbidden", "InternalError"):
                raise AwsCallFailed(
                    f"CloudWatch GetMetricData answered {status[qid]} for {query.metric} "
                    f"({query.key}): {'; '.join(messages[qid]) or 'no detail'}",
                    hint="check cloudwatch:GetMetricData permission for the scanning role",
                )
            found[query.key] = MetricSeries(
                key=query.key,
                points=tuple(sorted(points[qid])),
                status=status[qid],
                messages=tuple(messages[qid]),
            )
        return found

    series: dict[str, MetricSeries] = {}
    answers = bounded_map(
        fetch_batch, _batches(ordered, batch_size), workers=in_flight, name="reclaim-metrics"
    )
    for answer in answers:
        series.update(answer)
    return series


def series_from_statistics(key: str, response: Mapping[str, Any], stat: str) -> MetricSeries:
    """A GetMetricStatistics response as a series of one statistic (oldest first).

    Datapoints lacking the statistic are dropped: CloudWatch returns only the statistics
    asked for, so a missing one is a different question, not a zero."""
    if stat not in _STATISTICS:
        raise ValueError(f"unknown statistic {stat!r}; expected one of {', '.join(_STATISTICS)}")
    points = [
        (point["Timestamp"], float(point[stat]))
        for point in response.get("Datapoints", [])
        if stat in point and "Timestamp" in point
    ]
    return MetricSeries(key=key, points=tuple(sorted(points)))


def daily_totals(*series: MetricSeries) -> list[tuple[datetime, float]]:
    """Add several series point by point (e.g. NetworkIn + NetworkOut per day)."""
    totals: dict[datetime, float] = {}
    for one in series:
        for when, value in one.points:
            totals[when] = totals.get(when, 0.0) + value
    return sorted(totals.items())
