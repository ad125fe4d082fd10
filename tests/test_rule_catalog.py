"""One conformance test over every registered rule: a new rule is covered by adding it to the
catalog, with no test written for these properties.

The finding-based checks run over the rule's golden fixture findings (tests/golden/cases);
an executable rule without any fails here, with how to collect them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from generator.findings import Finding
from generator.iam.actions import iam_action, is_read_only
from generator.manifest.models import Manifest, Plan
from generator.manifest.steps import calls_of
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.base import Rule

CASES = Path(__file__).parent / "golden" / "cases"
_RULES = sorted(RULES)
_EXECUTABLE = [name for name in _RULES if not RULES[name].report_only]


def _findings(rule: Rule) -> list[Finding]:
    return [
        Finding.model_validate(json.loads(path.read_text())["finding"])
        for path in sorted((CASES / rule.name).glob("*/plan.json"))
    ]


def _executable_findings(name: str) -> tuple[Rule, list[Finding]]:
    rule = RULES[name]
    findings = _findings(rule)
    assert findings, (
        f"{name} has no golden fixture findings: collect them from its tests (see "
        "tests/golden/collect.py)"
    )
    return rule, findings


def _all_calls(manifests: Iterable[Manifest]) -> frozenset[tuple[str, str]]:
    calls: set[tuple[str, str]] = set()
    for manifest in manifests:
        calls |= calls_of(manifest.steps)
    return frozenset(calls)


@pytest.mark.parametrize("name", _RULES)
def test_the_declaration_is_complete(name: str) -> None:
    rule = RULES[name]
    assert rule.name == name
    assert rule.summary and rule.resource_type.count("::") == 2
    assert rule.calls.scan, "a rule reads something"
    assert rule.report_only == (not rule.calls.apply and not rule.calls.rollback)
    # its README row: a change and an undo exactly when it remediates
    assert rule.docs.finds
    assert (rule.docs.change is None and rule.docs.undo is None) == rule.report_only


@pytest.mark.parametrize("name", _RULES)
def test_a_bill_footprint_is_a_usage_type_pattern_of_a_rule_that_changes_something(
    name: str,
) -> None:
    """Realized savings (generator.realized) searches Cost Explorer's usage types with it:
    a pattern that does not compile would fail the measurement of every change, and a
    report-only rule changes nothing to measure."""
    footprint = RULES[name].bill_footprint
    if footprint is None:
        return
    assert not RULES[name].report_only
    for pattern in (footprint.own, footprint.moved):
        if pattern is not None:
            assert re.compile(pattern).search("") is None, f"{pattern!r} matches every usage type"


@pytest.mark.parametrize("name", _RULES)
def test_detection_only_reads(name: str) -> None:
    actions = {iam_action(service, operation) for service, operation in RULES[name].calls.scan}
    assert actions and all(a is None or is_read_only(a) for a in actions), actions


@pytest.mark.parametrize("name", _RULES)
def test_every_setting_has_a_default_and_is_documented(name: str) -> None:
    model = RULES[name].settings_model
    model()  # defaults are valid: the rule runs with no settings in reclaim.yml
    undocumented = [
        field
        for field, info in model.model_fields.items()
        if field != "enabled" and not info.description
    ]
    assert not undocumented, f"{name}: settings without a description: {undocumented}"


@pytest.mark.parametrize("name", _EXECUTABLE)
def test_the_allow_list_is_exactly_what_the_manifests_call(name: str) -> None:
    rule, findings = _executable_findings(name)
    plans = [rule.build_plan(f) for f in findings]
    rollbacks = [rule.build_rollback(f) for f in findings]
    assert _all_calls(plans) == rule.calls.apply
    assert _all_calls(rollbacks) == rule.calls.rollback


@pytest.mark.parametrize("name", _EXECUTABLE)
def test_every_write_action_has_an_iam_scope(name: str) -> None:
    rule, findings = _executable_findings(name)
    writes = {
        iam_action(step.call.service, step.call.operation)
        for finding in findings
        for manifest in (rule.build_plan(finding), rule.build_rollback(finding))
        for step in manifest.steps
        if step.mutates
    }
    unscoped = writes - set(rule.calls.scopes)
    assert writes and not unscoped, f"{name} declares no IAM scope for {sorted(unscoped)}"


@pytest.mark.parametrize("name", _RULES)
def test_every_iam_scope_is_of_an_action_the_rule_calls(name: str) -> None:
    """A scope for an action the rule never calls grants nothing it uses: a typo or a stale
    entry, which would leave the real action unscoped or another rule's grant unexplained."""
    calls = RULES[name].calls
    actions = {iam_action(s, o) for s, o in calls.scan | calls.apply | calls.rollback}
    assert set(calls.scopes) <= actions, set(calls.scopes) - actions


@pytest.mark.parametrize("name", _EXECUTABLE)
def test_every_plan_checks_the_skip_tag_before_anything_else(name: str) -> None:
    rule, findings = _executable_findings(name)
    for finding in findings:
        plan = rule.build_plan(finding)
        skip_tag = rule.record(finding).skip_tag  # type: ignore[attr-defined]
        checked = [
            step.id
            for step in plan.steps
            if step.phase == "precheck"
            and any(e.what == f"skip tag {skip_tag!r} absent" for e in step.expect)
        ]
        assert checked, f"{finding.id}: no pre-check looks for the skip tag {skip_tag!r}"
        first_mutation = next(i for i, step in enumerate(plan.steps) if step.mutates)
        assert plan.steps.index(plan.step(checked[0])) < first_mutation


@pytest.mark.parametrize("name", _EXECUTABLE)
def test_records_round_trip_and_ids_are_derived(name: str) -> None:
    rule, findings = _executable_findings(name)
    for finding in findings:
        assert rule.record(finding).model_dump(mode="json") == finding.resource
        assert rule.derived_id(finding) == finding.id
        assert rule.acted_on(finding) == finding.resource_id


@pytest.mark.parametrize("name", _EXECUTABLE)
def test_plans_are_re_derived_identically_from_the_serialized_finding(name: str) -> None:
    rule, findings = _executable_findings(name)
    for finding in findings:
        again = Finding.model_validate_json(finding.model_dump_json())
        plan, rollback = rule.build_plan(finding), rule.build_rollback(finding)
        assert rule.build_plan(again) == plan and rule.build_rollback(again) == rollback
        assert Plan.model_validate_json(plan.model_dump_json()) == plan
        validate_pair(plan, rollback, RULES)


@pytest.mark.parametrize("name", _RULES)
def test_report_only_rules_are_never_planned(name: str) -> None:
    from generator.errors import ManifestError

    rule = RULES[name]
    if not rule.report_only:
        graded = {rule.reversibility, *rule.graded_by_setting.values()}
        assert all(f.reversibility in graded for f in _findings(rule))
        return
    for finding in _findings(rule):
        with pytest.raises(ManifestError):
            rule.build_plan(finding)
