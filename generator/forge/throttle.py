"""Staying within GitHub's limits: retries that honour Retry-After, and spaced writes.

`ReclaimRetry` is PyGithub's `GithubRetry` (which already retries 403 secondary rate limits
and 5xx) with 429 added, a bounded wait, and an injectable sleeper so tests never sleep. A
wait longer than ``max_wait`` raises instead of blocking a CI job for an hour: the run stops
cleanly and says what remains.

`WritePacer` spaces mutating requests at least one second apart, as GitHub asks of
integrations to avoid secondary rate limits. PyGithub's own spacing sleeps with `time.sleep`
directly, so it is switched off and this one (clock and sleeper injectable) is used instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

from github.GithubException import RateLimitExceededExceedsMaxWait
from github.GithubRetry import GithubRetry
from urllib3.response import BaseHTTPResponse

T = TypeVar("T")
Sleeper = Callable[[float], None]
Clock = Callable[[], float]

DEFAULT_MAX_WAIT_SECONDS = 300.0
SECONDS_BETWEEN_WRITES = 1.0


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _monotonic() -> float:
    return time.monotonic()


class ReclaimRetry(GithubRetry):
    def __init__(
        self,
        *,
        sleeper: Sleeper | None = None,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("total", 5)
        kwargs.setdefault("backoff_factor", 1.0)
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("secondary_rate_wait", 60.0)
        kwargs.setdefault("max_rate_limit_wait", max_wait)
        super().__init__(**kwargs)
        self.sleeper = sleeper or _sleep
        self.max_wait = max_wait

    def new(self, **kw: Any) -> Self:
        kw.setdefault("sleeper", self.sleeper)
        kw.setdefault("max_wait", self.max_wait)
        return super().new(**kw)

    def increment(self, *args: Any, **kwargs: Any) -> Any:
        response: BaseHTTPResponse | None = kwargs.get("response")
        if response is None and len(args) > 2:
            response = args[2]
        if response is not None and response.status in (403, 429):
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_wait:
                raise RateLimitExceededExceedsMaxWait(
                    response.status,
                    {"message": f"Retry-After asks for {wait:.0f} s"},
                    dict(response.headers),
                    wait=wait,
                )
        return super().increment(*args, **kwargs)

    def parse_retry_after(self, retry_after: str) -> float:
        # urllib3 caps the value at retry_after_max (six hours) silently; keep it exact so
        # increment() can refuse waits over max_wait instead.
        saved = getattr(self, "retry_after_max", None)
        if saved is None:
            return super().parse_retry_after(retry_after)
        self.retry_after_max = sys.maxsize
        try:
            return super().parse_retry_after(retry_after)
        finally:
            self.retry_after_max = saved

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        wait = self.get_retry_after(response)
        if wait:
            self.sleeper(wait)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.sleeper(backoff)


class WritePacer:
    """Runs mutating requests at least ``interval`` seconds apart (end of one to start of next)."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        sleeper: Sleeper | None = None,
        interval: float = SECONDS_BETWEEN_WRITES,
    ) -> None:
        self.clock = clock or _monotonic
        self.sleeper = sleeper or _sleep
        self.interval = interval
        self._last: float | None = None
        self.writes = 0

    def run(self, write: Callable[[], T]) -> T:
        if self._last is not None:
            wait = self._last + self.interval - self.clock()
            if wait > 0:
                self.sleeper(wait)
        try:
            return write()
        finally:
            self._last = self.clock()
            self.writes += 1
