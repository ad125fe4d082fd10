"""The dashboard: one issue per repository, rewritten in place, like Renovate's.

It shows the state of things, not what the last run did, so an unchanged scan renders an
identical dashboard and costs no write. The one line that names the scan time is marked
volatile and ignored when comparing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from generator.findings import Finding, FindingsReport
from generator.forge.base import ExistingProposal, Outcome, ProposalResult, ProposalState
from generator.forge.markers import kind_marker
from generator.forge.track_record import TrackRecord, track_record
from generator.render import render

DASHBOARD_KIND = "dashboard"
DASHBOARD_LABEL = "reclaim:dashboard"
DASHBOARD_TITLE = "reclaim dashboard"
VOLATILE = "<!-- reclaim:volatile -->"

_OPEN_OUTCOMES = {Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.REPROPOSED}


@dataclass(frozen=True)
class Row:
    account: str
    rule: str
    count: int
    monthly_usd: float


@dataclass(frozen=True)
class Entry:
    finding_id: str
    monthly_usd: float
    reference: str = ""
    note: str = ""


def _rows(findings: Iterable[Finding]) -> list[Row]:
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[(finding.account, finding.rule)].append(finding)
    return [
        Row(account, rule, len(items), round(sum(f.cost.monthly_usd for f in items), 2))
        for (account, rule), items in sorted(groups.items())
    ]


def _by_rule(findings: Iterable[Finding]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for finding in findings:
        totals[finding.rule] += finding.cost.monthly_usd
    return {rule: round(total, 2) for rule, total in sorted(totals.items()) if total > 0}


def render_dashboard(
    report: FindingsReport,
    results: Iterable[ProposalResult],
    existing: Mapping[str, ExistingProposal],
    track: TrackRecord | None = None,
) -> str:
    """``track``: the applied changes' track record (none applied when absent)."""
    by_id = {f.id: f for f in report.findings}
    track = track or track_record([], None)
    results = sorted(results, key=lambda r: (-_price(by_id, r.finding_id), r.finding_id))

    def entries(outcomes: set[Outcome]) -> list[Entry]:
        return [
            Entry(r.finding_id, _price(by_id, r.finding_id), r.reference, r.note)
            for r in results
            if r.outcome in outcomes
        ]

    open_ids = {r.finding_id for r in results if r.outcome in _OPEN_OUTCOMES}
    not_rescanned = [
        Entry(e.finding_id, e.monthly_usd, e.reference)
        for e in sorted(existing.values(), key=lambda e: e.finding_id)
        if e.state is ProposalState.OPEN
        and e.finding_id not in open_ids
        and e.finding_id not in by_id
        and not any(r.finding_id == e.finding_id for r in results if r.outcome is Outcome.CLOSED)
    ]
    merged = [e for e in existing.values() if e.state is ProposalState.MERGED]
    realized = [e for e in merged if e.applied and not e.rolled_back]
    return render(
        "forge/dashboard.md.j2",
        marker=kind_marker(DASHBOARD_KIND),
        volatile=VOLATILE,
        as_of=report.as_of,
        rows=_rows(report.findings),
        by_rule=_by_rule(report.findings),
        potential=round(sum(f.cost.monthly_usd for f in report.findings), 2),
        realized=round(sum(e.monthly_usd for e in realized), 2),
        realized_count=len(realized),
        awaiting_apply=[e for e in merged if not e.applied and not e.rolled_back],
        rolled_back=[e for e in merged if e.rolled_back],
        open_entries=entries(_OPEN_OUTCOMES),
        not_rescanned=not_rescanned,
        waiting=entries({Outcome.WAITING}),
        declined=entries({Outcome.DECLINED}),
        report_only=[f for f in report.findings if f.reversibility == "report-only"],
        track=track,
        asked=sorted(track.second_opinion_asked & set(by_id)),
        corroborated=sorted(track.corroborated & set(by_id)),
        errors=list(report.errors),
        warnings=list(report.warnings),
    )


def _price(by_id: Mapping[str, Finding], finding_id: str) -> float:
    finding = by_id.get(finding_id)
    return finding.cost.monthly_usd if finding else 0.0


def same_dashboard(current: str | None, wanted: str) -> bool:
    """Equal but for the volatile line (the scan time)."""

    def stable(text: str) -> list[str]:
        return [line for line in text.strip().splitlines() if VOLATILE not in line]

    return current is not None and stable(current) == stable(wanted)
