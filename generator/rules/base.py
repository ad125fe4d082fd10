"""What every rule declares, and what the base class does for every rule.

A rule is one typed declaration, ``Rule[Settings, Record]``: its resource, its settings
model (which validates reclaim.yml and documents the thresholds), its record model (what a
finding carries and its manifests are built from), the API calls it makes (the executor's
allow-list and the least-privilege IAM policies), its README row, and optionally its
remediation: pure builders composed from generator.manifest.steps that turn a finding into
plan and rollback steps without touching AWS. How to write one: docs/rules.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypeVar

from generator.aws.listings import Listing
from generator.errors import ManifestError, describe_validation_error
from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
    finding_id,
    reproposal_id,
    scanned_finding,
)
from generator.iam.actions import ApiCall as ApiCall  # re-exported: rules' name for a call
from generator.iam.scopes import ActionScope
from generator.manifest.models import Plan, Rollback, Step
from generator.rules.context import FindingRecords

if TYPE_CHECKING:
    from generator.aws.prices import PriceTable
    from generator.ledger import PlanHistory
    from generator.rules.context import ScanContext


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class OptInRemediation(RuleSettings):
    """The settings of a rule whose change is opt-in: until ``remediate: true`` is set for
    it in reclaim.yml, its findings are reported (scan output, dashboard) as report-only and
    never planned, and apply refuses its plans (it reads the default branch's reclaim.yml)."""

    remediate: bool = Field(
        default=False,
        description="Propose the change as a pull request. Off (the default): findings are "
        "reported only; apply refuses this rule's plans until it is set on the default branch.",
    )


@dataclass(frozen=True)
class RuleCalls:
    """Every AWS call a rule may make, by purpose. Read-only calls used by pre-checks,
    lookups and waiters belong to ``apply``/``rollback`` too: the allow-list is exact.

    ``scopes`` narrows the IAM grant of the rule's actions (keyed by IAM action, e.g.
    ``ec2:DeleteVolume``): the resource ARNs and condition keys this rule needs, and nothing
    another rule needs. Every write action must have one (the catalog test holds every rule
    to it); a read left out is granted on ``*``."""

    scan: frozenset[ApiCall]
    apply: frozenset[ApiCall]
    rollback: frozenset[ApiCall]
    scopes: Mapping[str, ActionScope] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleDocs:
    """The rule's row in the README's rules table (Markdown), generated from here."""

    finds: str
    change: str | None = None
    """None for a report-only rule."""
    undo: str | None = None


@dataclass(frozen=True)
class BackupCost:
    """What the backup a plan keeps goes on costing after the apply, and for how long.

    A finding's saving is what the change stops paying; while the backup is kept, the
    account pays this instead, so the saving net of it is what a reviewer can believe."""

    what: str
    """The backup, in words ("the backup snapshot of vol-1")."""
    monthly_usd: float
    """At most this a month (``upper_bound``) or about this."""
    basis: str
    """How the figure was computed, from the bundled price table."""
    kept_days: int | None = None
    """Days after the apply the backup is kept (the rule's backup_retention_days), or None
    when nothing deletes it."""
    upper_bound: bool = True
    then: BackupCost | None = None
    """What stays billed once this backup's ``kept_days`` are over, until its own
    ``kept_days`` after the apply (a volume in the Recycle Bin, then its snapshot alone)."""


@dataclass(frozen=True)
class BillFootprint:
    """Where a rule's resource shows on the bill: its own usage types, and those its cost
    can move to after the change (regular expressions searched in Cost Explorer's
    USAGE_TYPE, which carries a region prefix such as ``USE1-``)."""

    own: str
    moved: str | None = None
    resource_level: bool = False
    """The resource is in EC2-Compute's resource-level data (an instance)."""


@dataclass(frozen=True)
class MaterialChange:
    """When a finding on a resource a /rollback restored is proposed again: only when its
    evidence changed this much since the rolled-back plan was approved. It is then a new
    plan (a new ID, never the rolled-back one's) whose PR links the rollback; otherwise the
    resource is left alone, with the reason. What the rolled-back plan was approved on is
    its plan.json on the default branch, and when it was rolled back is its journal's."""

    savings_ratio: float = 2.0
    """The monthly saving is at least this multiple of the rolled-back plan's."""
    idle_days_after_rollback: int | None = None
    """Or: the resource has been idle at least this many days, all of them after the
    rollback started (the rule's ``idle_since``). None: a rule whose evidence has no idle
    clock is proposed again on its saving only."""

    def describe(self) -> str:
        words = f"a saving at least {self.savings_ratio:g}x the rolled-back plan's"
        if self.idle_days_after_rollback is not None:
            words += f", or idle {self.idle_days_after_rollback} days since the rollback"
        return words

    def reason(self, now: Finding, idle_since: datetime | None, before: PlanHistory) -> str | None:
        """Why ``now`` is material news since ``before`` was rolled back; None: it is not."""
        was, is_ = before.finding.cost, now.cost
        priced = not is_.unknown and not was.unknown and is_.monthly_usd > 0
        if priced and is_.monthly_usd >= self.savings_ratio * was.monthly_usd:
            return (
                f"it now saves ${is_.monthly_usd:,.2f}/month, at least "
                f"{self.savings_ratio:g}x the ${was.monthly_usd:,.2f}/month of the "
                "rolled-back plan"
            )
        rolled_back = before.rolled_back_at
        days = self.idle_days_after_rollback
        if days is not None and idle_since is not None and rolled_back is not None:
            idle = now.observed_at - idle_since
            if idle_since >= rolled_back and idle >= timedelta(days=days):
                return (
                    f"idle since {idle_since:%Y-%m-%d}, {idle.days} days, all after the "
                    f"rollback of {rolled_back:%Y-%m-%d} (at least {days})"
                )
        return None


SettingsT = TypeVar("SettingsT", bound=RuleSettings, default=RuleSettings)
RecordT = TypeVar("RecordT", bound=BaseModel, default=BaseModel)


@dataclass(frozen=True)
class ManifestBody:
    """What a rule writes of a plan or a rollback; the base class adds the envelope (plan
    ID, rule, account, region, the finding) that is the same for every rule."""

    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()


class Rule(ABC, Generic[SettingsT, RecordT]):
    """One waste kind, declared: what it scans, with which settings, what a finding records,
    which calls it makes, and (unless it is report-only) how to change and undo it.

    The base class does what no rule may forget or do differently: it checks the settings'
    type, passes every finding through the exclusions (skip tag and ID patterns), derives
    the finding ID, validates the record of a finding in one place, and wraps the steps a
    rule composes into the Plan/Rollback envelope. A rule whose ``reversibility`` is
    ``report-only`` declares no remediation: it is scanned and reported, never planned.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    resource_type: ClassVar[str]
    reversibility: ClassVar[Reversibility]
    graded_by_setting: ClassVar[Mapping[str, Reversibility]] = {}
    """A better grade a finding carries when a setting is on (setting name → grade), e.g.
    logs-retention's ``export_bucket`` makes it full: the docs name it beside the grade."""
    docs: ClassVar[RuleDocs]
    settings_model: type[SettingsT]
    record_model: type[RecordT]
    """The typed resource record a finding carries; its manifests are built from it."""
    calls: ClassVar[RuleCalls]
    home_region: ClassVar[str | None] = None
    """For a global service (CloudFront): scanned once per account, through this region,
    whatever regions are configured. None for regional rules."""
    bill_footprint: ClassVar[BillFootprint | None] = None
    """Where the resource shows on the bill, for realized savings (generator.realized);
    None: its applied changes are counted, not measured."""
    material_change: ClassVar[MaterialChange] = MaterialChange()
    """When a resource a /rollback restored is proposed again (generator.rules.base)."""
    listings: ClassVar[tuple[Listing, ...]] = ()
    """The account-region listings the scan reads through ``ctx.listing`` and shares with
    other rules (generator.aws.listings): rules declaring the same one run together and
    read each page as it comes. Judged page by page unless declared ``read_whole``. At
    most one of them is paginated; single-answer ones (``paginated=False``) are not limited."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "reversibility"):
            return  # an intermediate base, not a rule
        remediates = cls.plan is not Rule.plan or cls.rollback is not Rule.rollback
        report_only = cls.reversibility == "report-only"
        if remediates == report_only or (cls.plan is Rule.plan) != (cls.rollback is Rule.rollback):
            raise TypeError(
                f"rule {cls.__name__}: a report-only rule declares no plan and no rollback; "
                "any other declares both"
            )
        paginated = [listing.operation for listing in cls.listings if listing.paginated]
        if len(paginated) > 1:
            # Readers of a paginated shared listing wait for each other page by page: two
            # rules reading two of them in opposite orders would wait for ever. A
            # single-answer listing waits for no one, so any number of those may be shared.
            raise TypeError(
                f"rule {cls.__name__}: declares {len(paginated)} paginated shared listings "
                f"({', '.join(paginated)}); a rule shares at most one paginated listing, "
                "beside any number of single-answer ones (read any other through ctx.pages, "
                "which is its own)"
            )

    # ---- what a rule writes --------------------------------------------------------------

    @abstractmethod
    def scan(self, ctx: ScanContext, settings: SettingsT) -> Iterator[Finding | SkippedResource]:
        """Yield findings, and the resources deliberately left alone with the reason."""

    @abstractmethod
    def resource_of(self, record: RecordT) -> str:
        """The ID of the resource a finding's manifests act on (what the exclusion patterns
        match, and the resource part of the finding ID before `id_part`)."""

    @abstractmethod
    def tags_of(self, record: RecordT) -> Mapping[str, str]:
        """The resource's tags as recorded (what the skip tag is looked for in)."""

    def plan(self, finding: Finding, record: RecordT) -> ManifestBody:
        """Pure: the plan's steps and notes. Leave it out for a report-only rule."""
        raise NotImplementedError

    def rollback(self, finding: Finding, record: RecordT) -> ManifestBody:
        """Pure: the rollback's steps and notes. Leave it out for a report-only rule."""
        raise NotImplementedError

    def idle_since(self, record: RecordT) -> datetime | None:
        """Pure: since when the record's evidence shows the resource idle, for a rule whose
        ``material_change`` counts idle days after a rollback. None: no idle clock."""
        return None

    def backup_cost(self, record: RecordT, prices: PriceTable) -> BackupCost | None:
        """Pure: what the backup the plan keeps costs a month, from the record and the
        price table. None for a rule whose plan keeps no backup that is billed."""
        return None

    # ---- what the scan, the planner, validation and the executor call -------------------

    @property
    def report_only(self) -> bool:
        return self.reversibility == "report-only"

    def remediates(self, settings: RuleSettings) -> bool:
        """Whether, with these settings, this rule's findings may be planned and applied: a
        report-only rule never, an opt-in one (``OptInRemediation``) only when enabled."""
        if isinstance(settings, OptInRemediation):
            return not self.report_only and settings.remediate
        return not self.report_only

    def detect(
        self, ctx: ScanContext, settings: RuleSettings
    ) -> Iterator[Finding | SkippedResource]:
        """`scan`, with every finding passed through the exclusions: a rule may apply them
        earlier (to save calls), it cannot forget them. A finding on a resource a /rollback
        restored is proposed again only on material change (``_after_rollback``)."""
        if not isinstance(settings, self.settings_model):
            raise TypeError(
                f"rule {self.name} takes {self.settings_model.__name__}, "
                f"not {type(settings).__name__}"
            )
        remediates = self.remediates(settings)
        records = FindingRecords()

        def judged(finding: Finding) -> Finding | SkippedResource:
            return self._judged(ctx, finding, remediates, records.of(finding))

        # The rule's scan ranks its per-resource confirmations by what this judgement makes
        # of its findings (ScanContext.confirmed): a finding it drops takes no slot.
        for item in self.scan(replace(ctx, judge=judged, records=records), settings):
            yield judged(item) if isinstance(item, Finding) else item

    def _judged(
        self, ctx: ScanContext, finding: Finding, remediates: bool, built: BaseModel | None
    ) -> Finding | SkippedResource:
        """What detection makes of a finding the rule's scan yielded: left alone if the
        exclusions skip its record, report-only while remediation is opt-in and off, and
        after a /rollback, proposed again only on material change. ``built``: the record
        the finding was made from (``FindingRecords``), else validated from the finding."""
        record = built if isinstance(built, self.record_model) else self.record(finding)
        reason = ctx.exclusions.reason_to_skip(self.resource_of(record), self.tags_of(record))
        if reason is not None:
            return self.skipped(ctx, finding.resource_id, reason)
        if finding.reversibility == "report-only":
            return finding
        if not remediates:  # opt-in remediation not enabled: reported, never proposed
            return finding.model_copy(update={"reversibility": "report-only"})
        return self._after_rollback(ctx, finding, record)

    def _after_rollback(
        self, ctx: ScanContext, finding: Finding, record: RecordT
    ) -> Finding | SkippedResource:
        """A finding on a resource a /rollback restored (per the default branch's journals):
        left alone unless its evidence changed materially (``material_change``), then
        proposed again under a new plan ID, with the rollback in its evidence."""
        before = ctx.rollback_of(finding)
        if before is None or before.rolled_back_at is None:
            return finding
        when = f"{before.rolled_back_at:%Y-%m-%d}"
        why = self.material_change.reason(finding, self.idle_since(record), before)
        if why is None:
            return self.skipped(
                ctx,
                finding.resource_id,
                f"restored by /rollback of {before.plan_id} on {when}: not proposed again "
                f"until its evidence changes materially ({self.material_change.describe()})",
            )
        renamed = finding.model_copy(update={"supersedes": before.plan_id})
        return renamed.model_copy(
            update={
                "id": self.derived_id(renamed),
                "evidence": (
                    *finding.evidence,
                    Evidence(
                        label="Rolled back before",
                        value=f"plan {before.plan_id}, rolled back on {when}; proposed "
                        f"again because {why}",
                        source=f"journal.json of {before.plan_id} on the default branch",
                    ),
                ),
            }
        )

    def record(self, finding: Finding) -> RecordT:
        """The finding's record, validated against this rule's record model (the one place
        a finding's free-form ``resource`` becomes typed). A record in another shape (a
        hand-edited plan.json or findings file) is a ManifestError naming the key path."""
        try:
            return self.record_model.model_validate(finding.resource)
        except ValidationError as error:
            raise ManifestError(
                describe_validation_error(f"{finding.id}: finding.resource", error),
                hint="regenerate it with `reclaim plan` from what `reclaim scan` wrote; "
                "findings and manifests are never edited by hand",
            ) from None

    def acted_on(self, finding: Finding) -> str:
        """Pure: the ID of the resource this finding's manifests act on, read from its
        record (what the builders use), never from the finding's free-standing fields."""
        return self.resource_of(self.record(finding))

    def build_plan(self, finding: Finding) -> Plan:
        """Pure: the plan for this finding, from the finding alone."""
        body = self.plan(finding, self._remediable(finding))
        return Plan(
            plan_id=finding.id,
            rule=self.name,
            account=finding.account,
            region=finding.region,
            finding=finding,
            steps=body.steps,
            notes=body.notes,
        )

    def build_rollback(self, finding: Finding) -> Rollback:
        """Pure: the rollback for this finding, from the finding alone."""
        body = self.rollback(finding, self._remediable(finding))
        return Rollback(
            plan_id=finding.id,
            rule=self.name,
            account=finding.account,
            region=finding.region,
            steps=body.steps,
            notes=body.notes,
        )

    def backup_cost_of(self, finding: Finding, prices: PriceTable) -> BackupCost | None:
        """Pure: the backup cost of this finding's plan (None for a report-only rule)."""
        if self.report_only:
            return None
        return self.backup_cost(self.record(finding), prices)

    def _remediable(self, finding: Finding) -> RecordT:
        if self.report_only:
            raise ManifestError(f"rule {self.name} is report-only: it plans no change")
        if finding.reversibility == "report-only":
            why = (
                "unless `remediate: true` is set for it in reclaim.yml"
                if issubclass(self.settings_model, OptInRemediation)
                else "for it (its risk reasons say why)"
            )
            raise ManifestError(
                f"{finding.id} was reported only: rule {self.name} plans no change {why}"
            )
        return self.record(finding)

    # ---- names: derived, never chosen ---------------------------------------------------

    def id_part(self, resource_id: str) -> str:
        """The resource part of a finding ID. Overridden where a resource ID is not safe in
        one (a log group's name holds '/')."""
        return resource_id

    def derived_id(self, finding: Finding) -> str:
        """The only ID this finding may have: its rule, account, region and the resource its
        manifests act on. Folder name, plan ID and finding ID must all equal it."""
        base = finding_id(
            self.name, finding.account, finding.region, self.id_part(self.acted_on(finding))
        )
        return reproposal_id(base, finding.supersedes)

    # ---- shared by every rule's detection ------------------------------------------------

    def new_finding(
        self,
        ctx: ScanContext,
        *,
        title: str,
        cost: Cost,
        risk: Risk,
        risk_reasons: Iterable[str],
        evidence: Iterable[Evidence],
        record: RecordT,
        resource_type: str | None = None,
    ) -> Finding:
        """A finding in this rule's scan unit, observed at the scan's as-of instant.

        ``record`` is the rule's typed resource record (the manifests are built from it);
        the resource and the ID are derived from it (`resource_of`, `id_part`), as
        `derived_id` checks them: a rule cannot name a finding for anything else.
        ``resource_type`` is for a report-only rule reporting more than one kind (the
        rule's own ``resource_type`` otherwise)."""
        resource_id = self.resource_of(record)
        finding = scanned_finding(
            id=finding_id(self.name, ctx.account_id, ctx.region, self.id_part(resource_id)),
            rule=self.name,
            account=ctx.account_id,
            region=ctx.region,
            resource_type=resource_type or self.resource_type,
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
        if ctx.records is not None:
            ctx.records.keep(finding, record)
        return finding

    def skipped(self, ctx: ScanContext, resource_id: str, reason: str) -> SkippedResource:
        """A resource this rule looked at in ctx's unit and deliberately left alone."""
        return SkippedResource(
            account=ctx.account_id,
            region=ctx.region,
            rule=self.name,
            resource_id=resource_id,
            reason=reason,
        )
