"""ScanContext.confirmed, the confirmation budget's rounds, over generated rankings: what a
rule's per-resource confirmation is asked for, and what the scan then yields.

Generated: how many findings a unit has (and their savings), which of them a confirmation
leaves alone, and the budget. The invariants are what propose relies on (the confirmed
findings are the highest-savings ones still standing) and what the issue bounds (calls are
O(budget), never one per finding)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.findings import Finding, SkippedResource
from generator.rules.context import CONFIRMATIONS_PER_SLOT
from tests.factories import volume_finding
from tests.rule_harness import context

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def _left_alone(finding: Finding) -> SkippedResource:
    return SkippedResource(
        account=finding.account,
        region=finding.region,
        rule=finding.rule,
        resource_id=finding.resource_id,
        reason="refused by the confirmation",
    )


def _findings(sizes: list[int]) -> list[Finding]:
    return [
        volume_finding(volume_id=f"vol-{n:017x}", size_gib=size) for n, size in enumerate(sizes)
    ]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), min_size=0, max_size=14),
    refused=st.sets(st.integers(min_value=0, max_value=13)),
    budget=st.integers(min_value=0, max_value=6),
)
def test_rounds_confirm_the_best_standing_findings_and_stop_at_twice_the_budget(
    sizes: list[int], refused: set[int], budget: int
) -> None:
    findings = _findings(sizes)
    refusing = {findings[n].resource_id for n in refused if n < len(findings)}
    asked: list[str] = []

    def confirm(batch: list[Finding]) -> dict[str, Finding | SkippedResource]:
        asked.extend(f.resource_id for f in batch)
        return {f.resource_id: _left_alone(f) if f.resource_id in refusing else f for f in batch}

    ctx = replace(context(as_of=AS_OF), confirm_budget=budget)
    yielded = list(ctx.confirmed(findings, confirm))

    ranked = [
        f.resource_id for f in sorted(findings, key=lambda f: (-f.cost.monthly_usd, f.resource_id))
    ]
    # Asked: a prefix of the ranking, each once, at most twice the budget.
    assert asked == ranked[: len(asked)]
    assert len(asked) <= CONFIRMATIONS_PER_SLOT * budget
    kept = [r for r in asked if r not in refusing]
    assert len(kept) <= budget
    # It stops early only when the budget is filled or the cap is reached.
    if len(asked) < len(ranked):
        assert len(kept) == budget or len(asked) == CONFIRMATIONS_PER_SLOT * budget
    # Every finding comes back once, in its order: a refused one as left alone.
    assert [item.resource_id for item in yielded] == [f.resource_id for f in findings]
    for item in yielded:
        left_alone = item.resource_id in refusing and item.resource_id in asked
        assert isinstance(item, SkippedResource) == left_alone
