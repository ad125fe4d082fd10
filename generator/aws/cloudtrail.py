"""When were volumes detached? One paginated CloudTrail query per account and region.

LookupEvents allows 2 requests per second per account and region, so asking once per volume
would make a large account's scan crawl: one query by event name covers every volume.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


@dataclass(frozen=True)
class DetachHistory:
    """Latest DetachVolume per volume in [start, end], or why CloudTrail could not say."""

    start: datetime
    end: datetime
    latest_detach: dict[str, datetime] = field(default_factory=dict)
    unavailable_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None


def _volume_ids(event: dict[str, Any]) -> set[str]:
    ids = {
        r["ResourceName"]
        for r in event.get("Resources") or []
        if r.get("ResourceType") == "AWS::EC2::Volume" and r.get("ResourceName")
    }
    if not ids and event.get("CloudTrailEvent"):
        try:
            detail = json.loads(event["CloudTrailEvent"])
            volume = (detail.get("requestParameters") or {}).get("volumeId")
        except (ValueError, AttributeError):
            volume = None
        if volume:
            ids.add(volume)
    return ids


# A scan's clients retry up to 10 times (adaptive): right for the calls a scan cannot do
# without, too patient for CloudTrail, which only refines a volume's age. A failing
# LookupEvents gives up after this many attempts and the scan warns instead.
CLOUDTRAIL_MAX_ATTEMPTS = 3


class _GaveUp(Exception):
    def __init__(self, attempts: int, what: str) -> None:
        super().__init__(what)
        self.attempts = attempts
        self.what = what


def _bound_retries(
    attempts: int, response: Any = None, caught_exception: Any = None, **_: Any
) -> None:
    """needs-retry handler: stop a failing LookupEvents after CLOUDTRAIL_MAX_ATTEMPTS."""
    if attempts < CLOUDTRAIL_MAX_ATTEMPTS:
        return
    if caught_exception is not None:
        raise _GaveUp(attempts, f"{type(caught_exception).__name__}: {caught_exception}")
    if response is not None:
        http, parsed = response
        status = getattr(http, "status_code", 200)
        code = (parsed or {}).get("Error", {}).get("Code", "")
        if status >= 500 or "Throttl" in code:
            raise _GaveUp(attempts, f"{code or 'error'} (HTTP {status})")


def detach_history(cloudtrail: Any, start: datetime, end: datetime) -> DetachHistory:
    latest: dict[str, datetime] = {}
    events = getattr(getattr(cloudtrail, "meta", None), "events", None)
    if events is not None:
        events.register_first(
            "needs-retry.cloudtrail.LookupEvents",
            _bound_retries,
            unique_id="reclaim-cloudtrail-bounded-retries",
        )
    try:
        pages = cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DetachVolume"}],
            StartTime=start,
            EndTime=end,
        )
        for page in pages:
            for event in page.get("Events", []):
                when = event["EventTime"]
                for volume_id in _volume_ids(event):
                    if volume_id not in latest or latest[volume_id] < when:
                        latest[volume_id] = when
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        return DetachHistory(start, end, unavailable_reason=f"CloudTrail LookupEvents: {code}")
    except _GaveUp as gave_up:
        return DetachHistory(
            start,
            end,
            unavailable_reason=f"CloudTrail LookupEvents failed {gave_up.attempts} times "
            f"({gave_up.what})",
        )
    except (BotoCoreError, NotImplementedError) as error:
        return DetachHistory(start, end, unavailable_reason=f"CloudTrail LookupEvents: {error}")
    return DetachHistory(start, end, latest_detach=latest)
