"""A plain clone tests everything: the data tests read is under tests/, and the only skips
are external tools, all worded the same way (tests/needs.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.needs import DATA, PLACEBO, SKIP_PREFIX, WEBHOOKS

TESTS = Path(__file__).resolve().parent
SKIPPING = re.compile(r"pytest\.skip\(|\.skipif\(|importorskip\(|mark\.skip\b")


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if ".venv" not in p.parts)


def test_every_skip_goes_through_the_one_missing_tool_helper() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in _sources()
        if path.name not in ("needs.py", "test_self_contained.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SKIPPING.search(line)
    ]
    assert offenders == [], "skip through tests.needs.missing(tool, how) instead"


def test_no_test_reads_data_from_outside_the_repository() -> None:
    outside = re.compile(r"""parents\[\d\]\.parent|["']\.\./|["']shared["']""")
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in _sources()
        # the stand-in's spec trimmer regenerates the vendored subset from the full file
        if path.name not in ("trim_spec.py", "test_self_contained.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []


def test_the_vendored_data_is_there_with_its_licences() -> None:
    captures = sorted(PLACEBO.glob("*/*.json"))
    assert len(captures) >= 300
    assert (PLACEBO.parent / "LICENSE-cloud-custodian").read_text().count("Apache License") >= 1
    assert "MIT License" in (WEBHOOKS / "LICENSE-octokit-webhooks").read_text()
    assert {p.name for p in WEBHOOKS.glob("*.json")} >= {
        "issue_comment.created.0.json",
        "push.event.4.json",
        "pull_request.opened.0.json",
        "pull_request.closed.3.json",
    }
    for path in captures:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(document.get("status_code"), int), path
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert f"{len(captures)} API responses" in readme


def test_the_skip_reason_names_the_tool_and_how_to_get_it() -> None:
    import pytest

    from tests.needs import missing

    with pytest.raises(pytest.skip.Exception) as skipped:
        missing("actionlint", "run scripts/install-pipeline-tools.sh")
    assert str(skipped.value) == f"{SKIP_PREFIX}actionlint (run scripts/install-pipeline-tools.sh)"
