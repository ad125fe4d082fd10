"""Re-observation: before apply changes anything, the rule looks at the resource again.

plan.json records a finding, but every byte of a pull request is untrusted: its author could
have written a finding the scan never made (a volume that is not idle, a skip tag renamed in
the record, a retention of 1 day under a PR titled "90 days"). So apply believes none of it.
It runs the rule's own detection again, now, in the plan's account and region, with the rule
settings, exclusions and skip tag of the reclaim.yml it was started with (the default
branch's) and the first-seen clocks of that branch's state file, and proceeds only when the
rule still produces this finding and the manifests derived from that observation are exactly
plan.json and rollback.json. The recorded finding only says which resource to look at.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from generator.aws.prices import PriceTable, bundled_prices
from generator.config import ReclaimConfig
from generator.errors import ConfigError, PrecheckFailed
from generator.findings import Finding, SkippedResource
from generator.ledger import Ledger, ledger_of
from generator.manifest.diff import first_difference
from generator.manifest.models import Plan, Rollback
from generator.rules import rule_for
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.state import SeenState

ClientFor = Callable[[str, str], Any]


def record_digest(finding: Finding) -> str:
    """The digest of a finding's resource record, as the journal keeps it."""
    text = json.dumps(finding.resource, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Observation:
    finding: Finding
    at: datetime


class Observer(Protocol):
    def observe(self, plan: Plan, client_for: ClientFor, as_of: datetime) -> Observation:
        """The plan's finding as the rule makes it now; PrecheckFailed when it does not."""
        ...


@dataclass(frozen=True)
class RuleObserver:
    """Observes a plan's resource through its rule, with trusted settings.

    ``config`` is the reclaim.yml of the branch the run started from; ``state`` its
    first-seen clocks (read, never saved: an apply does not move the scan's clocks)."""

    config: ReclaimConfig
    state: SeenState
    prices: PriceTable | None = None
    ledger: Ledger | None = None
    """The default branch's journals; None: read from ``config``'s remediations folder."""

    @classmethod
    def from_config(cls, config: ReclaimConfig) -> RuleObserver:
        return cls(config=config, state=SeenState(config.state_path))

    def observe(self, plan: Plan, client_for: ClientFor, as_of: datetime) -> Observation:
        rule = rule_for(plan.rule)
        settings = self.config.rule_settings(rule.name)
        if not settings.enabled:
            raise ConfigError(
                f"{plan.plan_id}: rule {rule.name!r} is disabled in reclaim.yml; nothing was "
                "changed",
                hint="enable the rule on the default branch to apply its plans, or close the PR",
            )
        if not rule.remediates(settings):
            raise ConfigError(
                f"{plan.plan_id}: rule {rule.name!r} only reports in reclaim.yml (its change is "
                "opt-in and `remediate` is not true); nothing was changed",
                hint=f"set rules.{rule.name}.remediate: true on the default branch to apply its "
                "plans, or close the PR",
            )
        ctx = ScanContext(
            account_id=plan.account,
            region=plan.region,
            as_of=as_of,
            client=lambda service: client_for(service, plan.region),
            prices=self.prices or bundled_prices(),
            exclusions=self.config.exclusions,
            state=self.state,
            # A per-resource confirmation (ec2-idle's stop protection) is the plan's own
            # pre-check, run before any change: re-asking it here for every resource of the
            # unit would cost one call per resource at every apply.
            confirm_budget=0,
            ledger=self.ledger if self.ledger is not None else ledger_of(self.config),
        )
        wanted = plan.plan_id
        resource = plan.finding.resource_id
        left_alone: str | None = None
        for item in detect_declared(rule, ctx, settings):
            if isinstance(item, Finding) and item.id == wanted:
                return Observation(item, as_of)
            if isinstance(item, SkippedResource) and item.resource_id == resource:
                left_alone = item.reason
        if left_alone is not None:
            raise PrecheckFailed(
                f"{wanted}: looked at again now, rule {rule.name!r} leaves {resource} alone "
                f"({left_alone}); nothing was changed",
                hint="close this PR; reclaim proposes again if the resource becomes idle",
            )
        raise PrecheckFailed(
            f"{wanted}: looked at again now, rule {rule.name!r} does not find {resource} idle "
            f"in account {plan.account}, {plan.region} (it is gone, in use, or not what the "
            "scan saw); nothing was changed",
            hint="close this PR; the next scan proposes again if the resource is still idle",
        )


def check_observed(plan: Plan, rollback: Rollback, observed: Finding) -> None:
    """The manifests derived from the observation must be exactly the reviewed ones."""
    rule = rule_for(plan.rule)
    derived_plan = rule.build_plan(observed).model_copy(update={"finding": plan.finding})
    derived_rollback = rule.build_rollback(observed)
    for reviewed, derived in ((plan, derived_plan), (rollback, derived_rollback)):
        if reviewed == derived:
            continue
        where = first_difference(
            derived.model_dump(mode="json"),
            reviewed.model_dump(mode="json"),
            expected_by="the resource as observed now gives",
        )
        record = ""
        if observed.resource != plan.finding.resource:
            record = "; in the record, " + first_difference(
                observed.resource, plan.finding.resource, expected_by="observed now"
            )
        raise PrecheckFailed(
            f"{plan.plan_id}: the resource or reclaim.yml changed since the PR was opened, so "
            f"{reviewed.kind_label()} is no longer what the rule derives: {where}{record}; "
            "nothing was changed",
            hint="close this PR; the next scan proposes the resource as it is now",
        )
