"""A quick check of the benchmark harness (the benchmarks themselves are too slow for the
suite: `python -m benchmarks.run`)."""

from __future__ import annotations

import time

import boto3

from benchmarks.harness import Samples, client, latency_proxy, moto_server, proxy_requests
from benchmarks.run import QUICK, render


def test_the_latency_proxy_delays_and_counts_every_request_to_moto():
    with moto_server() as endpoint, latency_proxy(endpoint, 0.2) as proxied:
        ec2 = client(proxied, "ec2")
        started = time.perf_counter()
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        assert time.perf_counter() - started >= 0.2
        direct = client(endpoint, "ec2").describe_volumes()["Volumes"]
        assert [v["VolumeId"] for v in direct] == [volume]  # it reached the same moto
        assert proxy_requests(proxied) == 1


def test_the_report_states_ratios_and_whether_each_target_was_met():
    def samples(name: str, *seconds: float) -> Samples:
        return Samples(name, list(seconds))

    results = {
        "volumes": {
            "samples": {
                "floor": samples("floor", 1.0, 1.0, 1.0),
                "reclaim": samples("reclaim", 1.3, 1.3, 1.4),
                "custodian": samples("custodian", 3.0, 3.0, 3.0),
            },
            "counts": {"reclaim": 20, "custodian": 20},
        },
        "startup": {
            "samples": {"reclaim": samples("reclaim", 0.2), "custodian": samples("c", 0.5)}
        },
    }
    report = render(results, 3, None, QUICK)
    assert "| 1.30x | <= 1.2x | **missed** |" in report
    assert "| 0.40x | <= 0.5x | met |" in report
    assert "| 2 | 1,000 idle instances, CPU metrics | not run |" in report  # never dropped


def test_the_indexed_cloudwatch_gives_moto_s_own_answers(aws):
    """The benchmark's index only narrows which datapoints moto's code looks at."""
    from datetime import UTC, datetime, timedelta

    from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends

    from benchmarks.moto_process import index_cloudwatch

    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    now = datetime.now(UTC).replace(microsecond=0)
    metrics = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "InstanceId", "Value": f"i-{n}"}],
            "Timestamp": now - timedelta(hours=hours),
            "Value": float(n + hours),
        }
        for n in range(3)
        for hours in (1, 30, 50)
        for name in ("CPUUtilization", "NetworkIn")
    ]
    client_ = boto3.client("cloudwatch", region_name="us-east-1")
    client_.put_metric_data(Namespace="AWS/EC2", MetricData=metrics)
    queries = [
        {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "InstanceId", "Value": f"i-{n}"}],
                },
                "Period": 86400,
                "Stat": "Average",
            },
        }
        for n in range(3)
    ]
    naive = now.replace(tzinfo=None)  # moto keeps naive UTC timestamps
    start, end = naive - timedelta(days=3), naive
    dims = [{"Name": "InstanceId", "Value": "i-1"}]
    original = CloudWatchBackend.get_metric_data, CloudWatchBackend.get_metric_statistics
    expected = (
        backend.get_metric_data(queries, start, end),
        [s.average for s in backend.get_metric_statistics(
            "AWS/EC2", "CPUUtilization", start, end, 86400, ["Average"], dims)],
    )  # fmt: skip
    try:
        index_cloudwatch()
        indexed = (
            backend.get_metric_data(queries, start, end),
            [s.average for s in backend.get_metric_statistics(
                "AWS/EC2", "CPUUtilization", start, end, 86400, ["Average"], dims)],
        )  # fmt: skip
    finally:
        CloudWatchBackend.get_metric_data, CloudWatchBackend.get_metric_statistics = original
    assert indexed == expected
    assert all(result["values"] for result in expected[0])  # the comparison saw data
