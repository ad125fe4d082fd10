"""A second opinion from AWS: does Cost Optimization Hub or Compute Optimizer also flag it?

Both are opt-in, and the read role may not be allowed to ask. Where they answer, each
finding gets what AWS says about the same resource: the action, the estimated monthly
savings (after discounts where AWS gives them: Cost Optimization Hub's estimate already
counts the account's discounts; Compute Optimizer reports ``savingsOpportunityAfterDiscounts``
beside the list-price one) and, from Cost Optimization Hub, ``rollbackPossible``. Where
they do not (not opted in, AccessDenied, any other error), that is said once per source and
account, and the scan goes on: a second opinion never changes a finding.

Cost Optimization Hub is a global service answered from us-east-1; Compute Optimizer is
regional. Response shapes: botocore's cost-optimization-hub 2022-07-26 and
compute-optimizer 2019-11-01 models.

Asked by the re-check of open PRs (generator.pipeline.second_opinion), with the scan's
read-only credentials: both reads are account-wide calls of the scan policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from generator.aws.retries import GaveUp, bound_retries

Source = Literal["Cost Optimization Hub", "Compute Optimizer"]
COH_REGION = "us-east-1"
CALLS: frozenset[tuple[str, str]] = frozenset(
    {
        ("cost-optimization-hub", "ListRecommendations"),
        ("compute-optimizer", "GetIdleRecommendations"),
    }
)
"""The read calls a second opinion makes (generator.aws.scan_policy grants them)."""
_REFUSALS = {
    "OptInRequiredException": "not opted in",
    "AccessDeniedException": "access denied",
    "AccessDenied": "access denied",
    "UnauthorizedOperation": "access denied",
}
_COH_IDS_PER_CALL = 100  # Filter.resourceIds: at most 100 (the model's ResourceIdList)


@dataclass(frozen=True)
class AwsOpinion:
    source: Source
    resource_id: str
    action: str
    """Cost Optimization Hub's actionType (Delete, Stop, ...), Compute Optimizer's finding
    (Idle, Unattached, Unused)."""
    monthly_usd: float | None
    after_discounts: bool
    rollback_possible: bool | None = None


@dataclass
class SecondOpinion:
    opinions: dict[str, list[AwsOpinion]] = field(default_factory=dict)
    """Resource ID → what each source that answered says about it."""
    unavailable: dict[Source, str] = field(default_factory=dict)
    """Source → why it gave no answer (said once, not per finding)."""

    def asked(self) -> list[Source]:
        sources: list[Source] = ["Cost Optimization Hub", "Compute Optimizer"]
        return [s for s in sources if s not in self.unavailable]

    def about(self, resource_id: str) -> list[AwsOpinion]:
        return self.opinions.get(resource_id, [])

    def corroborates(self, resource_id: str) -> bool:
        return bool(self.about(resource_id))

    def compare(self, resource_id: str, monthly_usd: float) -> list[str]:
        """One line per source, agreeing or not: a disagreement is shown, never hidden."""
        lines = []
        said = {o.source: o for o in self.about(resource_id)}
        for source in self.asked():
            opinion = said.get(source)
            if opinion is None:
                lines.append(f"{source}: does not flag this resource")
                continue
            text = f"{source}: also flags it ({opinion.action})"
            if opinion.monthly_usd is not None:
                basis = "after discounts" if opinion.after_discounts else "at list price"
                text += f", estimates ${opinion.monthly_usd:,.2f}/month {basis}"
                if abs(opinion.monthly_usd - monthly_usd) > max(0.01, 0.1 * monthly_usd):
                    text += f" (reclaim: ${monthly_usd:,.2f}/month)"
            if opinion.rollback_possible is not None:
                text += f"; rollbackPossible: {str(opinion.rollback_possible).lower()}"
            lines.append(text)
        for source, why in self.unavailable.items():
            lines.append(f"{source}: not asked ({why})")
        return lines


def _refusal(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return _REFUSALS.get(code, f"{code or 'error'}: {error}")
    return f"unreachable: {error}"


def _hub(client: Any, account: str, region: str, ids: list[str]) -> list[AwsOpinion]:
    bound_retries(client, "cost-optimization-hub", "ListRecommendations")
    found = []
    for start in range(0, len(ids), _COH_IDS_PER_CALL):
        pages = client.get_paginator("list_recommendations").paginate(
            filter={
                "accountIds": [account],
                "regions": [region],
                "resourceIds": ids[start : start + _COH_IDS_PER_CALL],
            }
        )
        for page in pages:
            for item in page.get("items", []):
                usd = item.get("currencyCode", "USD") == "USD"
                found.append(
                    AwsOpinion(
                        "Cost Optimization Hub",
                        item["resourceId"],
                        item.get("actionType", "?"),
                        item.get("estimatedMonthlySavings") if usd else None,
                        after_discounts=True,
                        rollback_possible=item.get("rollbackPossible"),
                    )
                )
    return found


def _idle(client: Any, account: str, wanted: set[str]) -> list[AwsOpinion]:
    bound_retries(client, "compute-optimizer", "GetIdleRecommendations")
    found = []
    params: dict[str, Any] = {"accountIds": [account]}
    while True:
        page = client.get_idle_recommendations(**params)
        for item in page.get("idleRecommendations", []):
            if item.get("resourceId") not in wanted:
                continue
            after = (item.get("savingsOpportunityAfterDiscounts") or {}).get(
                "estimatedMonthlySavings"
            )
            plain = (item.get("savingsOpportunity") or {}).get("estimatedMonthlySavings")
            chosen = after or plain
            usd = chosen is not None and chosen.get("currency", "USD") == "USD"
            found.append(
                AwsOpinion(
                    "Compute Optimizer",
                    item["resourceId"],
                    item.get("finding", "?"),
                    chosen.get("value") if usd and chosen else None,
                    after_discounts=after is not None,
                )
            )
        token = page.get("nextToken")
        if not token:
            return found
        params["nextToken"] = token


def second_opinion(
    client_for: Callable[[str, str], Any], account: str, region: str, resource_ids: Iterable[str]
) -> SecondOpinion:
    """What the two recommenders say about ``resource_ids`` of ``account`` in ``region``."""
    ids = sorted(set(resource_ids))
    result = SecondOpinion()
    if not ids:
        return result
    asks: list[tuple[Source, Callable[[], list[AwsOpinion]]]] = [
        (
            "Cost Optimization Hub",
            lambda: _hub(client_for("cost-optimization-hub", COH_REGION), account, region, ids),
        ),
        (
            "Compute Optimizer",
            lambda: _idle(client_for("compute-optimizer", region), account, set(ids)),
        ),
    ]
    for source, ask in asks:
        try:
            opinions = ask()
        except GaveUp as gave_up:  # a second opinion never stalls the proposal
            result.unavailable[source] = f"failed {gave_up.attempts} times ({gave_up.what})"
            continue
        except (ClientError, BotoCoreError) as error:
            result.unavailable[source] = _refusal(error)
            continue
        for opinion in opinions:
            result.opinions.setdefault(opinion.resource_id, []).append(opinion)
    return result
