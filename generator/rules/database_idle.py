"""What rds-idle, aurora-idle and redshift-idle share: idleness judged by connections.

A database is idle when, over ``lookback_days`` of CloudWatch ``DatabaseConnections`` in
daily buckets of the Maximum statistic, no day saw more than ``max_daily_connections``
(0 by default: nobody connected at all). Fewer days with data than ``min_days_with_data`` is
"unknown", never idle: no metrics is no evidence. The metrics come from the one batched
GetMetricData helper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field, JsonValue

from generator.aws.metrics import MetricQuery, MetricSeries, MetricWindow, fetch_metrics
from generator.findings import Evidence
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, WaitFor
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, RuleSettings

DAY_SECONDS = 86400
CONNECTIONS = "DatabaseConnections"

AUTO_START_DAYS = 7
"""AWS starts a stopped RDS DB instance or Aurora cluster again after this many days."""


class ConnectionIdleSettings(RuleSettings):
    lookback_days: int = Field(default=14, ge=2, le=63, description="Days of metrics judged.")
    max_daily_connections: int = Field(
        default=0,
        ge=0,
        description="Idle when no day's highest DatabaseConnections exceeds this (0: nobody "
        "connected at all).",
    )
    min_days_with_data: int = Field(
        default=14,
        ge=1,
        description="Days with DatabaseConnections data needed to judge; fewer is 'unknown'.",
    )


@dataclass(frozen=True)
class Connections:
    """One database's judged connections: the busiest day, and how many days had data."""

    peak: float
    days_with_data: int


def connection_query(key: str, namespace: str, dimension: str, value: str) -> MetricQuery:
    return MetricQuery(key, namespace, CONNECTIONS, ((dimension, value),), "Maximum")


def fetch_daily_peaks(
    cloudwatch: object, as_of: datetime, lookback_days: int, queries: Iterable[MetricQuery]
) -> dict[str, MetricSeries]:
    """Every query's daily Maximum over the window, in as few GetMetricData calls as fit."""
    window = MetricWindow.days_before(as_of, lookback_days, DAY_SECONDS)
    return fetch_metrics(cloudwatch, window, queries)


def judge(series: MetricSeries, settings: ConnectionIdleSettings) -> Connections | str:
    """The connections of an idle database, or why it is not judged idle."""
    needed = min(settings.min_days_with_data, settings.lookback_days)
    peak = series.maximum()
    if peak is None:
        return (
            f"unknown: no CloudWatch {CONNECTIONS} data in {settings.lookback_days} days; "
            "no metrics is no evidence of idleness"
        )
    if len(series.points) < needed:
        return (
            f"unknown: only {len(series.points)} of {settings.lookback_days} days have "
            f"{CONNECTIONS} data (min_days_with_data={needed})"
        )
    if peak > settings.max_daily_connections:
        limit = settings.max_daily_connections
        return f"not idle: {peak:g} connections on a day (max_daily_connections={limit})"
    return Connections(peak=peak, days_with_data=len(series.points))


def judge_all(
    series: Mapping[str, MetricSeries], keys: Iterable[str], settings: ConnectionIdleSettings
) -> Connections | str:
    """Several members judged together (an Aurora cluster): idle only if every one is; the
    days with data are the fewest any member has."""
    judged: list[Connections] = []
    for key in keys:
        one = judge(series[key], settings)
        if isinstance(one, str):
            return f"{key.split('/')[0]}: {one}"
        judged.append(one)
    if not judged:
        return "unknown: no members to judge"
    return Connections(
        peak=max(j.peak for j in judged), days_with_data=min(j.days_with_data for j in judged)
    )


STATE_POLL_SECONDS = 30


@dataclass(frozen=True)
class Restart:
    """How a stopped (or paused) database comes back, in the words of its service: the
    rollback of rds-idle, aurora-idle and redshift-idle is this one shape."""

    name: str
    kind: str
    """"instance" or "cluster"."""
    describe: AwsCall
    status: str
    """JMESPath of the status in ``describe``'s answer."""
    identity: Sequence[Expectation]
    """The recorded attributes the pre-check and the verification hold it to."""
    call: AwsCall
    waiter: str
    waiter_params: dict[str, JsonValue]
    timeout_minutes: int
    endpoint: str
    """JMESPath of the endpoint, journaled by the verification."""
    keeps: str
    """What comes back with it, for the note ("identifier, endpoint, storage")."""
    stopped: str = "stopped"
    starting: str = "starting"
    stopping: str = "stopping"
    verb: str = "start"

    def rollback(self, notes: tuple[str, ...] = ()) -> ManifestBody:
        states = json_literal([self.stopped, self.starting, "available"])
        precheck = steps.precheck(
            "precheck",
            f"Confirm {self.name} is {self.stopped} (or already {self.starting} or available "
            "again) and unchanged.",
            self.describe,
            Expectation(
                path=f"contains({states}, {self.status})",
                equals=True,
                what=f"status {self.stopped}, {self.starting} or available",
            ),
            *self.identity,
            failure_hint=f"the {self.kind} is still '{self.stopping}' and cannot {self.verb} "
            "yet: comment /rollback again in a few minutes",
        )
        started = json_literal([self.starting, "available"])
        change = steps.change(
            self.verb,
            f"{self.verb.capitalize()} {self.name} and wait until it is available.",
            self.call,
            already_done=Lookup(
                call=self.describe, found_when=f"contains({started}, {self.status})"
            ),
            wait=WaitFor(
                waiter=self.waiter,
                params=self.waiter_params,
                delay_seconds=STATE_POLL_SECONDS,
                max_attempts=self.timeout_minutes * 60 // STATE_POLL_SECONDS,
            ),
        )
        verify = steps.verify(
            "verify",
            f"Confirm {self.name} is available with its recorded attributes and tags.",
            self.describe,
            Expectation(path=self.status, equals="available", what="status"),
            *self.identity,
            outputs={"Endpoint": self.endpoint},
        )
        return ManifestBody(
            steps=(precheck, change, verify),
            notes=(f"The {self.kind} keeps its {self.keeps}.", *notes),
        )


def connection_evidence(
    status_source: str, connections: Connections, lookback_days: int, as_of: datetime
) -> tuple[Evidence, ...]:
    """What an idle database's finding shows: its status, its busiest day, its days of data."""
    window = f"{lookback_days} days to {as_of:%Y-%m-%d}"
    return (
        Evidence(label="Status", value="available", source=status_source),
        Evidence(
            label="Busiest day's connections",
            value=f"{connections.peak:g} ({window})",
            source=f"CloudWatch {CONNECTIONS}, daily Maximum (GetMetricData)",
        ),
        Evidence(
            label="Days with data",
            value=f"{connections.days_with_data} of {lookback_days}",
            source="GetMetricData",
        ),
    )
