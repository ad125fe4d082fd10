"""The benchmark proxy's AWS rates (benchmarks/aws_limits.py): token buckets per account,
Region and category, answered as AWS answers an empty bucket, so that both tools meet
throttling and retry as they would against AWS. A frozen clock makes the buckets exact."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.aws_limits import TokenBuckets
from benchmarks.harness import moto_server
from benchmarks.latency_proxy import serve

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ec2_buckets_follow_the_published_sizes_and_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)

    def admitted(operation: str, params: dict[str, str], times: int, key: str = "k") -> int:
        return sum(buckets.admit(key, "us-east-1", "ec2", operation, params) for _ in range(times))

    paged = {"MaxResults": "500"}
    assert admitted("DescribeVolumes", paged, 150) == 100  # non-mutating: 100
    assert admitted("DescribeVolumes", {}, 80) == 50  # unfiltered, unpaginated: its own 50
    assert admitted("StopInstances", {"InstanceId.1": "i-1"}, 80) == 50  # mutating: 50
    assert admitted("DescribeVolumes", paged, 10, key="other account") == 10
    clock.now = 1.0  # a second later: 20, 10 and 5 tokens back
    assert admitted("DescribeInstances", {"Filter.1.Name": "x"}, 30) == 20
    assert admitted("DescribeInstances", {}, 30) == 10
    assert admitted("StartInstances", {"InstanceId.1": "i-1"}, 30) == 5
    assert buckets.throttled["ec2-non-mutating"] == 60


def test_cloudwatch_and_cloudtrail_rates() -> None:
    buckets = TokenBuckets(Clock())
    metrics = sum(buckets.admit("k", "r", "monitoring", "GetMetricData", {}) for _ in range(60))
    trail = sum(buckets.admit("k", "r", "cloudtrail", "LookupEvents", {}) for _ in range(5))
    sts = sum(buckets.admit("k", "r", "sts", "GetCallerIdentity", {}) for _ in range(500))
    assert (metrics, trail, sts) == (50, 2, 500)


@pytest.fixture
def throttling_proxy() -> Any:
    with moto_server() as endpoint:
        proxy = serve(int(endpoint.rsplit(":", 1)[1]), 0.0, throttle=True)
        proxy.buckets = TokenBuckets(Clock())  # frozen: no token comes back during the test
        try:
            yield f"http://127.0.0.1:{proxy.server_address[1]}"
        finally:
            proxy.shutdown()
            proxy.server_close()


def _error_code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_each_protocol_gets_aws_s_throttling_answer(throttling_proxy: str) -> None:
    import boto3

    def no_retry_client(service: str) -> Any:
        return boto3.Session(
            aws_access_key_id="benchmark",
            aws_secret_access_key="benchmark",
            region_name="us-east-1",
        ).client(service, endpoint_url=throttling_proxy, config=NO_RETRIES)

    ec2 = no_retry_client("ec2")
    for _ in range(50):
        ec2.describe_volumes()  # the unfiltered bucket's 50
    assert _error_code(ec2.describe_volumes) == "RequestLimitExceeded"
    # The larger bucket still has tokens: a paginated listing passes.
    assert ec2.describe_volumes(MaxResults=5)["Volumes"] == []

    cloudwatch = no_retry_client("cloudwatch")
    query = {
        "MetricDataQueries": [
            {
                "Id": "q0",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization"},
                    "Period": 86400,
                    "Stat": "Average",
                },
            }
        ],
        "StartTime": "2026-01-01T00:00:00Z",
        "EndTime": "2026-01-02T00:00:00Z",
    }
    for _ in range(50):
        cloudwatch.get_metric_data(**query)
    assert _error_code(lambda: cloudwatch.get_metric_data(**query)) == "Throttling"

    cloudtrail = no_retry_client("cloudtrail")
    for _ in range(2):  # moto has no LookupEvents: whatever it answers, the bucket pays
        with contextlib.suppress(ClientError):
            cloudtrail.lookup_events()
    assert _error_code(cloudtrail.lookup_events) == "ThrottlingException"


def test_a_retrying_client_gets_through_once_tokens_come_back() -> None:
    """botocore treats the answers as throttling: it retries, and succeeds when the bucket
    refills (here the clock moves on after the first refusal)."""
    import boto3

    clock = Clock()
    with moto_server() as endpoint:
        proxy = serve(int(endpoint.rsplit(":", 1)[1]), 0.0, throttle=True)
        buckets = proxy.buckets = TokenBuckets(clock)
        try:
            ec2 = boto3.Session(
                aws_access_key_id="benchmark",
                aws_secret_access_key="benchmark",
                region_name="us-east-1",
            ).client(
                "ec2",
                endpoint_url=f"http://127.0.0.1:{proxy.server_address[1]}",
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
            )
            for _ in range(50):
                ec2.describe_volumes()
            refused = buckets.throttled.copy()
            assert refused == {}

            def later(**_: Any) -> None:
                if buckets.throttled:
                    clock.now += 1.0

            ec2.meta.events.register("before-send", later)
            ec2.meta.events.register("request-created", later)
            ec2.describe_volumes()  # refused once, retried after the refill
            assert buckets.throttled == {"ec2-unfiltered": 1}
        finally:
            proxy.shutdown()
            proxy.server_close()
