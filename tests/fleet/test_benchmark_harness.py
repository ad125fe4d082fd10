"""A quick check of the benchmark harness (the benchmarks themselves are too slow for the
suite: `python -m benchmarks.run`)."""

from __future__ import annotations

import socket
import time
from typing import Any

import boto3

from benchmarks.harness import (
    Samples,
    client,
    latency_proxy,
    moto_server,
    proxy_first_request,
    proxy_requests,
)
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


def test_the_benchmark_moto_answers_the_recycle_bin_as_an_account_without_rules():
    """moto has no Recycle Bin: unpatched it answers HTTP 500, which a scan retries before it
    warns; the benchmarks' moto answers as AWS does with no retention rules, in one call,
    and everything else still reaches moto."""
    with moto_server() as endpoint:
        rbin = client(endpoint, "rbin")
        calls: list[str] = []
        rbin.meta.events.register("after-call.rbin.*", lambda **kw: calls.append(kw["event_name"]))
        answer = rbin.list_rules(
            ResourceType="EBS_VOLUME",
            ResourceTags=[{"ResourceTagKey": "reclaim:recycle-bin", "ResourceTagValue": "retain"}],
        )
        assert answer["Rules"] == [] and len(calls) == 1
        ec2 = client(endpoint, "ec2")
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volume]


def test_the_latency_proxy_turns_nagle_off_on_the_connections_it_accepts():
    """Its reply leaves in two writes; with Nagle on, the second waits ~40 ms for the
    client's delayed ACK: a delay on every request that the scenario did not ask for."""
    from benchmarks.latency_proxy import serve

    with moto_server() as endpoint:
        proxy = serve(int(endpoint.rsplit(":", 1)[1]), 0.0)
        nodelay: list[int] = []
        handle = proxy.finish_request

        def capture(request: Any, address: Any) -> None:
            handle(request, address)  # serves the connection until the client closes it
            nodelay.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        proxy.finish_request = capture  # type: ignore[method-assign]
        try:
            ec2 = client(f"http://127.0.0.1:{proxy.server_address[1]}", "ec2")
            ec2.describe_volumes()
            ec2.close()
            deadline = time.monotonic() + 10
            while not nodelay and time.monotonic() < deadline:
                time.sleep(0.01)
            assert nodelay, "the request did not go through the proxy"
            assert all(nodelay)
        finally:
            proxy.shutdown()
            proxy.server_close()


def test_the_report_states_ratios_and_whether_each_target_was_met():
    def samples(name: str, *seconds: float) -> Samples:
        return Samples(name, list(seconds))

    def at_size(reclaim: float, count: int) -> dict[str, Any]:
        return {
            "samples": {
                "floor": samples("floor", 1.0, 1.0, 1.0),
                "reclaim": samples("reclaim", reclaim, reclaim, reclaim + 0.1),
                "custodian": samples("custodian", 3.0, 3.0, 3.0),
            },
            "counts": {"reclaim": count, "custodian": count},
        }

    results = {
        "volumes": {
            "by_size": {20: at_size(1.05, 20), 40: at_size(1.3, 40)},
            "first_request": {
                "reclaim": samples("reclaim", 0.4, 0.4),
                "custodian": samples("custodian", 0.5, 0.5),
            },
        },
        "startup": {
            "samples": {"reclaim": samples("reclaim", 0.1), "custodian": samples("c", 0.5)}
        },
    }
    report = render(results, 3, None, QUICK)
    assert "| 20 unattached volumes" in report and "| 1.05x | <= 1.1x | met |" in report
    assert "| 40 unattached volumes" in report and "| 1.30x | <= 1.1x | **missed** |" in report
    assert "| 0.20x | <= 0.25x | met |" in report
    assert "time to the first AWS request" in report and "| 0.80x | <= 1.0x | met |" in report
    assert "| 2 | 1,000 idle instances, CPU metrics | not run |" in report  # never dropped


def test_the_proxy_says_when_the_first_request_since_the_last_ask_arrived():
    with moto_server() as endpoint, latency_proxy(endpoint, 0.0) as proxied:
        assert proxy_first_request(proxied) is None  # nothing yet, and asking is no request
        before = time.time()
        ec2 = client(proxied, "ec2")
        ec2.describe_volumes()
        ec2.describe_volumes()
        first = proxy_first_request(proxied)
        assert first is not None and before <= first <= time.time()
        assert proxy_first_request(proxied) is None  # forgotten once told
        assert proxy_requests(proxied) == 2


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
