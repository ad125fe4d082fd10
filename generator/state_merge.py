"""`reclaim merge-state`: the first-seen clocks of sharded scans become the one state file.

Each `reclaim scan --shard I/N` job starts from the committed state file and reports, with its
findings, the clocks of every resource it saw idle and the (account, region, rule) units it
completed. A shard owns only its units, so the merge takes each unit's clocks from the report
that completed it: a resource that report no longer saw idle is forgotten (its clock restarts
if it becomes idle again). The clocks of units no report completed (a failed unit, a lost
shard, an account dropped from the config) are kept. Every clock keeps the earliest time any
input holds for it, and the result does not depend on the order of the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.errors import ManifestError
from generator.findings import ScanUnit
from generator.state import FirstSeen, load_clocks, save_clocks, sorted_clocks, unit_of
from generator.untrusted import load_json_model

UnitKey = tuple[str, str, str]
"""(rule, account, region), as state keys and completed units both name them."""


@dataclass(frozen=True)
class ScanClocks:
    """What one scan report says about the clocks."""

    completed: frozenset[UnitKey]
    first_seen: FirstSeen
    as_of: datetime | None = None


def _completed(scans: list[ScanClocks]) -> frozenset[UnitKey]:
    return frozenset(unit for scan in scans for unit in scan.completed)


def merge_clocks(base: FirstSeen, scans: Iterable[ScanClocks]) -> FirstSeen:
    """``base`` (the state the scans started from) updated by the scans' clocks."""
    scans = list(scans)
    completed = _completed(scans)
    merged: FirstSeen = {}

    def keep(rule: str, key: str, when: datetime) -> None:
        clocks = merged.setdefault(rule, {})
        if key not in clocks or when < clocks[key]:
            clocks[key] = when

    for scan in scans:
        for rule, clocks in scan.first_seen.items():
            for key, when in clocks.items():
                keep(rule, key, when)
    for rule, clocks in base.items():
        for key, when in clocks.items():
            unit = unit_of(key)
            rescanned = unit is not None and (rule, *unit) in completed
            # A rescanned resource no scan saw idle is forgotten; one it saw keeps the
            # earlier of the two times.
            if not rescanned or key in merged.get(rule, {}):
                keep(rule, key, when)
    return sorted_clocks(merged)


class _ReportClocks(BaseModel):
    """The parts of a findings report merge-state reads; the findings themselves are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    as_of: datetime
    completed: tuple[ScanUnit, ...] = ()
    first_seen: FirstSeen | None = None


def read_scan_clocks(path: Path) -> ScanClocks | None:
    """A report's clocks; None when it carries none (written before reports carried them)."""
    report = load_json_model(
        path,
        _ReportClocks,
        ManifestError,
        hint="merge-state takes the --output files of `reclaim scan` (or merge-findings)",
    )
    if report.first_seen is None:
        return None
    return ScanClocks(
        completed=frozenset((u.rule, u.account, u.region) for u in report.completed),
        first_seen=report.first_seen,
        as_of=report.as_of,
    )


@dataclass(frozen=True)
class StateMergeResult:
    clocks: int
    started: int
    """Clocks of resources no earlier scan had seen idle."""
    forgotten: int
    """Clocks of resources a completed unit no longer saw idle."""
    kept_unscanned: int
    """Clocks kept because no report completed their unit."""
    without_clocks: tuple[Path, ...]
    changed: bool


def _keys(clocks: FirstSeen) -> set[tuple[str, str]]:
    return {(rule, key) for rule, entries in clocks.items() for key in entries}


def _refuse_mixed_scans(scans: list[tuple[Path, ScanClocks]]) -> None:
    """Shards of one run share one --as-of. A report of another run (a stale artifact, last
    week's file) would put back clocks of resources its units no longer hold, or drop newer
    ones: refuse it before anything is written."""
    for path, scan in scans[1:]:
        first_path, first = scans[0]
        if scan.as_of != first.as_of:
            raise ManifestError(
                f"the reports are not from one scan: {first_path} is as of {first.as_of}, "
                f"{path} as of {scan.as_of}",
                hint="pass the outputs of one scan run's shards, all scanned with the same --as-of",
            )


def merge_state_file(state_path: Path, reports: list[Path]) -> StateMergeResult:
    """Fold the reports' clocks into ``state_path`` (written atomically, only if changed)."""
    base = load_clocks(state_path)
    read: list[tuple[Path, ScanClocks]] = []
    without: list[Path] = []
    for path in reports:
        clocks = read_scan_clocks(path)
        if clocks is None:
            without.append(path)
        else:
            read.append((path, clocks))
    _refuse_mixed_scans(read)
    scans = [clocks for _path, clocks in read]
    merged = merge_clocks(base, scans)
    completed = _completed(scans)
    before, after = _keys(base), _keys(merged)
    unscanned = {
        (rule, key)
        for rule, key in after & before
        if (unit := unit_of(key)) is None or (rule, *unit) not in completed
    }
    changed = merged != sorted_clocks(base)
    if changed:
        save_clocks(state_path, merged)
    return StateMergeResult(
        clocks=len(after),
        started=len(after - before),
        forgotten=len(before - after),
        kept_unscanned=len(unscanned),
        without_clocks=tuple(without),
        changed=changed,
    )
