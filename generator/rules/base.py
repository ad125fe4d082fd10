"""What every rule declares: its resource, settings, API calls, and pure plan builders.

A rule is declarative where it can be: the calls it names become the executor's allow-list
and the least-privilege IAM policy, its settings model validates reclaim.yml and documents
the thresholds, and its builders turn a Finding into manifests without touching AWS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from generator.findings import Finding, Reversibility, SkippedResource

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
