"""What the Rule base class does for every rule, so that no rule can forget or vary it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from generator.aws.listings import Listing
from generator.aws.prices import bundled_prices
from generator.errors import ManifestError
from generator.exclusions import Exclusions
from generator.findings import Finding, Reversibility, SkippedResource
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.state import SeenState

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


class ThingSettings(RuleSettings):
    pass


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thing_id: str
    tags: dict[str, str] = {}
    skip_tag: str


class ReportsEverything(Rule[ThingSettings, Thing]):
    """A report-only rule that applies no exclusion itself."""

    name: ClassVar[str] = "toy-things"
    summary: ClassVar[str] = "Things"
    resource_type: ClassVar[str] = "Toy::Thing"
    reversibility: ClassVar[Reversibility] = "report-only"
    docs: ClassVar[RuleDocs] = RuleDocs(finds="every thing")
    settings_model = ThingSettings
    record_model = Thing
    calls: ClassVar[RuleCalls] = RuleCalls(frozenset(), frozenset(), frozenset())

    things: ClassVar[tuple[Thing, ...]] = ()

    def scan(
        self, ctx: ScanContext, settings: ThingSettings
    ) -> Iterator[Finding | SkippedResource]:
        for thing in self.things:
            yield self.new_finding(
                ctx,
                title=f"thing {thing.thing_id}",
                cost=ctx.prices.cost(1.0, ctx.region, "toy"),
                risk="low",
                risk_reasons=(),
                evidence=(),
                record=thing,
            )

    def resource_of(self, record: Thing) -> str:
        return record.thing_id

    def tags_of(self, record: Thing) -> Mapping[str, str]:
        return record.tags


def _ctx(exclusions: Exclusions) -> ScanContext:
    return ScanContext(
        account_id="123456789012",
        region="us-east-1",
        as_of=AS_OF,
        client=lambda service: None,
        prices=bundled_prices(),
        exclusions=exclusions,
        state=SeenState(None),
    )


def _detect(rule: Rule[Any, Any], exclusions: Exclusions) -> list[Finding | SkippedResource]:
    return list(rule.detect(_ctx(exclusions), rule.settings_model()))


def test_the_base_class_applies_the_skip_tag_and_id_patterns_the_rule_forgot() -> None:
    rule = ReportsEverything()
    rule.things = (
        Thing(thing_id="t-1", skip_tag="keep", tags={"keep": ""}),
        Thing(thing_id="t-2", skip_tag="keep"),
        Thing(thing_id="t-3", skip_tag="keep"),
    )
    found = _detect(rule, Exclusions(skip_tag="keep", resource_ids=("t-3",)))
    assert [type(item).__name__ for item in found] == [
        "SkippedResource",
        "Finding",
        "SkippedResource",
    ]
    skipped = [item for item in found if isinstance(item, SkippedResource)]
    assert [s.resource_id for s in skipped] == ["t-1", "t-3"]
    assert "skip tag 'keep'" in skipped[0].reason
    assert "'t-3'" in skipped[1].reason


def test_settings_of_another_rule_are_refused() -> None:
    with pytest.raises(TypeError, match="ThingSettings"):
        list(ReportsEverything().detect(_ctx(Exclusions()), RuleSettings()))


def test_a_report_only_rule_is_never_planned() -> None:
    rule = ReportsEverything()
    rule.things = (Thing(thing_id="t-1", skip_tag="reclaim:skip"),)
    (finding,) = _detect(rule, Exclusions())
    assert isinstance(finding, Finding)
    assert finding.reversibility == "report-only"
    assert rule.acted_on(finding) == "t-1" and rule.derived_id(finding) == finding.id
    with pytest.raises(ManifestError, match="report-only"):
        rule.build_plan(finding)
    with pytest.raises(ManifestError, match="report-only"):
        rule.build_rollback(finding)


def test_remediation_is_declared_whole_or_not_at_all() -> None:
    with pytest.raises(TypeError, match="report-only"):

        class PlansAnyway(ReportsEverything):  # report-only, yet a plan
            def plan(self, finding: Finding, record: Thing) -> ManifestBody:
                raise AssertionError

            def rollback(self, finding: Finding, record: Thing) -> ManifestBody:
                raise AssertionError

    with pytest.raises(TypeError, match="report-only"):

        class NoUndo(ReportsEverything):  # a change without its undo
            reversibility: ClassVar[Reversibility] = "full"

            def plan(self, finding: Finding, record: Thing) -> ManifestBody:
                raise AssertionError


def test_a_rule_shares_at_most_one_paginated_listing() -> None:
    """Readers of a paginated shared listing wait for each other page by page, so two rules
    each reading two of them, in opposite orders, would wait for ever: refused when the
    rule is declared, not found as a hung scan."""
    volumes, snapshots = Listing("ec2", "describe_volumes"), Listing("ec2", "describe_snapshots")

    class OneListing(ReportsEverything):
        listings: ClassVar[tuple[Listing, ...]] = (volumes,)

    assert OneListing.listings == (volumes,)
    with pytest.raises(TypeError, match=r"2 paginated shared listings \(describe_volumes, "):

        class TwoListings(ReportsEverything):
            listings: ClassVar[tuple[Listing, ...]] = (volumes, snapshots)


def test_a_rule_may_share_single_answer_listings_beside_its_paginated_one() -> None:
    """A single-answer listing's one page waits for no reader: it cannot take part in a
    wait, so any number of them may be shared beside the one paginated listing."""
    volumes = Listing("ec2", "describe_volumes")
    addresses = Listing("ec2", "describe_addresses", paginated=False)
    regions = Listing("ec2", "describe_regions", paginated=False)

    class PagesAndAnswers(ReportsEverything):
        listings: ClassVar[tuple[Listing, ...]] = (volumes, addresses, regions)

    assert PagesAndAnswers.listings == (volumes, addresses, regions)
    with pytest.raises(TypeError, match="2 paginated shared listings"):

        class StillTwoPaginated(ReportsEverything):
            listings: ClassVar[tuple[Listing, ...]] = (
                volumes,
                addresses,
                Listing("ec2", "describe_snapshots"),
            )


def test_a_report_only_finding_is_in_the_scan_output_and_never_proposed() -> None:
    from generator.findings import FindingsReport
    from generator.planner import executable
    from generator.report_format import findings_markdown

    rule = ReportsEverything()
    rule.things = (Thing(thing_id="t-9", skip_tag="reclaim:skip"),)
    (finding,) = _detect(rule, Exclusions())
    assert isinstance(finding, Finding)
    markdown = findings_markdown(FindingsReport(as_of=AS_OF, findings=(finding,)))
    assert "thing t-9" in markdown and "report-only" in markdown
    assert executable([finding]) == []


class CopiesItsFindings(ReportsEverything):
    """Yields a copy of each finding it made: the copy has no record kept for it."""

    def scan(
        self, ctx: ScanContext, settings: ThingSettings
    ) -> Iterator[Finding | SkippedResource]:
        for item in super().scan(ctx, settings):
            yield item.model_copy() if isinstance(item, Finding) else item


def _counting_records(rule: Rule[Any, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    validated: list[str] = []
    validate = Rule.record

    def record(self: Rule[Any, Any], finding: Finding) -> Any:
        validated.append(finding.resource_id)
        return validate(self, finding)

    monkeypatch.setattr(Rule, "record", record)
    return validated


def test_detection_judges_a_finding_by_the_record_it_was_made_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = ReportsEverything()
    rule.things = (
        Thing(thing_id="t-1", skip_tag="keep", tags={"keep": ""}),
        Thing(thing_id="t-2", skip_tag="keep"),
    )
    validated = _counting_records(rule, monkeypatch)
    found = _detect(rule, Exclusions(skip_tag="keep"))
    assert [type(item).__name__ for item in found] == ["SkippedResource", "Finding"]
    assert validated == []  # the records as built: none validated again from JSON


def test_a_copied_finding_is_judged_by_its_own_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = CopiesItsFindings()
    rule.things = (
        Thing(thing_id="t-1", skip_tag="keep", tags={"keep": ""}),
        Thing(thing_id="t-2", skip_tag="keep"),
    )
    validated = _counting_records(rule, monkeypatch)
    found = _detect(rule, Exclusions(skip_tag="keep"))
    # The skip tag is still read, from the copy's resource: the copy was validated.
    assert [type(item).__name__ for item in found] == ["SkippedResource", "Finding"]
    assert validated == ["t-1", "t-2"]


def test_kept_records_go_with_their_findings() -> None:
    import gc

    from generator.rules.context import FindingRecords

    rule = ReportsEverything()
    records = FindingRecords()
    ctx = replace(_ctx(Exclusions()), records=records)
    findings = [
        rule.new_finding(
            ctx,
            title="t",
            cost=ctx.prices.cost(1.0, ctx.region, "toy"),
            risk="low",
            risk_reasons=(),
            evidence=(),
            record=Thing(thing_id=f"t-{n}", skip_tag="keep"),
        )
        for n in range(100)
    ]
    assert records.of(findings[7]) == Thing(thing_id="t-7", skip_tag="keep")
    assert records.of(findings[7].model_copy()) is None
    assert len(records) == 100
    del findings
    gc.collect()
    assert len(records) == 0  # a unit's findings are not held by their records
