"""A pytest plugin that freezes the findings the rule tests plan, as golden inputs.

It was run once, on the code whose manifests are the reference (main before issue 12), as

    RECLAIM_GOLDEN_OUT=<new folder> python -m pytest -q -p tests.golden.collect \
        tests/test_rule_*.py tests/test_planner.py tests/test_scan_ebs_unattached.py \
        tests/test_rules_b_captures.py tests/test_placebo_volumes.py tests/test_executor.py

and the folder became tests/golden/cases. For a new rule, run it on that rule's test only
and copy the rule's folder in (docs/rules.md); the existing cases are never regenerated.
The output folder must not exist yet: nothing already there is overwritten.

Every finding a rule's ``build_plan`` and ``build_rollback`` both accept is kept (the ones
the tests build to be refused are not): plan.json and rollback.json, serialized as the
planner writes them, are the expected output, and the finding inside plan.json the input. moto's resource
IDs are random, so a re-collection names different cases; the golden comparison
(tests/golden/test_golden.py) only replays what is stored.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from generator.findings import Finding
from generator.manifest.folder import to_json
from generator.rules import RULES

_seen: dict[str, Finding] = {}


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("RECLAIM_GOLDEN_OUT"):
        return
    for rule in RULES.values():
        cls = type(rule)
        original = cls.build_plan

        def recording(self: Any, finding: Finding, _original: Any = original) -> Any:
            plan = _original(self, finding)
            _seen.setdefault(finding.model_dump_json(), finding)
            return plan

        cls.build_plan = recording  # type: ignore[method-assign]


def case_name(finding: Finding) -> str:
    digest = hashlib.sha256(finding.model_dump_json().encode()).hexdigest()[:10]
    return f"{finding.resource_type.split('::')[-1].lower()}-{digest}"


def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("RECLAIM_GOLDEN_OUT")
    if not out:
        return
    root = Path(out)
    if root.exists():
        raise pytest.UsageError(f"RECLAIM_GOLDEN_OUT={out} exists: give a new folder")
    kept = 0
    for finding in _seen.values():
        rule = RULES[finding.rule]
        try:
            plan, rollback = rule.build_plan(finding), rule.build_rollback(finding)
        except Exception:  # refused on purpose by the test that built it
            continue
        folder = root / finding.rule / case_name(finding)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plan.json").write_text(to_json(plan))
        (folder / "rollback.json").write_text(to_json(rollback))
        kept += 1
    print(f"\ngolden: {kept} findings written under {root}")
