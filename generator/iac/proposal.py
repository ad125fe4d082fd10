"""A managed finding as a proposal: its folder (iac.json and README.md) and its code edit.

The forge's Proposal is built by generator.propose from these parts (the forge package reads
the configuration, which reads this package's config models).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from generator.findings import Finding
from generator.iac.change import CodeChange, code_change
from generator.iac.managed import IacIndex, Managed
from generator.manifest.folder import IAC_FILE
from generator.manifest.models import Step
from generator.render import render
from generator.rules import rule_for

README_FILE = "README.md"
NEEDS_HUMAN = "needs-human"

_VOLATILE = ("observed_at", "title", "evidence", "risk_reasons")


def managed_by(index: IacIndex, finding: Finding) -> Managed | None:
    """What manages the resource ``finding`` acts on (by its rule's record), if anything."""
    rule = rule_for(finding.rule)
    record = rule.record(finding)
    return index.managing(rule.resource_of(record), dict(rule.tags_of(record)))


def backup_steps(finding: Finding) -> tuple[Step, ...]:
    """The rule's own pre-checks and backup: what runs before the code change is applied."""
    rule = rule_for(finding.rule)
    if rule.report_only:
        return ()
    return tuple(s for s in rule.build_plan(finding).steps if s.phase in ("precheck", "backup"))


def iac_readme(change: CodeChange) -> str:
    return render(
        "pr/iac.md.j2",
        finding=change.finding,
        change=change,
        backup=[s for s in backup_steps(change.finding) if s.phase == "backup"],
    )


def iac_json(change: CodeChange) -> str:
    return json.dumps(change.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class ProposalParts:
    title: str
    body: str
    files: dict[str, str]
    code_edits: dict[str, str]
    labels: tuple[str, ...]
    fingerprint: str


def iac_proposal(change: CodeChange, folder_in_repo: str) -> ProposalParts:
    finding = change.finding
    folder = f"{folder_in_repo}/{finding.id}"
    material = change.model_dump(mode="json")
    material["finding"] = {k: v for k, v in material["finding"].items() if k not in _VOLATILE}
    material["edits"] = change.edits
    fingerprint = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:32]
    readme = iac_readme(change)
    managed = change.address if change.managed_by == "terraform" else f"stack {change.stack}"
    return ProposalParts(
        title=f"reclaim: {finding.title} ({managed}, in code)",
        body=readme,
        files={f"{folder}/{IAC_FILE}": iac_json(change), f"{folder}/{README_FILE}": readme},
        code_edits=dict(change.edits),
        labels=(
            "reclaim",
            f"reclaim:{finding.rule}",
            f"risk:{finding.risk}",
            f"iac:{change.managed_by}",
            *((NEEDS_HUMAN,) if change.needs_human else ()),
        ),
        fingerprint=fingerprint,
    )


def split_managed(
    index: IacIndex, findings: list[Finding], repo_root: Path
) -> tuple[list[Finding], list[CodeChange]]:
    """The findings nobody's code manages (API plans), and the code changes of the rest."""
    unmanaged: list[Finding] = []
    changes: list[CodeChange] = []
    for finding in findings:
        managed = managed_by(index, finding)
        if managed is None:
            unmanaged.append(finding)
        else:
            changes.append(code_change(finding, managed, repo_root))
    return unmanaged, changes
