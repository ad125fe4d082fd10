"""AWS's second opinion on each open PR, from the re-check of open PRs (check-open).

For every PR whose finding still holds, Cost Optimization Hub and Compute Optimizer are
asked about its resource (generator.aws.recommenders, once per account and region), and the
PR gets one comment, rewritten in place, saying what each source that answered says:
also flags it (its action, savings after discounts where given, rollbackPossible) or does
not. A source that is not opted in or refused is said once in the job's output, and on a
PR only beside a source that did answer; no source answering means no comment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from rich.console import Console

from generator.aws.recommenders import SecondOpinion, second_opinion
from generator.errors import ReclaimError
from generator.executor.observe import ClientFor
from generator.manifest.models import Plan

MARKER = "<!-- reclaim:second-opinion -->"


class Commenter(Protocol):
    def upsert_comment(self, number: int, marker: str, body: str) -> str: ...


class _Held(Protocol):
    @property
    def plan(self) -> Plan | None: ...
    @property
    def observed(self) -> Any: ...


def opinion_comment(opinion: SecondOpinion, resource_id: str, monthly_usd: float) -> str | None:
    """The PR comment, or None when no source answered."""
    if not opinion.asked():
        return None
    lines = "\n".join(f"- {line}" for line in opinion.compare(resource_id, monthly_usd))
    flagged = (
        "AWS also flags this resource"
        if opinion.corroborates(resource_id)
        else ("AWS does not flag this resource")
    )
    return (
        f"{MARKER}\n#### A second opinion from AWS: {flagged}\n{lines}\n\n"
        f"<sub>reclaim estimates ${monthly_usd:,.2f}/month; asked again by each scheduled "
        "scan. A disagreement is shown, not resolved: the plan is reclaim's own.</sub>"
    )


def comment_second_opinions(
    verdicts: Sequence[_Held],
    client_for: Callable[[Plan], ClientFor],
    commenter: Commenter,
    pull_of: Mapping[str, int],
    out: Console,
) -> dict[str, bool]:
    """Finding ID → whether AWS corroborates it, for the PRs whose finding still holds."""
    groups: dict[tuple[str, str], list[_Held]] = {}
    for verdict in verdicts:
        if verdict.observed is not None and verdict.plan is not None:
            key = (verdict.observed.account, verdict.observed.region)
            groups.setdefault(key, []).append(verdict)
    said: set[str] = set()
    corroborated: dict[str, bool] = {}
    for (account, region), held in groups.items():
        assert held[0].plan is not None
        opinion = second_opinion(
            client_for(held[0].plan), account, region, [v.observed.resource_id for v in held]
        )
        for source, why in opinion.unavailable.items():
            if source not in said:
                said.add(source)
                out.print(f"second opinion: {source} not asked ({why})", highlight=False)
        for verdict in held:
            finding = verdict.observed
            corroborated[finding.id] = opinion.corroborates(finding.resource_id)
            body = opinion_comment(opinion, finding.resource_id, finding.cost.monthly_usd)
            number = pull_of.get(finding.id)
            if body is None or number is None:
                continue
            try:
                commenter.upsert_comment(number, MARKER, body)
            except ReclaimError as error:
                out.print(f"#{number}: second opinion not commented: {error.message}")
    return corroborated
