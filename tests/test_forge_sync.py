"""The forge-agnostic decisions of a propose run: pure, so every rule is checked directly."""

from __future__ import annotations

from generator.forge.base import ExistingProposal, Outcome, Proposal, ProposalState
from generator.forge.sync import Close, Create, Limits, Refresh, ScanScope, plan_sync

ACCOUNT, REGION, RULE = "123456789012", "us-east-1", "ebs-unattached"
SCOPE = ScanScope(completed=frozenset({(RULE, ACCOUNT, REGION)}))


def fid(n: int) -> str:
    return f"{RULE}-{ACCOUNT}-{REGION}-vol-{n}"


def proposal(n: int, usd: float = 10.0, fingerprint: str = "f") -> Proposal:
    return Proposal(
        finding_id=fid(n),
        title=f"vol-{n}",
        body="body",
        files={},
        monthly_usd=usd,
        fingerprint=fingerprint,
        rule=RULE,
        account=ACCOUNT,
        region=REGION,
    )


def held(n: int, state: ProposalState, usd: float = 10.0, fingerprint: str = "f"):
    return ExistingProposal(
        finding_id=fid(n),
        state=state,
        reference=f"#{n}",
        fingerprint=fingerprint,
        monthly_usd=usd,
        rule=RULE,
        account=ACCOUNT,
        region=REGION,
    )


def decide(proposals, existing, limits=None, scope=SCOPE, scanned_with=None):
    return plan_sync(
        proposals,
        {e.finding_id: e for e in existing},
        scope,
        limits or Limits(),
        as_of="2026-03-01",
        scanned_with=scanned_with,
    )


def settled(plan) -> dict[str, Outcome]:
    return {r.finding_id: r.outcome for r in plan.settled}


def test_unchanged_fingerprint_is_settled_without_action_and_a_new_one_refreshes():
    plan = decide(
        [proposal(1), proposal(2, fingerprint="new")],
        [held(1, ProposalState.OPEN), held(2, ProposalState.OPEN)],
    )
    assert settled(plan) == {fid(1): Outcome.UNCHANGED}
    assert plan.actions == (Refresh(proposal(2, fingerprint="new")),)


def test_an_open_proposal_without_a_recorded_fingerprint_is_refreshed():
    plan = decide([proposal(1)], [held(1, ProposalState.OPEN, fingerprint="")])
    assert [type(a) for a in plan.actions] == [Refresh]


def test_human_closed_is_declined_until_the_cost_ratio_is_reached():
    closed = held(1, ProposalState.CLOSED_BY_HUMAN, usd=10.0)
    assert settled(decide([proposal(1, usd=19.99)], [closed])) == {fid(1): Outcome.DECLINED}
    plan = decide([proposal(1, usd=20.0)], [closed])
    (action,) = plan.actions
    assert isinstance(action, Create) and action.previous == closed
    assert "Proposed again" in action.proposal.body and "#1" in action.proposal.body
    strict = decide([proposal(1, usd=25.0)], [closed], Limits(reopen_cost_ratio=3.0))
    assert settled(strict) == {fid(1): Outcome.DECLINED}


def test_merged_is_never_proposed_again_and_reclaim_closed_is():
    plan = decide(
        [proposal(1), proposal(2)],
        [held(1, ProposalState.MERGED), held(2, ProposalState.CLOSED_BY_RECLAIM)],
    )
    assert settled(plan) == {fid(1): Outcome.ALREADY_MERGED}
    assert plan.actions == (Create(proposal(2)),)


def test_a_rolled_back_resource_is_never_proposed_again_and_the_result_says_why():
    restored = ExistingProposal(
        finding_id=fid(1),
        state=ProposalState.MERGED,
        reference="#7",
        monthly_usd=10.0,
        rule=RULE,
        account=ACCOUNT,
        region=REGION,
        applied=True,
        rolled_back=True,
    )
    plan = decide([proposal(1, usd=100.0)], [restored])  # even at ten times the cost
    assert plan.actions == ()
    (result,) = plan.settled
    assert result.outcome is Outcome.ALREADY_MERGED and result.reference == "#7"
    assert "rolled back by /rollback on #7" in result.note


def test_stale_only_within_completed_units():
    other_region = ExistingProposal(
        finding_id=f"{RULE}-{ACCOUNT}-eu-west-1-vol-9",
        state=ProposalState.OPEN,
        reference="#9",
        rule=RULE,
        account=ACCOUNT,
        region="eu-west-1",
    )
    skipped = ScanScope(completed=SCOPE.completed, skipped={fid(2): "tagged reclaim:skip"})
    plan = decide(
        [], [held(1, ProposalState.OPEN), held(2, ProposalState.OPEN), other_region], scope=skipped
    )
    closes = {a.existing.finding_id: a.reason for a in plan.actions if isinstance(a, Close)}
    assert set(closes) == {fid(1), fid(2)}
    assert "in use again or was deleted" in closes[fid(1)]
    assert "tagged reclaim:skip" in closes[fid(2)]
    # human-closed and merged proposals are never "closed" again
    assert decide([], [held(3, ProposalState.CLOSED_BY_HUMAN)]).actions == ()


def test_limits_count_open_proposals_and_keep_the_highest_savings():
    proposals = [proposal(n, usd=float(n)) for n in range(1, 8)]
    open_ones = [held(n, ProposalState.OPEN) for n in (20, 21)]  # open, still found
    plan = decide(
        [*proposals, proposal(20), proposal(21)],
        open_ones,
        Limits(max_open=5, max_new_per_run=4),
    )
    created = [a.proposal.finding_id for a in plan.actions if isinstance(a, Create)]
    assert created == [fid(7), fid(6), fid(5)]  # 5 - 2 open = 3 slots, most expensive first
    assert {k for k, v in settled(plan).items() if v is Outcome.WAITING} == {
        fid(n) for n in (1, 2, 3, 4)
    }
    per_run = decide(proposals, [], Limits(max_open=50, max_new_per_run=2))
    assert len([a for a in per_run.actions if isinstance(a, Create)]) == 2


def test_closing_stale_proposals_frees_their_slots_and_closes_come_first():
    plan = decide(
        [proposal(1, usd=5.0)],
        [held(2, ProposalState.OPEN)],
        Limits(max_open=1, max_new_per_run=5),
    )
    assert [type(a) for a in plan.actions] == [Close, Create]


# ---- what the next scan reads: held_after ----------------------------------------------


def test_held_after_applies_the_syncs_writes_to_what_the_forge_held():
    from datetime import UTC, datetime

    from generator.forge.base import ProposalResult
    from generator.forge.sync import held_after

    existing = {
        e.finding_id: e
        for e in (
            held(1, ProposalState.OPEN),
            held(2, ProposalState.MERGED),
            held(3, ProposalState.CLOSED_BY_HUMAN, usd=7.5),
            held(4, ProposalState.CLOSED_BY_RECLAIM),
            held(5, ProposalState.OPEN),
            held(6, ProposalState.CLOSED_BY_HUMAN),
        )
    }
    results = [
        ProposalResult(fid(5), Outcome.CLOSED, "#5"),  # stale: a candidate again
        ProposalResult(fid(4), Outcome.CREATED, "#14"),  # reclaim's close, reopened
        ProposalResult(fid(6), Outcome.REPROPOSED, "#16"),  # declined, saving grew
        ProposalResult(fid(7), Outcome.WAITING, ""),  # no slot: not held
    ]
    as_of = datetime(2026, 3, 1, tzinfo=UTC)

    written = held_after(existing, results, as_of)

    assert set(written.open) == {fid(1), fid(4), fid(6)} and written.open_count == 3
    assert written.merged == (fid(2),)
    assert written.declined == {fid(3): 7.5}
    assert written.as_of == as_of


def test_held_after_leaves_out_a_pr_whose_branch_names_no_finding():
    """A forge can hold a PR on a branch reclaim/<anything> (a hand-made one, a forgery): it
    is no finding's, so the proposals file leaves it out instead of failing propose."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from generator.forge.base import ProposalResult
    from generator.forge.sync import held_after

    odd = replace(held(9, ProposalState.OPEN), finding_id="forged")
    existing = {odd.finding_id: odd, fid(1): held(1, ProposalState.OPEN)}

    written = held_after(
        existing,
        [ProposalResult("reclaim/../x", Outcome.CREATED, "#3")],
        datetime(2026, 3, 1, tzinfo=UTC),
    )

    assert written.open == (fid(1),) and written.open_count == 1


# ---- what the scan confirmed: the proposals file it read ------------------------------


def test_a_finding_the_scans_file_held_is_not_opened_before_a_scan_confirms_it():
    """The scan did not confirm what its proposals file named held (a forged file, or one a
    human changed meanwhile): propose opens the others and lets that one wait a run."""
    from generator.held import Held

    scanned_with = Held(open_count=0, ids=frozenset({fid(1)}))
    plan = decide([proposal(1, usd=50.0), proposal(2), proposal(3)], [], scanned_with=scanned_with)

    assert [a.proposal.finding_id for a in plan.actions if isinstance(a, Create)] == [
        fid(2),
        fid(3),
    ]
    (waiting,) = plan.settled
    assert waiting.finding_id == fid(1) and waiting.outcome is Outcome.WAITING
    assert "not confirmed by this scan" in waiting.note


def test_no_more_are_opened_than_the_scan_had_slots_to_confirm():
    """An open count the file overstates (forged, or PRs closed since) gave the scan fewer
    slots: propose opens no more than it confirmed, even with slots free on the forge."""
    from generator.held import Held

    proposals = [proposal(n, usd=100.0 - n) for n in range(1, 6)]
    plan = decide(proposals, [], scanned_with=Held(open_count=8))
    assert [a.proposal.finding_id for a in plan.actions] == [fid(1), fid(2)]
    assert decide(proposals, [], scanned_with=Held(open_count=10)).actions == ()
    assert len(decide(proposals, []).actions) == 5  # no file read: as before


def test_a_file_that_left_out_a_held_pr_holds_back_that_units_new_ones():
    """The scan may have spent the unit's confirmations on the PR the file left out (a
    forged file, or one a write GitHub made but did not confirm): none of that unit's
    findings is opened this run; the next scan, with this run's file, confirms them."""
    from generator.held import Held

    plan = decide(
        [proposal(1, usd=90.0), proposal(2), proposal(3)],
        [held(1, ProposalState.OPEN, usd=90.0)],
        scanned_with=Held(open_count=1),
    )
    assert [a for a in plan.actions if isinstance(a, Create)] == []
    waiting = {r.finding_id: r.note for r in plan.settled if r.outcome is Outcome.WAITING}
    assert set(waiting) == {fid(2), fid(3)}
    assert all("left out a PR of this unit" in note for note in waiting.values())
    # The file as propose writes it: the unit's next findings are opened.
    plan = decide(
        [proposal(1, usd=90.0), proposal(2), proposal(3)],
        [held(1, ProposalState.OPEN, usd=90.0)],
        scanned_with=Held(open_count=1, ids=frozenset({fid(1)})),
    )
    assert [a.proposal.finding_id for a in plan.actions if isinstance(a, Create)] == [
        fid(2),
        fid(3),
    ]
