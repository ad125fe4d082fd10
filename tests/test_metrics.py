from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from generator.aws.metrics import (
    MAX_QUERIES_PER_CALL,
    MetricQuery,
    MetricWindow,
    daily_totals,
    fetch_metrics,
    series_from_statistics,
)
from generator.errors import AwsCallFailed
from generator.rules.declared_calls import UndeclaredCall, declared_calls, guard
from tests.aws_calls import CallCounter

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def cpu(instance_id: str) -> MetricQuery:
    return MetricQuery(
        key=f"{instance_id}/cpu",
        namespace="AWS/EC2",
        metric="CPUUtilization",
        dimensions=(("InstanceId", instance_id),),
        stat="Average",
    )


def put(cw: object, instance_id: str, metric: str, when: datetime, value: float) -> None:
    cw.put_metric_data(  # type: ignore[attr-defined]
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": when,
                "Value": value,
            }
        ],
    )


@mock_aws
def test_seeded_datapoints_come_back_per_query_and_day() -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    window = MetricWindow.days_before(NOW, 14)
    for day in range(1, 4):
        put(cw, "i-a", "CPUUtilization", NOW - timedelta(days=day, hours=1), 10.0 * day)
        put(cw, "i-a", "CPUUtilization", NOW - timedelta(days=day, hours=2), 20.0 * day)
    put(cw, "i-b", "CPUUtilization", NOW - timedelta(days=2), 1.5)

    series = fetch_metrics(cw, window, [cpu("i-a"), cpu("i-b"), cpu("i-none")])

    assert sorted(series["i-a/cpu"].values) == [15.0, 30.0, 45.0]  # daily averages
    assert series["i-a/cpu"].maximum() == 45.0
    assert series["i-b/cpu"].values == [1.5]
    assert not series["i-none/cpu"].has_data
    assert series["i-none/cpu"].maximum() is None


@pytest.mark.parametrize(
    ("resources", "metrics_per_resource"), [(1, 1), (500, 1), (501, 1), (1000, 1), (1000, 3)]
)
@mock_aws
def test_calls_are_batched_500_queries_a_request(resources: int, metrics_per_resource: int) -> None:
    counter = CallCounter()
    cw = counter.attach(boto3.client("cloudwatch", region_name="us-east-1"))
    names = ["CPUUtilization", "NetworkIn", "NetworkOut"][:metrics_per_resource]
    queries = [
        MetricQuery(
            key=f"i-{n:05d}/{name}",
            namespace="AWS/EC2",
            metric=name,
            dimensions=(("InstanceId", f"i-{n:05d}"),),
            stat="Sum",
        )
        for n in range(resources)
        for name in names
    ]
    series = fetch_metrics(cw, MetricWindow.days_before(NOW, 14), queries)

    assert len(series) == len(queries)
    expected = math.ceil(len(queries) / MAX_QUERIES_PER_CALL)
    assert counter["GetMetricData"] == expected
    assert counter["GetMetricStatistics"] == 0
    # The budget: at most 3 calls per metric over the window for 1,000 resources.
    assert counter["GetMetricData"] / metrics_per_resource <= 3


def test_pages_are_followed_and_stitched_by_query() -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    t1, t2, t3 = (NOW - timedelta(days=d) for d in (3, 2, 1))
    stubber = Stubber(cw)
    request = {
        "MetricDataQueries": ANY,
        "StartTime": ANY,
        "EndTime": ANY,
        "ScanBy": "TimestampAscending",
    }
    stubber.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {
                    "Id": "q0",
                    "Timestamps": [t1, t2],
                    "Values": [1.0, 2.0],
                    "StatusCode": "PartialData",
                },
                {"Id": "q1", "Timestamps": [], "Values": [], "StatusCode": "PartialData"},
            ],
            "NextToken": "page-2",
        },
        request,
    )
    stubber.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "q0", "Timestamps": [t3], "Values": [3.0], "StatusCode": "Complete"},
                {"Id": "q1", "Timestamps": [t3], "Values": [7.0], "StatusCode": "Complete"},
            ]
        },
        {**request, "NextToken": "page-2"},
    )
    with stubber:
        series = fetch_metrics(cw, MetricWindow.days_before(NOW, 14), [cpu("i-a"), cpu("i-b")])
    stubber.assert_no_pending_responses()
    assert series["i-a/cpu"].points == ((t1, 1.0), (t2, 2.0), (t3, 3.0))
    assert series["i-a/cpu"].status == "Complete"
    assert series["i-b/cpu"].values == [7.0]


def test_forbidden_result_is_an_actionable_error() -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cw)
    stubber.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {
                    "Id": "q0",
                    "StatusCode": "Forbidden",
                    "Messages": [{"Code": "Forbidden", "Value": "not authorized"}],
                }
            ]
        },
    )
    with stubber, pytest.raises(AwsCallFailed, match=r"Forbidden.*i-a/cpu.*not authorized"):
        fetch_metrics(cw, MetricWindow.days_before(NOW, 14), [cpu("i-a")])


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        fetch_metrics(object(), MetricWindow.days_before(NOW, 1), [cpu("i-a"), cpu("i-a")])


def test_get_metric_statistics_datapoints_parse_oldest_first() -> None:
    response = {
        "Datapoints": [
            {"Timestamp": NOW, "Average": 3.0, "Maximum": 9.0},
            {"Timestamp": NOW - timedelta(days=1), "Average": 1.0},
            {"Timestamp": NOW - timedelta(days=2), "Sum": 5.0},
        ]
    }
    series = series_from_statistics("x", response, "Average")
    assert series.points == ((NOW - timedelta(days=1), 1.0), (NOW, 3.0))
    assert series_from_statistics("x", {}, "Sum").has_data is False
    with pytest.raises(ValueError, match="unknown statistic"):
        series_from_statistics("x", response, "p99")


def test_daily_totals_add_series_by_timestamp() -> None:
    a = series_from_statistics(
        "in",
        {
            "Datapoints": [
                {"Timestamp": NOW, "Sum": 1.0},
                {"Timestamp": NOW - timedelta(days=1), "Sum": 2.0},
            ]
        },
        "Sum",
    )
    b = series_from_statistics("out", {"Datapoints": [{"Timestamp": NOW, "Sum": 10.0}]}, "Sum")
    assert daily_totals(a, b) == [(NOW - timedelta(days=1), 2.0), (NOW, 11.0)]


class _ConcurrentCloudWatch:
    """A CloudWatch stand-in that holds each request until ``expected`` are in flight, and
    records the most it ever saw at once."""

    def __init__(self, expected: int) -> None:
        self.barrier = threading.Barrier(expected, timeout=20)
        self.lock = threading.Lock()
        self.in_flight = self.most = self.requests = 0

    def get_paginator(self, _name: str) -> _ConcurrentCloudWatch:
        return self

    def paginate(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> Any:
        with self.lock:
            self.in_flight += 1
            self.requests += 1
            self.most = max(self.most, self.in_flight)
        try:
            self.barrier.wait()  # breaks (and fails the test) unless the others are in flight
        finally:
            with self.lock:
                self.in_flight -= 1
        yield {
            "MetricDataResults": [
                {"Id": q["Id"], "Timestamps": [NOW], "Values": [1.0]} for q in MetricDataQueries
            ]
        }


def test_batches_are_asked_concurrently_within_the_bound() -> None:
    """8 batches of 500, 4 in flight: the stand-in releases requests only 4 at a time, so a
    one-after-another fetch would fail, and a fifth at once would be seen."""
    cloudwatch = _ConcurrentCloudWatch(expected=4)
    queries = [cpu(f"i-{n}") for n in range(4000)]
    series = fetch_metrics(cloudwatch, MetricWindow.days_before(NOW, 14), queries, in_flight=4)
    assert cloudwatch.requests == 8 and cloudwatch.most == 4
    assert len(series) == 4000 and series["i-3999/cpu"].values == [1.0]


@mock_aws
def test_batches_on_pool_threads_are_still_checked_against_the_rules_declaration() -> None:
    cw = guard(boto3.client("cloudwatch", region_name="us-east-1"))
    queries = [cpu(f"i-{n}") for n in range(1500)]
    with (
        declared_calls("some-rule", frozenset({("cloudwatch", "ListMetrics")})),
        pytest.raises(UndeclaredCall, match="some-rule called cloudwatch:GetMetricData"),
    ):
        fetch_metrics(cw, MetricWindow.days_before(NOW, 14), queries)
