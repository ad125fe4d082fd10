"""The manifests every rule produces for its fixture findings, byte for byte.

tests/golden/cases/<rule>/<case>/plan.json and rollback.json were written by the planner
before the rule framework was redesigned (issue 12); collect.py says how. A refactor of the
rules, the step vocabulary or the manifest models must leave every byte as it is: a change
here is a behaviour change, to be made on purpose and reviewed, never by regenerating.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.findings import Finding
from generator.manifest.folder import to_json
from generator.planner import plan_finding
from generator.rules import RULES

CASES = Path(__file__).parent / "cases"
_FOLDERS = sorted(p.parent for p in CASES.glob("*/*/plan.json"))


def test_every_rule_has_golden_cases() -> None:
    executable = {name for name, rule in RULES.items() if not rule.report_only}
    assert {folder.parent.name for folder in _FOLDERS} == executable
    assert len(_FOLDERS) >= 100


@pytest.mark.parametrize("folder", _FOLDERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_manifests_are_byte_identical(folder: Path) -> None:
    stored_plan = (folder / "plan.json").read_text()
    finding = Finding.model_validate(json.loads(stored_plan)["finding"])
    remediation = plan_finding(finding)
    assert to_json(remediation.plan) == stored_plan
    assert to_json(remediation.rollback) == (folder / "rollback.json").read_text()
