"""What every rule declares: its resource, settings, API calls, and pure plan builders.

A rule is declarative where it can be: the calls it names become the executor's allow-list
and the least-privilege IAM policy, its settings model validates reclaim.yml and documents
the thresholds, and its builders turn a Finding into manifests without touching AWS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
    finding_id,
)

if TYPE_CHECKING:
    from generator.manifest.models import Plan, Rollback
    from generator.rules.context import ScanContext

ApiCall = tuple[str, str]
"""(boto3 service name, AWS operation name), e.g. ("ec2", "DeleteVolume")."""


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@dataclass(frozen=True)
class RuleCalls:
    """Every AWS call a rule may make, by purpose. Read-only calls used by pre-checks,
    lookups and waiters belong to ``apply``/``rollback`` too: the allow-list is exact."""

    scan: frozenset[ApiCall]
    apply: frozenset[ApiCall]
    rollback: frozenset[ApiCall]


class Rule(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    resource_type: ClassVar[str]
    reversibility: ClassVar[Reversibility]
    settings_model: ClassVar[type[RuleSettings]]
    calls: ClassVar[RuleCalls]
    home_region: ClassVar[str | None] = None
    """For a global service (CloudFront): scanned once per account, through this region,
    whatever regions are configured. None for regional rules."""

    @abstractmethod
    def detect(
        self, ctx: ScanContext, settings: RuleSettings
    ) -> Iterator[Finding | SkippedResource]:
        """Yield findings, and the resources deliberately left alone with the reason."""

    @abstractmethod
    def build_plan(self, finding: Finding) -> Plan:
        """Pure: the plan for this finding, from the finding alone."""

    @abstractmethod
    def build_rollback(self, finding: Finding) -> Rollback:
        """Pure: the rollback for this finding, from the finding alone."""

    @abstractmethod
    def acted_on(self, finding: Finding) -> str:
        """Pure: the ID of the resource this finding's manifests act on, read from its
        record (what the builders use), never from the finding's free-standing fields."""

    # ---- names: derived, never chosen ---------------------------------------------------

    def id_part(self, resource_id: str) -> str:
        """The resource part of a finding ID. Overridden where a resource ID is not safe in
        one (a log group's name holds '/')."""
        return resource_id

    def derived_id(self, finding: Finding) -> str:
        """The only ID this finding may have: its rule, account, region and the resource its
        manifests act on. Folder name, plan ID and finding ID must all equal it."""
        return finding_id(
            self.name, finding.account, finding.region, self.id_part(self.acted_on(finding))
        )

    # ---- shared by every rule's detection ------------------------------------------------

    def new_finding(
        self,
        ctx: ScanContext,
        *,
        resource_id: str,
        title: str,
        cost: Cost,
        risk: Risk,
        risk_reasons: Iterable[str],
        evidence: Iterable[Evidence],
        record: BaseModel,
    ) -> Finding:
        """A finding in this rule's scan unit, observed at the scan's as-of instant.

        ``record`` is the rule's typed resource record (the manifests are built from it);
        the ID's resource part is ``id_part(resource_id)``, as `derived_id` checks it."""
        return Finding(
            id=finding_id(self.name, ctx.account_id, ctx.region, self.id_part(resource_id)),
            rule=self.name,
            account=ctx.account_id,
            region=ctx.region,
            resource_type=self.resource_type,
            resource_id=resource_id,
            title=title,
            observed_at=ctx.as_of,
            cost=cost,
            reversibility=self.reversibility,
            risk=risk,
            risk_reasons=tuple(risk_reasons),
            evidence=tuple(evidence),
            resource=record.model_dump(mode="json"),
        )

    def skipped(self, ctx: ScanContext, resource_id: str, reason: str) -> SkippedResource:
        """A resource this rule looked at in ctx's unit and deliberately left alone."""
        return SkippedResource(
            account=ctx.account_id,
            region=ctx.region,
            rule=self.name,
            resource_id=resource_id,
            reason=reason,
        )
