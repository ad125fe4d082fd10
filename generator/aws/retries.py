"""Bounded retries for the data sources a rule can do without.

A scan's clients retry up to 10 times (adaptive mode): right for the calls a scan cannot do
without, too patient for the sources that only refine a decision or a comment: CloudTrail,
Cost Explorer, the Recycle Bin's rules, Cost Optimization Hub and Compute Optimizer. For
those, ``bound_retries`` stops a failing operation after a few attempts with ``GaveUp``; the
caller turns that into "unavailable" and the scan warns instead of stalling for half a minute.
"""

from __future__ import annotations

from typing import Any

DEGRADABLE_MAX_ATTEMPTS = 3


class GaveUp(Exception):
    """The operation failed ``attempts`` times (server errors, throttling, connection)."""

    def __init__(self, attempts: int, what: str) -> None:
        super().__init__(what)
        self.attempts = attempts
        self.what = what


def _handler(limit: int) -> Any:
    def stop_after(
        attempts: int, response: Any = None, caught_exception: Any = None, **_: Any
    ) -> None:
        if attempts < limit:
            return
        if caught_exception is not None:
            raise GaveUp(attempts, f"{type(caught_exception).__name__}: {caught_exception}")
        if response is not None:
            http, parsed = response
            status = getattr(http, "status_code", 200)
            code = (parsed or {}).get("Error", {}).get("Code", "")
            if status >= 500 or "Throttl" in code:
                raise GaveUp(attempts, f"{code or 'error'} (HTTP {status})")

    return stop_after


def bound_retries(
    client: Any, service: str, operation: str, limit: int = DEGRADABLE_MAX_ATTEMPTS
) -> None:
    """Make ``client`` give up on ``operation`` after ``limit`` failed attempts (once per
    client; a client without botocore's event system, e.g. a test double, is left alone)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register_first(
            f"needs-retry.{service}.{operation}",
            _handler(limit),
            unique_id=f"reclaim-bounded-retries-{service}-{operation}",
        )
