"""Where a scan's results go while it runs: to a JSON file as they arrive, to a small tally
for the terminal, or (for library callers and tests) into one FindingsReport in memory.

Streaming keeps memory flat on a large fleet: a finding is written and dropped as soon as
its rule yields it. Skipped resources, which can outnumber findings, are spooled to a
temporary file and appended when the run ends. Only errors (a few per failed unit), the
completed units (one short record per unit), the first-seen clocks (one per idle resource
whose age a rule counts itself) and the tally's top findings stay in memory.
"""

from __future__ import annotations

import heapq
import json
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import IO, Protocol

from pydantic import TypeAdapter

from generator.findings import (
    Finding,
    FindingsReport,
    ScanError,
    ScanUnit,
    ShardInfo,
    SkippedResource,
)
from generator.state import FirstSeen

_CLOCKS = TypeAdapter(FirstSeen)


@dataclass(frozen=True)
class Totals:
    """The whole scan's counts when ``report`` holds only its largest findings (a streamed
    scan keeps a screenful for the terminal; the --output file has everything)."""

    findings: int
    monthly_usd: float
    skipped: int
    errors: int


class ReportSink(Protocol):
    def add_finding(self, finding: Finding) -> None: ...
    def add_skipped(self, skipped: SkippedResource) -> None: ...
    def add_error(self, error: ScanError) -> None: ...
    def add_completed(self, unit: ScanUnit) -> None: ...
    def add_warning(self, warning: ScanError) -> None: ...
    def add_first_seen(self, clocks: FirstSeen) -> None:
        """Once, at the end: the clocks of the resources the scan saw idle."""


def _by_priority(finding: Finding) -> tuple[float, str]:
    return (-finding.cost.monthly_usd, finding.id)


def _error_order(error: ScanError) -> tuple[str, str, str]:
    return (error.account, error.region, error.rule)


def _unit_order(unit: ScanUnit) -> tuple[str, str, str]:
    return (unit.account, unit.region, unit.rule)


class ReportCollector:
    """Keeps everything: for library callers (propose, the demo, tests). Without
    ``keep_skipped`` the skipped resources (which can outnumber findings) are dropped."""

    def __init__(self, keep_skipped: bool = True) -> None:
        self.keep_skipped = keep_skipped
        self.findings: list[Finding] = []
        self.skipped: list[SkippedResource] = []
        self.errors: list[ScanError] = []
        self.warnings: list[ScanError] = []
        self.completed: list[ScanUnit] = []
        self.first_seen: FirstSeen | None = None

    def add_finding(self, finding: Finding) -> None:
        self.findings.append(finding)

    def add_skipped(self, skipped: SkippedResource) -> None:
        if self.keep_skipped:
            self.skipped.append(skipped)

    def add_error(self, error: ScanError) -> None:
        self.errors.append(error)

    def add_warning(self, warning: ScanError) -> None:
        self.warnings.append(warning)

    def add_completed(self, unit: ScanUnit) -> None:
        self.completed.append(unit)

    def add_first_seen(self, clocks: FirstSeen) -> None:
        self.first_seen = clocks

    def report(self, as_of: datetime, shard: ShardInfo | None = None) -> FindingsReport:
        return FindingsReport(
            as_of=as_of,
            shard=shard,
            findings=tuple(sorted(self.findings, key=_by_priority)),
            errors=tuple(sorted(self.errors, key=_error_order)),
            warnings=tuple(sorted(self.warnings, key=_error_order)),
            skipped=tuple(sorted(self.skipped, key=lambda s: (s.account, s.region, s.rule))),
            completed=tuple(sorted(self.completed, key=_unit_order)),
            first_seen=self.first_seen,
        )


class ScanTally:
    """Counts and the most valuable findings, for a terminal summary of any size of scan.

    A screenful by default: rendering a rich table costs ~7 ms a row, which on a large
    scan was a visible share of the run (the full list is in the --output file)."""

    def __init__(self, keep: int = 25) -> None:
        self.keep = keep
        self.count = 0
        self.monthly_usd = 0.0
        self.skipped = 0
        self.errors: list[ScanError] = []
        self._top: list[tuple[float, str, Finding]] = []
        self.warnings: list[ScanError] = []
        self.left_alone: Counter[tuple[str, str]] = Counter()
        self.accounts: set[str] = set()
        self.clocks: FirstSeen = {}

    def add_finding(self, finding: Finding) -> None:
        self.count += 1
        self.monthly_usd += finding.cost.monthly_usd
        self.accounts.add(finding.account)
        entry = (finding.cost.monthly_usd, finding.id, finding)
        if len(self._top) < self.keep:
            heapq.heappush(self._top, entry)
        elif entry[:2] > self._top[0][:2]:
            heapq.heapreplace(self._top, entry)

    def add_skipped(self, skipped: SkippedResource) -> None:
        self.skipped += 1
        self.accounts.add(skipped.account)
        key = (skipped.rule, reason_group(skipped.reason))
        if key in self.left_alone or len(self.left_alone) < _MAX_REASONS:
            self.left_alone[key] += 1
        else:
            self.left_alone[(skipped.rule, "other reasons")] += 1

    def add_error(self, error: ScanError) -> None:
        self.errors.append(error)

    def add_warning(self, warning: ScanError) -> None:
        self.warnings.append(warning)

    def add_completed(self, unit: ScanUnit) -> None:
        self.accounts.add(unit.account)

    def add_first_seen(self, clocks: FirstSeen) -> None:
        for rule, keys in clocks.items():
            self.clocks.setdefault(rule, {}).update(keys)

    def started(self, as_of: datetime) -> dict[str, int]:
        """Per rule, how many first-seen clocks this scan started (those read ``as_of``)."""
        counts = {
            rule: sum(1 for seen in keys.values() if seen == as_of)
            for rule, keys in self.clocks.items()
        }
        return {rule: count for rule, count in sorted(counts.items()) if count}

    @property
    def truncated(self) -> bool:
        return self.count > len(self._top)

    def totals(self) -> Totals:
        return Totals(self.count, round(self.monthly_usd, 2), self.skipped, len(self.errors))

    def report(self, as_of: datetime) -> FindingsReport:
        """The top findings and every error (skipped resources are only counted).

        Constructed, not validated: its parts are validated models already, and a scan then
        never builds the whole report's validator (~40 ms of every scan's CPU)."""
        return FindingsReport.model_construct(
            as_of=as_of,
            findings=tuple(sorted((f for _, _, f in self._top), key=_by_priority)),
            errors=tuple(sorted(self.errors, key=_error_order)),
        )


_MAX_REASONS = 500
_AWS_ID = re.compile(r"\b[a-z]{1,10}-[0-9a-f]{8,17}\b")
_NUMBER = re.compile(r"(?<![=\w.-])\d+(?:\.\d+)?(?![\w.])")


def reason_group(reason: str) -> str:
    """A skip reason without what differs per resource (its counts, ages, IDs), so that
    "unattached 2 day(s) ..., under min_unattached_days=7" and "... 5 day(s) ..." are one
    group. Thresholds (``name=value``) are kept: they are the reason."""
    return _NUMBER.sub("N", _AWS_ID.sub("<id>", reason))


class Tee:
    def __init__(self, *sinks: ReportSink) -> None:
        self.sinks = sinks

    def add_finding(self, finding: Finding) -> None:
        for sink in self.sinks:
            sink.add_finding(finding)

    def add_skipped(self, skipped: SkippedResource) -> None:
        for sink in self.sinks:
            sink.add_skipped(skipped)

    def add_error(self, error: ScanError) -> None:
        for sink in self.sinks:
            sink.add_error(error)

    def add_warning(self, warning: ScanError) -> None:
        for sink in self.sinks:
            sink.add_warning(warning)

    def add_completed(self, unit: ScanUnit) -> None:
        for sink in self.sinks:
            sink.add_completed(unit)

    def add_first_seen(self, clocks: FirstSeen) -> None:
        for sink in self.sinks:
            sink.add_first_seen(clocks)


class StreamingReportWriter:
    """Writes a FindingsReport JSON document incrementally to ``stream``.

    Use as a context manager; the document is completed on a clean exit only, so a crashed
    scan never leaves a file that parses as a complete report."""

    def __init__(self, stream: IO[str], as_of: datetime, shard: ShardInfo | None = None) -> None:
        self._stream = stream
        self._errors: list[ScanError] = []
        self._warnings: list[ScanError] = []
        self._completed: list[ScanUnit] = []
        self._first_seen: FirstSeen | None = None
        # Lives as long as the writer; closed by close() or __exit__.
        self._spool: IO[str] = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._findings = 0
        self._skipped = 0
        header = {"schema_version": 1, "as_of": as_of.isoformat().replace("+00:00", "Z")}
        if shard is not None:
            header["shard"] = shard.model_dump(mode="json")
        # The header without its closing brace, then the findings array opens.
        self._stream.write(json.dumps(header, indent=2)[:-2] + ',\n  "findings": [')

    def add_finding(self, finding: Finding) -> None:
        self._stream.write(("," if self._findings else "") + "\n    " + finding.model_dump_json())
        self._findings += 1

    def add_skipped(self, skipped: SkippedResource) -> None:
        self._spool.write(("," if self._skipped else "") + "\n    " + skipped.model_dump_json())
        self._skipped += 1

    def add_error(self, error: ScanError) -> None:
        self._errors.append(error)

    def add_warning(self, warning: ScanError) -> None:
        self._warnings.append(warning)

    def add_completed(self, unit: ScanUnit) -> None:
        self._completed.append(unit)

    def add_first_seen(self, clocks: FirstSeen) -> None:
        self._first_seen = clocks

    def close(self) -> None:
        errors = ",".join(
            "\n    " + e.model_dump_json() for e in sorted(self._errors, key=_error_order)
        )
        self._stream.write(("\n  " if self._findings else "") + '],\n  "errors": [')
        self._stream.write(errors + ("\n  " if errors else "") + '],\n  "skipped": [')
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, self._stream)
        completed = ",".join(
            "\n    " + u.model_dump_json() for u in sorted(self._completed, key=_unit_order)
        )
        self._stream.write(("\n  " if self._skipped else "") + '],\n  "completed": [')
        self._stream.write(completed + ("\n  " if completed else "") + "]")
        if self._warnings:  # absent when there are none: earlier readers saw no such key
            warnings = ",".join(
                "\n    " + w.model_dump_json() for w in sorted(self._warnings, key=_error_order)
            )
            self._stream.write(',\n  "warnings": [' + warnings + "\n  ]")
        if self._first_seen is not None:
            text = _CLOCKS.dump_json(self._first_seen, indent=2).decode()
            self._stream.write(',\n  "first_seen": ' + text.replace("\n", "\n  "))
        self._stream.write("\n}\n")
        self._stream.flush()
        self._spool.close()

    def __enter__(self) -> StreamingReportWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._spool.close()
