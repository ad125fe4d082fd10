"""The rules reference, generated from the declarations: the README's rules table and the
settings (thresholds) reference in docs/rules.md.

    python -m generator.rules.reference          # rewrite both generated regions
    python -m generator.rules.reference --check  # exit 1 if either is out of date

Only the text between a region's start and end markers is ever rewritten; a test checks both
files are up to date (tests/test_rules_reference.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from generator.rules.base import Rule

TABLE_START = (
    "<!-- rules-table: generated from the rule declarations by "
    "`python -m generator.rules.reference`; edit the rules, not this table -->"
)
TABLE_END = "<!-- /rules-table -->"
SETTINGS_START = (
    "<!-- rules-settings: generated from the rules' settings models by "
    "`python -m generator.rules.reference`; edit the rules, not this list -->"
)
SETTINGS_END = "<!-- /rules-settings -->"
REPORT_ONLY = "none: reported, never proposed as a change"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def grades(rule: Rule[Any, Any]) -> str:
    """The rule's grade, and the better one a setting gives (``graded_by_setting``)."""
    better = [f"{grade} with `{name}`" for name, grade in rule.graded_by_setting.items()]
    return ", ".join([rule.reversibility, *better])


def rules_table(rules: Iterable[Rule[Any, Any]]) -> str:
    lines = [
        "| rule | finds | change | undo | reversibility |",
        "|---|---|---|---|---|",
    ]
    for rule in rules:
        docs = rule.docs
        cells = (
            f"`{rule.name}`",
            docs.finds,
            docs.change or REPORT_ONLY,
            docs.undo or "",
            grades(rule),
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "Each rule's thresholds, with their defaults: [docs/rules.md](docs/rules.md#settings-"
        "reference), which also says how to add a rule.",
    ]
    return "\n".join(lines) + "\n"


def _default(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def settings_reference(rules: Iterable[Rule[Any, Any]]) -> str:
    parts: list[str] = []
    for rule in rules:
        parts += [
            f"### `{rule.name}`",
            "",
            f"{rule.summary}. Resource: `{rule.resource_type}`; reversibility: {grades(rule)}.",
            "",
            "| setting | default | meaning |",
            "|---|---|---|",
        ]
        for name, info in rule.settings_model.model_fields.items():
            meaning = info.description or "Run this rule."
            parts.append(f"| `{name}` | {_default(info)} | {_cell(meaning)} |")
        parts.append("")
    return "\n".join(parts)


def replace_region(text: str, start: str, end: str, content: str, where: str) -> str:
    """``text`` with what stands between the ``start`` and ``end`` marker lines replaced."""
    head, found, rest = text.partition(start + "\n")
    middle, found_end, tail = rest.partition(end + "\n")
    if not found or not found_end:
        raise ValueError(f"{where}: the generated region's markers are missing")
    del middle
    return f"{head}{start}\n\n{content}\n{end}\n{tail}"


def regions(root: Path) -> dict[Path, tuple[tuple[str, str, str], ...]]:
    from generator.rules import RULES

    rules = list(RULES.values())
    return {
        root / "README.md": ((TABLE_START, TABLE_END, rules_table(rules)),),
        root / "docs" / "rules.md": ((SETTINGS_START, SETTINGS_END, settings_reference(rules)),),
    }


def render(path: Path, replacements: Iterable[tuple[str, str, str]]) -> str:
    text = path.read_text(encoding="utf-8")
    for start, end, content in replacements:
        text = replace_region(text, start, end, content, str(path))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.rules.reference")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    stale = []
    for path, replacements in regions(args.root).items():
        wanted = render(path, replacements)
        if wanted == path.read_text(encoding="utf-8"):
            continue
        stale.append(path)
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
