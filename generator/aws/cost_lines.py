"""Daily cost lines of applied changes, from Cost Explorer: a few grouped calls per account.

Cost Explorer charges $0.01 a request and is rate-limited, so a scan asks each account at
most twice, whatever the number of applied plans: one GetCostAndUsage (daily, the plans'
regions, grouped by REGION and USAGE_TYPE) and, when an instance was changed within the
resource-level window, one GetCostAndUsageWithResources (daily, EC2-Compute, those
instances, grouped by RESOURCE_ID). Pages are bounded. Any refusal or failure (no
permission, resource-level data not enabled, no data, throttled) is an answer, "unavailable",
said once: the scan goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from generator.aws.retries import GaveUp, bound_retries

EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
MAX_PAGES = 10
METRIC = "UnblendedCost"


@dataclass
class DailyCosts:
    """(region or resource ID, usage type or '', day) -> USD; None where CE did not answer."""

    by_usage_type: dict[tuple[str, str, date], float] | None = None
    by_resource: dict[tuple[str, str, date], float] | None = None
    unavailable: list[str] = field(default_factory=list)


def _pages(call: Any, request: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for _ in range(MAX_PAGES):
        response: dict[str, Any] = call(**request)
        yield response
        token = response.get("NextPageToken")
        if not token:
            return
        request = {**request, "NextPageToken": token}
    raise _TooManyPages


class _TooManyPages(Exception):
    pass


def _collect(call: Any, request: dict[str, Any], key_of: Any) -> dict[tuple[str, str, date], float]:
    costs: dict[tuple[str, str, date], float] = {}
    for response in _pages(call, request):
        for period in response.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"])
            for group in period.get("Groups", []):
                amount = group.get("Metrics", {}).get(METRIC, {}).get("Amount")
                if amount is None:
                    continue
                key = (*key_of(group.get("Keys") or []), day)
                costs[key] = costs.get(key, 0.0) + float(amount)
    return costs


def _refusal(operation: str, error: Exception) -> str:
    if isinstance(error, GaveUp):
        return f"{operation} failed {error.attempts} times ({error.what})"
    if isinstance(error, _TooManyPages):
        return f"{operation} had more than {MAX_PAGES} pages; not measured"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{operation}: {details.get('Code', '')}: {details.get('Message', '')}".strip()
    return f"{operation}: {error}"


def daily_costs(
    ce: Any,
    *,
    start: date,
    end: date,
    regions: Iterable[str],
    instances: Iterable[str] = (),
    resource_start: date | None = None,
) -> DailyCosts:
    """One account's daily cost over [start, end): by region and usage type, and, for
    ``instances`` over [resource_start, end), by resource."""
    result = DailyCosts()
    period = {"Start": start.isoformat(), "End": end.isoformat()}
    bound_retries(ce, "cost-explorer", "GetCostAndUsage")
    try:
        result.by_usage_type = _collect(
            ce.get_cost_and_usage,
            {
                "TimePeriod": period,
                "Granularity": "DAILY",
                "Metrics": [METRIC],
                "Filter": {"Dimensions": {"Key": "REGION", "Values": sorted(set(regions))}},
                "GroupBy": [
                    {"Type": "DIMENSION", "Key": "REGION"},
                    {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
                ],
            },
            lambda keys: (keys[0] if keys else "", keys[1] if len(keys) > 1 else ""),
        )
    except (ClientError, BotoCoreError, GaveUp, _TooManyPages) as error:
        result.unavailable.append(_refusal("GetCostAndUsage", error))
    ids = sorted(set(instances))
    if ids and resource_start is not None:
        bound_retries(ce, "cost-explorer", "GetCostAndUsageWithResources")
        try:
            result.by_resource = _collect(
                ce.get_cost_and_usage_with_resources,
                {
                    "TimePeriod": {"Start": resource_start.isoformat(), "End": end.isoformat()},
                    "Granularity": "DAILY",
                    "Metrics": [METRIC],
                    "Filter": {
                        "And": [
                            {"Dimensions": {"Key": "SERVICE", "Values": [EC2_COMPUTE]}},
                            {"Dimensions": {"Key": "RESOURCE_ID", "Values": ids}},
                        ]
                    },
                    "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
                },
                lambda keys: (keys[0] if keys else "", ""),
            )
        except (ClientError, BotoCoreError, GaveUp, _TooManyPages) as error:
            result.unavailable.append(
                _refusal("GetCostAndUsageWithResources", error)
                + " (resource-level data: the usage-type line is used instead)"
            )
    return result
