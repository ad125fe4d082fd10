"""Each rule's track record on the dashboard: what its applied changes promised, what the bill
says they saved, where cost moved, and how often they were rolled back.

Applied and rolled-back changes are the default branch's journals (generator.realized);
the measurements are the scan's (a Cost Explorer read, handed over as a file, since the job
that writes the dashboard has no AWS access). A measurement is only used for a change the
journals say was applied and not rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from generator.realized import AppliedChange, Measurement, RealizedReport, moved_elsewhere


@dataclass(frozen=True)
class RuleRecord:
    rule: str
    applied: int
    rolled_back: int
    promised_usd: float
    """$/month the applied, not rolled back changes promised."""
    measured: int
    measured_promised_usd: float
    realized_usd: float

    @property
    def rollback_rate(self) -> float:
        return self.rolled_back / self.applied if self.applied else 0.0

    @property
    def ratio(self) -> float | None:
        """Realized / promised over the measured changes (None: none measured)."""
        if not self.measured or self.measured_promised_usd <= 0:
            return None
        return self.realized_usd / self.measured_promised_usd


@dataclass(frozen=True)
class MovedCost:
    finding_id: str
    promised_usd: float
    realized_usd: float | None
    moved_usd: float
    usage_types: tuple[str, ...]


@dataclass(frozen=True)
class TrackRecord:
    rules: tuple[RuleRecord, ...]
    moved: tuple[MovedCost, ...]
    measurements: tuple[tuple[AppliedChange, Measurement], ...]
    unavailable: tuple[str, ...]
    measured_at: str | None
    """When the scan measured (None when no reading was handed over)."""
    second_opinion_asked: frozenset[str] = frozenset()
    corroborated: frozenset[str] = frozenset()
    second_opinion_unavailable: tuple[str, ...] = ()

    @property
    def realized_usd(self) -> float:
        return round(sum(r.realized_usd for r in self.rules), 2)

    @property
    def measured(self) -> int:
        return sum(r.measured for r in self.rules)

    @property
    def live(self) -> int:
        return sum(r.applied - r.rolled_back for r in self.rules)


def track_record(changes: Iterable[AppliedChange], realized: RealizedReport | None) -> TrackRecord:
    changes = list(changes)
    by_id = {m.finding_id: m for m in realized.measurements} if realized else {}
    rules: list[RuleRecord] = []
    moved: list[MovedCost] = []
    used: list[tuple[AppliedChange, Measurement]] = []
    for rule in sorted({c.rule for c in changes}):
        mine = [c for c in changes if c.rule == rule]
        live = [c for c in mine if not c.rolled_back]
        measured = [
            (c, by_id[c.finding_id])
            for c in live
            if c.finding_id in by_id and by_id[c.finding_id].realized_monthly_usd is not None
        ]
        used += measured
        for c, m in measured:
            if moved_elsewhere(m, c.promised_monthly_usd):
                moved.append(
                    MovedCost(
                        c.finding_id,
                        c.promised_monthly_usd,
                        m.realized_monthly_usd,
                        m.moved_monthly_usd,
                        m.moved_usage_types,
                    )
                )
        rules.append(
            RuleRecord(
                rule=rule,
                applied=len(mine),
                rolled_back=len(mine) - len(live),
                promised_usd=round(sum(c.promised_monthly_usd for c in live), 2),
                measured=len(measured),
                measured_promised_usd=round(sum(c.promised_monthly_usd for c, _ in measured), 2),
                realized_usd=round(sum(m.realized_monthly_usd or 0.0 for _, m in measured), 2),
            )
        )
    return TrackRecord(
        rules=tuple(rules),
        moved=tuple(sorted(moved, key=lambda m: (-m.moved_usd, m.finding_id))),
        measurements=tuple(sorted(used, key=lambda cm: cm[0].finding_id)),
        unavailable=realized.unavailable if realized else (),
        measured_at=f"{realized.as_of:%Y-%m-%d}" if realized else None,
        second_opinion_asked=frozenset(realized.second_opinion_asked) if realized else frozenset(),
        corroborated=frozenset(realized.corroborated) if realized else frozenset(),
        second_opinion_unavailable=realized.second_opinion_unavailable if realized else (),
    )
