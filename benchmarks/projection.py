"""What a scan of 100 accounts x 17 regions with every rule on costs: calls and wall time.

Calls are counted, not estimated: each rule scans one account-region of moto alone, once
empty and once populated with ``resources`` resources it judges (tests/scan_populations.py,
the populations the call-count tests bound), through the recording session the tests count
with. Wall time is projected from those counts at ``latency`` seconds a call with reclaim's
own concurrency model: the fleet runs every (account, region, rule) unit on a pool of
``DEFAULT_WORKERS`` threads, an account's units queued once the account is prepared, the
calls of one unit one after another; `--shard I/N` gives each of N runners the units whose
key hashes to it (generator.aws.units.shard_of), each runner with its own pool. The
simulation schedules those units exactly so, with the real shard function.

Left out of the projection: throttling (calls are spread over 1,700 account-regions, each
with its own token buckets) and CPU (parsing is ~0.1 ms a resource, against 100 ms a call).

    python -m benchmarks.projection [--resources 100] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import heapq
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from moto import mock_aws

ACCOUNTS = 100
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
)
"""The 17 Regions every AWS account has enabled by default."""
RUNNERS = (1, 2, 4, 8)
MOTO_ONLY = {
    "GetDistributionConfig": "moto's ListDistributions summaries omit PriceClass, which "
    "AWS's carry (botocore's model requires it)",
    "GetBucketLocation": "moto's ListBuckets omits BucketRegion, which AWS's carries",
}
"""Fallback calls a rule makes on moto only: what moto's answers lack, AWS's carry."""
ACCOUNT_CALLS = frozenset({"GetCallerIdentity"})
"""Made once per account (preparing it), not per unit."""


@dataclass(frozen=True)
class RuleCount:
    rule: str
    empty: int
    populated: int | None
    """None: no moto population for this rule (its AWS APIs are not in moto)."""
    by_operation: dict[str, int]


def _count(rules: Sequence[str], resources: int) -> tuple[int, dict[str, int], int]:
    """(calls per account-region, by operation, account calls) of one scan of ``rules``
    in one moto account-region holding ``resources`` resources for each rule."""
    from generator.rules import RULES
    from generator.scan import scan
    from tests import scan_populations
    from tests.conftest import CallLog, RecordingSession, config_for

    with mock_aws():
        populations = [scan_populations.POPULATIONS[r] for r in rules]
        if resources:
            for population in populations:
                population.make(resources)
        days_later = max((p.days_later for p in populations), default=0)
        as_of = scan_populations.NOW + timedelta(days=days_later)
        settings: dict[str, Any] = {name: {"enabled": False} for name in RULES}
        for rule, population in zip(rules, populations, strict=True):
            settings[rule] = {"enabled": True, **population.settings}
        log = CallLog()
        session = RecordingSession(log)
        with tempfile.TemporaryDirectory() as work:
            config = config_for(Path(work), rules=settings)
            metric = populations[0].metric_value if len(populations) == 1 else 0.0
            with scan_populations.quiet_metrics(metric, as_of):
                report = scan(config, as_of=as_of, session_for=lambda _: session, workers=1)
        if report.errors:
            raise RuntimeError(f"{rules}: {[e.message for e in report.errors]}")
    by_operation: dict[str, int] = {}
    for name in log.operations():
        by_operation[name] = by_operation.get(name, 0) + 1
    account = sum(by_operation.pop(name, 0) for name in ACCOUNT_CALLS)
    return sum(by_operation.values()), by_operation, account


def count_rules(resources: int) -> tuple[list[RuleCount], dict[str, int]]:
    """Every rule's calls per account-region, empty and populated; and all rules together
    (shared listings counted once), empty and populated, plus the account's own calls."""
    from generator.rules import RULES
    from tests.scan_populations import POPULATIONS

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "projection")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "projection")
    counts: list[RuleCount] = []
    account_calls = 0
    for rule in sorted(RULES):
        if rule in POPULATIONS:
            empty, _, account_calls = _count([rule], 0)
            populated, by_operation, _ = _count([rule], resources)
            counts.append(RuleCount(rule, empty, populated, by_operation))
        else:
            empty, by_operation, _ = _empty_only(rule)
            counts.append(RuleCount(rule, empty, None, by_operation))
    together = [r for r in sorted(RULES) if r in POPULATIONS]
    totals = {
        "together_empty": _count(together, 0)[0]
        + sum(c.empty for c in counts if c.populated is None),
        "together_populated": _count(together, resources)[0],
        "account": account_calls,
    }
    return counts, totals


def _empty_only(rule: str) -> tuple[int, dict[str, int], int]:
    from tests import scan_populations

    scan_populations.POPULATIONS[rule] = scan_populations.Population(lambda _: None)
    try:
        return _count([rule], 0)
    finally:
        del scan_populations.POPULATIONS[rule]


# ---- the fleet's schedule ----------------------------------------------------------------


def wall_time(
    calls_of: dict[str, int],
    *,
    accounts: int,
    regions: Sequence[str],
    latency: float,
    workers: int,
    account_calls: int,
    runners: int,
) -> float:
    """Seconds until the slowest of ``runners`` shards is done, each scheduling its units
    as generator.aws.fleet.run_fleet does: accounts prepared first on the pool, each
    account's units queued (in account_units' order) once it is ready."""
    from generator.aws.fleet import account_units
    from generator.aws.units import shard_of
    from generator.rules import RULES

    homes = {rule: RULES[rule].home_region for rule in calls_of}
    slowest = 0.0
    for index in range(1, runners + 1):
        per_account = []
        for a in range(accounts):
            units = [
                calls_of[u.rule] * latency
                for u in account_units(f"account-{a:03d}", regions, homes)
                if runners == 1 or shard_of(u, runners) == index
            ]
            if units:
                per_account.append(units)
        slowest = max(slowest, _schedule(per_account, account_calls * latency, workers))
    return slowest


def _schedule(accounts: Iterable[list[float]], prepare: float, workers: int) -> float:
    """A FIFO pool of ``workers``: every account's preparation is submitted first; when one
    finishes, its units join the queue."""
    free = [0.0] * workers
    heapq.heapify(free)
    ready: list[tuple[float, list[float]]] = []
    for units in accounts:
        start = heapq.heappop(free)
        heapq.heappush(free, start + prepare)
        ready.append((start + prepare, units))
    end = max(free)
    queue = sorted(ready, key=lambda item: item[0])
    for available, units in queue:
        for seconds in units:
            start = max(heapq.heappop(free), available)
            heapq.heappush(free, start + seconds)
            end = max(end, start + seconds)
    return end


# ---- the report ----------------------------------------------------------------------------


def projection(resources: int = 100, latency: float = 0.1) -> list[str]:
    """docs/benchmarks.md's projection section, as Markdown lines."""
    from generator.aws.fleet import DEFAULT_WORKERS
    from generator.rules import RULES

    counts, totals = count_rules(resources)
    lines = [
        f"Calls per account-region, counted on moto: each rule alone, in an empty region and "
        f"in one holding {resources} resources that rule judges (every one a would-be "
        "finding: the worst case for per-resource calls); `python -m benchmarks.projection`.",
        "",
        f"| rule | empty | {resources} resources | calls per resource (populated) |",
        "| --- | ---: | ---: | --- |",
    ]
    for count in counts:
        home = RULES[count.rule].home_region
        name = count.rule + (f" (once per account, {home})" if home else "")
        if count.populated is None:
            lines.append(f"| {name} | {count.empty} | not on moto | see its Stubber test |")
            continue
        per = {op: n for op, n in sorted(count.by_operation.items()) if n >= resources}
        shown = (
            ", ".join(
                f"{op} {n / resources:g}" + (" (moto only)" if op in MOTO_ONLY else "")
                for op, n in per.items()
            )
            or "none"
        )
        lines.append(f"| {name} | {count.empty} | {count.populated} | {shown} |")
    solo_empty = sum(c.empty for c in counts)
    lines += [
        f"| **every rule, one scan** (listings shared) | {totals['together_empty']} | "
        f"{totals['together_populated']} | |",
        f"| sum of the rules alone | {solo_empty} | "
        f"{sum(c.populated or c.empty for c in counts)} | |",
        "",
        "moto only: " + "; ".join(f"{op}: {why}" for op, why in MOTO_ONLY.items()) + ".",
        "",
        f"Account preparation: {totals['account']} call(s) per account (GetCallerIdentity "
        "without a role_arn; with one, the hop-2 AssumeRole instead).",
        "",
        f"Wall time for {ACCOUNTS} accounts x {len(REGIONS)} regions, every rule on, at "
        f"{latency * 1000:g} ms a call, {DEFAULT_WORKERS} workers a runner (reclaim's "
        "default), units scheduled as the fleet schedules them (each rule's calls as counted "
        "alone: shared listings not deducted, so an upper bound):",
        "",
        "| fleet | calls | " + " | ".join(f"{n} runner(s)" for n in RUNNERS) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in RUNNERS) + " |",
    ]
    populated = {c.rule: c.populated if c.populated is not None else c.empty for c in counts}
    paged = {c.rule: populated[c.rule] for c in counts if not _per_resource(c, resources)}
    for label, calls_of in (
        ("every region empty", {c.rule: c.empty for c in counts}),
        (f"every region with {resources} resources a rule", populated),
        (
            f"the same, the {len(paged)} rules without a per-resource call only",
            paged,
        ),
    ):
        units = _units(calls_of, RULES)
        total = ACCOUNTS * (units + totals["account"])
        cells = [
            _duration(
                wall_time(
                    calls_of,
                    accounts=ACCOUNTS,
                    regions=REGIONS,
                    latency=latency,
                    workers=DEFAULT_WORKERS,
                    account_calls=totals["account"],
                    runners=n,
                )
            )
            for n in RUNNERS
        ]
        lines.append(f"| {label} | {total:,} | " + " | ".join(cells) + " |")
    return lines


def _per_resource(count: RuleCount, resources: int) -> bool:
    """Whether the rule made some call once per resource (moto's own fallbacks aside)."""
    return (
        any(n >= resources and op not in MOTO_ONLY for op, n in count.by_operation.items())
        and count.populated is not None
    )


def _units(calls_of: dict[str, int], rules: Mapping[str, Any]) -> int:
    """Calls of one account: a regional rule in each region, a global one once."""
    return sum(n if rules[r].home_region else n * len(REGIONS) for r, n in calls_of.items())


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds a call")
    args = parser.parse_args(argv)
    print("\n".join(projection(args.resources, args.latency)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
