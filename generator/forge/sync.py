"""Deciding what a propose run does on a forge, then doing it.

`plan_sync` is pure: the proposals of this scan, what the forge already holds and which
(rule, account, region) units the scan completed go in; the writes to make come out, with
everything settled without a write (unchanged, merged, declined by a human, waiting on a
limit). `run_sync` executes that plan and stops cleanly on a forge error, saying what remains.

The rules a reviewer relies on:
- an open proposal whose material fingerprint is unchanged gets no write at all;
- a proposal a human closed without merging is never re-proposed, unless the finding's cost
  grew by at least ``reopen_cost_ratio``;
- a finding that proposes again a rolled-back plan (``Proposal.supersedes``: its rule found
  the evidence changed materially) is a new proposal whose body links the rolled-back PR;
- an open proposal is closed as stale only when the scan completed its unit and the finding
  is gone, never because a scan failed or the unit was not scanned;
- new proposals respect ``max_open`` and ``max_new_per_run``, highest savings first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from generator.errors import ForgeError
from generator.forge.base import (
    ExistingProposal,
    Forge,
    Outcome,
    Proposal,
    ProposalResult,
    ProposalState,
)
from generator.held import Held, ProposalsFile, is_finding_id, material_increase

UnitKey = tuple[str, str, str]
"""(rule, account, region)"""


@dataclass(frozen=True)
class Limits:
    max_open: int = 10
    max_new_per_run: int = 5
    reopen_cost_ratio: float = 2.0


@dataclass(frozen=True)
class ScanScope:
    """The (rule, account, region) units the scan completed, and why it skipped resources."""

    completed: frozenset[UnitKey] = frozenset()
    skipped: Mapping[str, str] = field(default_factory=dict)
    """finding ID → the reason the scan left that resource alone (skip tag, too young...)."""

    def covers(self, existing: ExistingProposal) -> bool:
        return (existing.rule, existing.account, existing.region) in self.completed


@dataclass(frozen=True)
class Create:
    proposal: Proposal
    previous: ExistingProposal | None = None

    def describe(self) -> str:
        verb = "re-propose" if self.previous else "open"
        return f"{verb} {self.proposal.finding_id} (${self.proposal.monthly_usd:,.2f}/month)"


@dataclass(frozen=True)
class Refresh:
    proposal: Proposal

    def describe(self) -> str:
        return f"update {self.proposal.finding_id}"


@dataclass(frozen=True)
class Close:
    existing: ExistingProposal
    reason: str

    def describe(self) -> str:
        return f"close {self.existing.finding_id} ({self.existing.reference})"


Action = Create | Refresh | Close


@dataclass(frozen=True)
class SyncPlan:
    actions: tuple[Action, ...]
    """Writes, in order: closes (they free slots), updates, then creates by savings."""
    settled: tuple[ProposalResult, ...]
    """Decided without any write."""


def _stale_reason(existing: ExistingProposal, scope: ScanScope, as_of: str) -> str:
    skipped = scope.skipped.get(existing.finding_id)
    if skipped:
        return f"The scan of {as_of} left this resource alone: {skipped}."
    return (
        f"The scan of {as_of} no longer finds this resource idle: it is in use again or "
        "was deleted."
    )


def plan_sync(
    proposals: Sequence[Proposal],
    existing: Mapping[str, ExistingProposal],
    scope: ScanScope,
    limits: Limits,
    *,
    as_of: str,
    scanned_with: Held | None = None,
) -> SyncPlan:
    """``scanned_with``: the proposals file the scan read (generator.held), when it read
    one. Its per-resource confirmations went to the findings the file did not hold, as
    many as it left slots: a finding it named held that the forge does not hold was not
    confirmed (stop protection, skip tags), so it waits for the next scan, whose file is
    this run's; a unit where the file left out a PR the forge holds waits too (the scan
    may have confirmed that one instead); and no more are opened than the scan had slots
    to confirm. A forged file can so delay proposals, not get one opened that the scan
    passed over because of it."""
    settled: list[ProposalResult] = []
    closes: list[Action] = []
    refreshes: list[Action] = []
    candidates: list[Create] = []
    proposed_ids = {p.finding_id for p in proposals}

    for proposal in sorted(proposals, key=lambda p: (-p.monthly_usd, p.finding_id)):
        held = existing.get(proposal.finding_id)
        rolled_back = existing.get(proposal.supersedes) if proposal.supersedes else None
        if held is None and rolled_back is not None:
            candidates.append(
                Create(_with_rollback_link(proposal, rolled_back), previous=rolled_back)
            )
        elif held is None or held.state is ProposalState.CLOSED_BY_RECLAIM:
            candidates.append(Create(proposal))
        elif held.state is ProposalState.OPEN:
            if held.fingerprint and held.fingerprint == proposal.fingerprint:
                settled.append(
                    ProposalResult(proposal.finding_id, Outcome.UNCHANGED, held.reference)
                )
            else:
                refreshes.append(Refresh(proposal))
        elif held.state is ProposalState.MERGED:
            # A merged plan's folder and journal are on the default branch for good; one a
            # /rollback restored is never proposed again under its ID, whatever it costs now
            # (it would collide with the rolled-back plan's journal). Where its evidence
            # changed materially, the rule proposes it under a new ID (Proposal.supersedes).
            note = (
                f"rolled back by /rollback on {held.reference}: not proposed again"
                if held.rolled_back
                else ""
            )
            settled.append(
                ProposalResult(
                    proposal.finding_id, Outcome.ALREADY_MERGED, held.reference, note=note
                )
            )
        elif material_increase(proposal.monthly_usd, held.monthly_usd, limits.reopen_cost_ratio):
            candidates.append(Create(_with_reproposal_note(proposal, held), previous=held))
        else:
            settled.append(
                ProposalResult(
                    proposal.finding_id,
                    Outcome.DECLINED,
                    held.reference,
                    note=f"closed by a human at ${held.monthly_usd:,.2f}/month",
                )
            )

    still_open = 0
    for held in existing.values():
        if held.state is not ProposalState.OPEN or held.finding_id in proposed_ids:
            continue
        if scope.covers(held):
            closes.append(Close(held, _stale_reason(held, scope, as_of)))
        else:
            still_open += 1  # not rescanned (scan error, unit not configured): leave it be
    still_open += sum(
        1 for p in proposals if (h := existing.get(p.finding_id)) and h.state is ProposalState.OPEN
    )

    slots = max(0, min(limits.max_new_per_run, limits.max_open - still_open))
    if scanned_with is not None:
        unconfirmed = _not_confirmed(candidates, proposals, existing, scanned_with)
        for waiting in candidates:
            why = unconfirmed.get(waiting.proposal.finding_id)
            if why is None:
                continue
            settled.append(
                ProposalResult(
                    waiting.proposal.finding_id,
                    Outcome.WAITING,
                    "",
                    note=f"${waiting.proposal.monthly_usd:,.2f}/month; not confirmed by this "
                    f"scan ({why}): the next scan confirms it",
                )
            )
        candidates = [c for c in candidates if c.proposal.finding_id not in unconfirmed]
        slots = min(slots, scanned_with.budget(limits.max_open, limits.max_new_per_run))
    creates: list[Action] = list(candidates[:slots])
    for waiting in candidates[slots:]:
        settled.append(
            ProposalResult(
                waiting.proposal.finding_id,
                Outcome.WAITING,
                "",
                note=f"${waiting.proposal.monthly_usd:,.2f}/month",
            )
        )
    return SyncPlan(actions=(*closes, *refreshes, *creates), settled=tuple(settled))


def _not_confirmed(
    candidates: Sequence[Create],
    proposals: Sequence[Proposal],
    existing: Mapping[str, ExistingProposal],
    scanned_with: Held,
) -> dict[str, str]:
    """Finding ID → why, for the candidates the scan may not have confirmed by what its
    proposals file said: those it named held (the scan skipped them), and every one of a
    unit where it left out a finding the forge holds (the scan may have spent that unit's
    confirmations on it)."""
    units = {
        (p.rule, p.account, p.region)
        for p in proposals
        if (h := existing.get(p.finding_id)) is not None
        and (
            h.state in (ProposalState.OPEN, ProposalState.MERGED)
            or (
                h.state is ProposalState.CLOSED_BY_HUMAN
                and not material_increase(
                    p.monthly_usd, h.monthly_usd, scanned_with.reopen_cost_ratio
                )
            )
        )
        and not scanned_with.holds(p.finding_id, p.monthly_usd)
    }
    found: dict[str, str] = {}
    for candidate in candidates:
        proposal = candidate.proposal
        if scanned_with.holds(proposal.finding_id, proposal.monthly_usd):
            found[proposal.finding_id] = "its proposals file named it held"
        elif (proposal.rule, proposal.account, proposal.region) in units:
            found[proposal.finding_id] = "its proposals file left out a PR of this unit"
    return found


def _with_reproposal_note(proposal: Proposal, previous: ExistingProposal) -> Proposal:
    note = (
        f"> **Proposed again.** An earlier proposal ({previous.reference}) was closed without "
        f"merging at ${previous.monthly_usd:,.2f}/month; this resource now costs "
        f"${proposal.monthly_usd:,.2f}/month.\n\n"
    )
    return replace(proposal, body=note + proposal.body)


def _with_rollback_link(proposal: Proposal, rolled_back: ExistingProposal) -> Proposal:
    note = (
        f"> **Proposed again after a rollback.** {rolled_back.reference} was merged and then "
        f"rolled back by `/rollback` (plan `{proposal.supersedes}`); the evidence has changed "
        "materially since (see *Rolled back before* below), so this is a new plan.\n\n"
    )
    return replace(proposal, body=note + proposal.body)


@dataclass
class SyncReport:
    results: list[ProposalResult]
    remaining: list[str] = field(default_factory=list)
    stopped: ForgeError | None = None
    dashboard: str | None = None
    held: ProposalsFile | None = None
    """What the forge holds after this sync (``held_after``), for the proposals file."""


_NOW_OPEN = frozenset({Outcome.CREATED, Outcome.REPROPOSED, Outcome.UPDATED, Outcome.UNCHANGED})


def held_after(
    existing: Mapping[str, ExistingProposal], results: Iterable[ProposalResult], as_of: datetime
) -> ProposalsFile:
    """What propose will not open again after a sync: the forge as read before it, with
    the results' writes (a PR opened or refreshed is open, one closed as stale is a
    candidate again). A write the sync did not reach leaves the forge as it was."""
    states = {
        finding_id: held.state for finding_id, held in existing.items() if is_finding_id(finding_id)
    }
    for result in results:
        if not is_finding_id(result.finding_id):
            continue
        if result.outcome in _NOW_OPEN:
            states[result.finding_id] = ProposalState.OPEN
        elif result.outcome is Outcome.CLOSED:
            states[result.finding_id] = ProposalState.CLOSED_BY_RECLAIM
    open_ids = tuple(i for i, state in states.items() if state is ProposalState.OPEN)
    return ProposalsFile(
        as_of=as_of,
        open=open_ids,
        open_count=len(open_ids),
        merged=tuple(i for i, state in states.items() if state is ProposalState.MERGED),
        declined={
            i: existing[i].monthly_usd
            for i, state in states.items()
            if state is ProposalState.CLOSED_BY_HUMAN
        },
    )


def _execute(forge: Forge, action: Action) -> ProposalResult:
    if isinstance(action, Close):
        return forge.close(action.existing, action.reason)
    result = forge.propose(action.proposal)
    if isinstance(action, Create) and action.previous and result.outcome is Outcome.CREATED:
        return replace(result, outcome=Outcome.REPROPOSED)
    return result


def run_sync(
    forge: Forge,
    plan: SyncPlan,
    dashboard: Callable[[Iterable[ProposalResult]], str] | None = None,
) -> SyncReport:
    report = SyncReport(results=list(plan.settled))
    for index, action in enumerate(plan.actions):
        try:
            report.results.append(_execute(forge, action))
        except ForgeError as error:
            report.stopped = error
            report.remaining = [a.describe() for a in plan.actions[index:]]
            if dashboard is not None:
                report.remaining.append("update the dashboard")
            return report
    if dashboard is not None:
        try:
            report.dashboard = forge.publish_dashboard(dashboard(report.results))
        except ForgeError as error:
            report.stopped = error
            report.remaining = ["update the dashboard"]
    return report
