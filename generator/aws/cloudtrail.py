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

from generator.aws.retries import DEGRADABLE_MAX_ATTEMPTS, GaveUp, bound_retries


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


CLOUDTRAIL_MAX_ATTEMPTS = DEGRADABLE_MAX_ATTEMPTS


def detach_history(cloudtrail: Any, start: datetime, end: datetime) -> DetachHistory:
    latest: dict[str, datetime] = {}
    bound_retries(cloudtrail, "cloudtrail", "LookupEvents")
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
    except GaveUp as gave_up:
        return DetachHistory(
            start,
            end,
            unavailable_reason=f"CloudTrail LookupEvents failed {gave_up.attempts} times "
            f"({gave_up.what})",
        )
    except (BotoCoreError, NotImplementedError) as error:
        return DetachHistory(start, end, unavailable_reason=f"CloudTrail LookupEvents: {error}")
    return DetachHistory(start, end, latest_detach=latest)
