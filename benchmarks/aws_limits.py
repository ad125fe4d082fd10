"""AWS's published request rates, as token buckets per account and Region, for the
benchmark proxy (benchmarks/latency_proxy.py --throttle).

Each bucket holds ``size`` tokens and gains ``refill`` a second; a request takes one, and a
request that finds the bucket empty is answered as AWS answers it (EC2 RequestLimitExceeded,
HTTP 503; CloudWatch and CloudTrail Throttling, HTTP 400), so the tool under test retries as
it would against AWS. Sources, as of this writing:

- EC2: Amazon EC2 developer guide, "Request throttling for the Amazon EC2 API" (the
  token-bucket table): non-mutating actions 100 / 20 a second; unfiltered and unpaginated
  non-mutating actions (DescribeInstances, DescribeVolumes, DescribeSnapshots, ... without
  filters, IDs or MaxResults) 50 / 10; mutating actions 50 / 5.
- CloudWatch: CloudWatch service quotas, GetMetricData 50 transactions a second,
  GetMetricStatistics 400 a second (per account and Region; modelled as a one-second burst).
- CloudTrail: LookupEvents 2 requests a second per account and Region (CloudTrail quotas).
- STS, Auto Scaling and the rest: not modelled (their quotas are far above what a scan asks).

An account is told by the request's access key (moto gives each assumed role its own), a
Region by the SigV4 credential scope.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

UNFILTERED_EC2 = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
CLOUDWATCH_RATES = {"GetMetricData": 50.0, "GetMetricStatistics": 400.0}
CLOUDTRAIL_RATES = {"LookupEvents": 2.0}

MODELLED = [
    "EC2 non-mutating: 100 burst, 20/s",
    "EC2 unfiltered and unpaginated describes: 50 burst, 10/s",
    "EC2 mutating: 50 burst, 5/s",
    "CloudWatch GetMetricData: 50/s; GetMetricStatistics: 400/s",
    "CloudTrail LookupEvents: 2/s",
]


@dataclass
class Bucket:
    size: float
    refill: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.size

    def take(self, now: float) -> bool:
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def ec2_category(operation: str, params: dict[str, str]) -> tuple[str, float, float]:
    if not operation.startswith(("Describe", "Get", "List")):
        return "ec2-mutating", 50, 5
    narrowed = any(
        key.startswith(("Filter", "MaxResults")) or key.endswith(("Id.1", "Ids.1"))
        for key in params
    )
    if operation in UNFILTERED_EC2 and not narrowed:
        return "ec2-unfiltered", 50, 10
    return "ec2-non-mutating", 100, 20


def category(
    service: str, operation: str, params: dict[str, str]
) -> tuple[str, float, float] | None:
    """(bucket name, size, refill a second) of a request, or None when not modelled."""
    if service == "ec2":
        return ec2_category(operation, params)
    if service == "monitoring" and operation in CLOUDWATCH_RATES:
        rate = CLOUDWATCH_RATES[operation]
        return f"cloudwatch-{operation}", rate, rate
    if service == "cloudtrail" and operation in CLOUDTRAIL_RATES:
        rate = CLOUDTRAIL_RATES[operation]
        return f"cloudtrail-{operation}", rate, rate
    return None


class TokenBuckets:
    """Every (account, Region, category) bucket, thread-safe; counts what it refused."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._lock = threading.Lock()
        self.throttled: dict[str, int] = {}

    def admit(
        self, account: str, region: str, service: str, operation: str, params: dict[str, str]
    ) -> bool:
        kind = category(service, operation, params)
        if kind is None:
            return True
        name, size, refill = kind
        with self._lock:
            now = self._clock()  # type: ignore[operator]
            bucket = self._buckets.get((account, region, name))
            if bucket is None:
                bucket = self._buckets[(account, region, name)] = Bucket(size, refill, stamp=now)
            if bucket.take(now):
                return True
            self.throttled[name] = self.throttled.get(name, 0) + 1
            return False
