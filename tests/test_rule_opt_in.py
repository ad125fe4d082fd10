"""Opt-in remediation (``OptInRemediation`` settings): a rule whose change a team must ask
for. Until ``remediate: true`` is set, its findings are report-only: listed, never planned,
never proposed; and apply, which reads the default branch's reclaim.yml, refuses its plans
whatever plan.json says."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from generator.aws.prices import bundled_prices
from generator.errors import ConfigError, ManifestError
from generator.exclusions import Exclusions
from generator.executor.observe import RuleObserver
from generator.findings import Finding, Reversibility, SkippedResource
from generator.manifest import steps
from generator.manifest.models import AwsCall, Lookup, Plan
from generator.planner import executable
from generator.rules.base import (
    ManifestBody,
    OptInRemediation,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.state import SeenState
from tests import trusted

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


class GadgetSettings(OptInRemediation):
    pass


class Gadget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gadget_id: str
    skip_tag: str


_DESCRIBE = AwsCall(service="ec2", operation="DescribeVolumes", params={"VolumeIds": ["g-1"]})
_DELETE = AwsCall(service="ec2", operation="DeleteVolume", params={"VolumeId": "g-1"})


class OptInGadgets(Rule[GadgetSettings, Gadget]):
    name: ClassVar[str] = "toy-gadgets"
    summary: ClassVar[str] = "Gadgets"
    resource_type: ClassVar[str] = "Toy::Gadget"
    reversibility: ClassVar[Reversibility] = "best-effort"
    docs: ClassVar[RuleDocs] = RuleDocs(finds="gadgets", change="delete", undo="none")
    settings_model = GadgetSettings
    record_model = Gadget
    calls: ClassVar[RuleCalls] = RuleCalls(frozenset(), frozenset(), frozenset())

    def scan(
        self, ctx: ScanContext, settings: GadgetSettings
    ) -> Iterator[Finding | SkippedResource]:
        yield self.new_finding(
            ctx,
            title="gadget g-1",
            cost=ctx.prices.cost(1.0, ctx.region, "toy"),
            risk="low",
            risk_reasons=(),
            evidence=(),
            record=Gadget(gadget_id="g-1", skip_tag=ctx.exclusions.skip_tag),
        )

    def resource_of(self, record: Gadget) -> str:
        return record.gadget_id

    def tags_of(self, record: Gadget) -> Mapping[str, str]:
        return {}

    def plan(self, finding: Finding, record: Gadget) -> ManifestBody:
        return ManifestBody(
            steps=(
                steps.precheck("precheck", "read", _DESCRIBE),
                steps.change(
                    "delete",
                    "delete",
                    _DELETE,
                    already_done=Lookup(call=_DESCRIBE, found_when="`false`"),
                ),
            )
        )

    def rollback(self, finding: Finding, record: Gadget) -> ManifestBody:
        return ManifestBody(steps=(steps.precheck("precheck", "read", _DESCRIBE),))


def _ctx() -> ScanContext:
    return ScanContext(
        account_id="123456789012",
        region="us-east-1",
        as_of=AS_OF,
        client=lambda service: None,
        prices=bundled_prices(),
        exclusions=Exclusions(),
        state=SeenState(None),
    )


def _finding(settings: GadgetSettings) -> Finding:
    (finding,) = OptInGadgets().detect(_ctx(), settings)
    assert isinstance(finding, Finding)
    return finding


def test_by_default_the_finding_is_reported_only_and_never_planned() -> None:
    rule = OptInGadgets()
    assert GadgetSettings().remediate is False
    assert not rule.remediates(GadgetSettings())
    finding = _finding(GadgetSettings())
    assert finding.reversibility == "report-only"
    assert executable([finding]) == []
    with pytest.raises(ManifestError, match="remediate: true"):
        rule.build_plan(finding)


def test_enabled_it_is_planned_with_the_rules_grade() -> None:
    rule = OptInGadgets()
    finding = _finding(GadgetSettings(remediate=True))
    assert finding.reversibility == "best-effort"
    assert executable([finding]) == [finding]
    assert rule.build_plan(finding).steps[-1].id == "delete"


def test_rules_without_the_opt_in_keep_their_grade() -> None:
    class Plain(RuleSettings):
        pass

    assert OptInGadgets().remediates(Plain())  # not opt-in settings: the class grade decides


def test_apply_refuses_an_enabled_plan_when_the_default_branch_does_not_opt_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PR branch's reclaim.yml may say ``remediate: true``; the apply's (the default
    branch's) does not: refused before any AWS call of the rule."""
    from generator.executor import observe

    rule = OptInGadgets()
    monkeypatch.setattr(observe, "rule_for", lambda name: rule)
    finding = _finding(GadgetSettings(remediate=True))
    plan: Plan = rule.build_plan(finding)
    config = trusted.config_for_rule("eip-unassociated")
    monkeypatch.setattr(
        type(config), "rule_settings", lambda self, name: GadgetSettings(remediate=False)
    )
    calls: list[str] = []

    def client_for(service: str, region: str) -> object:
        calls.append(service)
        raise AssertionError("no AWS call may be made")

    observer = RuleObserver(config=config, state=SeenState(None))
    with pytest.raises(ConfigError, match="remediate"):
        observer.observe(plan, client_for, AS_OF)
    assert calls == []
