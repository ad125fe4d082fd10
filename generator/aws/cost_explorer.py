"""CloudFront data transfer by viewer region, from Cost Explorer, when the account allows it.

Cost Explorer is account-wide (no per-distribution split without resource-level data) and
charges $0.01 a request, so a scan asks once per account. A refusal (no permission, Cost
Explorer never enabled, no data yet) is an answer, "unavailable", not a scan error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from generator.aws.retries import GaveUp, bound_retries

CLOUDFRONT_SERVICE = "Amazon CloudFront"
_TRANSFER_OUT = re.compile(r"^([A-Z]{2})-DataTransfer-Out-Bytes$")
_UNAVAILABLE_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
        "DataUnavailableException",
        "OptInRequired",
        "BillExpirationException",
    }
)


@dataclass(frozen=True)
class CloudFrontTransfer:
    """GB sent to viewers, by Cost Explorer's region code, over ``days`` days."""

    start: datetime
    days: int
    gb_by_region: dict[str, float] = field(default_factory=dict)
    unavailable_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    def total_gb(self) -> float:
        return sum(self.gb_by_region.values())


def cloudfront_transfer(ce: Any, end: datetime, days: int) -> CloudFrontTransfer:
    start = end - timedelta(days=days)
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.date().isoformat(), "End": end.date().isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": ["UsageQuantity"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [CLOUDFRONT_SERVICE]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    gb: dict[str, float] = {}
    bound_retries(ce, "cost-explorer", "GetCostAndUsage")
    try:
        while True:
            response = ce.get_cost_and_usage(**request)
            for period in response.get("ResultsByTime", []):
                for group in period.get("Groups", []):
                    match = _TRANSFER_OUT.match((group.get("Keys") or [""])[0])
                    amount = group.get("Metrics", {}).get("UsageQuantity", {}).get("Amount")
                    if match and amount is not None:
                        gb[match.group(1)] = gb.get(match.group(1), 0.0) + float(amount)
            token = response.get("NextPageToken")
            if not token:
                break
            request["NextPageToken"] = token
    except GaveUp as gave_up:
        return CloudFrontTransfer(
            start,
            days,
            unavailable_reason=f"GetCostAndUsage failed {gave_up.attempts} times ({gave_up.what})",
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in _UNAVAILABLE_CODES:
            raise
        message = error.response.get("Error", {}).get("Message", "")
        return CloudFrontTransfer(start, days, unavailable_reason=f"{code}: {message}".strip())
    return CloudFrontTransfer(start, days, gb)


def unavailable(end: datetime, days: int, reason: str) -> CloudFrontTransfer:
    return CloudFrontTransfer(end - timedelta(days=days), days, unavailable_reason=reason)
