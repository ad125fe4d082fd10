"""The README's rules table and docs/rules.md's settings reference are generated from the
rule declarations, and kept up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.rules import RULES
from generator.rules.reference import (
    REPORT_ONLY,
    TABLE_END,
    TABLE_START,
    main,
    replace_region,
    rules_table,
    settings_reference,
)
from tests.test_rule_base import ReportsEverything

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_regions_are_up_to_date() -> None:
    assert main(["--check", "--root", str(ROOT)]) == 0, (
        "run `python -m generator.rules.reference` and commit the result"
    )


def test_a_changed_declaration_makes_the_readme_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "rules.md", tmp_path / "docs" / "rules.md")
    monkeypatch.setitem(RULES, "toy-things", ReportsEverything())
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert f"| `toy-things` | every thing | {REPORT_ONLY} |  | report-only |" in readme
    assert readme.replace(rules_table(RULES.values()), "") == (
        ROOT / "README.md"
    ).read_text().replace(rules_table([r for n, r in RULES.items() if n != "toy-things"]), "")
    assert main(["--check", "--root", str(tmp_path)]) == 0


def test_every_rule_and_setting_is_in_the_reference() -> None:
    table, reference = rules_table(RULES.values()), settings_reference(RULES.values())
    for name, rule in RULES.items():
        assert f"| `{name}` |" in table
        for setting in rule.settings_model.model_fields:
            assert f"| `{setting}` |" in reference.split(f"### `{name}`")[1].split("###")[0]


def test_only_the_region_between_the_markers_is_rewritten() -> None:
    text = f"before\n{TABLE_START}\nold\n{TABLE_END}\nafter\n"
    assert replace_region(text, TABLE_START, TABLE_END, "new\n", "x") == (
        f"before\n{TABLE_START}\n\nnew\n\n{TABLE_END}\nafter\n"
    )
    with pytest.raises(ValueError, match="markers"):
        replace_region("no markers\n", TABLE_START, TABLE_END, "new\n", "x")
