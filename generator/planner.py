"""Findings in, remediation folders out. Building manifests is pure (the rule's builders);
writing them is the only I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ManifestError
from generator.findings import Finding
from generator.manifest.folder import (
    PLAN_FILE,
    README_FILE,
    ROLLBACK_FILE,
    RemediationFolder,
    to_json,
)
from generator.manifest.models import Plan, Rollback
from generator.render import render
from generator.rules import rule_for
from generator.savings import net_savings

_SCAN_ONLY = "plan the findings file `reclaim scan` wrote; findings are never edited by hand"

PHASE_NAMES = {
    "precheck": "Pre-check (read-only)",
    "backup": "Backup",
    "dry_run": "Dry run",
    "change": "Change",
    "verify": "Verify",
}


@dataclass(frozen=True)
class Remediation:
    finding: Finding
    plan: Plan
    rollback: Rollback
    readme: str

    @property
    def files(self) -> dict[str, str]:
        return {
            PLAN_FILE: to_json(self.plan),
            ROLLBACK_FILE: to_json(self.rollback),
            README_FILE: self.readme,
        }


def pr_body(finding: Finding, plan: Plan, rollback: Rollback) -> str:
    return render(
        "pr/body.md.j2",
        finding=finding,
        plan=plan,
        rollback=rollback,
        phase_names=PHASE_NAMES,
        net=net_savings(finding),
    )


def plan_finding(finding: Finding) -> Remediation:
    """The finding's remediation; a finding whose record is not in its rule's shape, or
    whose ID is not the one derived from it, is refused (ManifestError), never planned."""
    rule = rule_for(finding.rule)
    expected = rule.derived_id(finding)
    plan, rollback = rule.build_plan(finding), rule.build_rollback(finding)
    if finding.id != expected or finding.resource_id != rule.acted_on(finding):
        raise ManifestError(
            f"finding {finding.id!r} is not named for what it acts on: its rule, account, "
            f"region and resource give {expected!r}",
            hint=_SCAN_ONLY,
        )
    return Remediation(finding, plan, rollback, pr_body(finding, plan, rollback))


def executable(findings: tuple[Finding, ...] | list[Finding]) -> list[Finding]:
    return [f for f in findings if f.reversibility != "report-only"]


def write_remediation(remediation: Remediation, out_dir: Path) -> Path:
    name = remediation.finding.id
    if "/" in name or name in (".", "..") or "\\" in name:
        raise ManifestError(f"finding ID {name!r} is not a folder name: refused")
    folder = RemediationFolder(out_dir / name)
    folder.write_manifests(remediation.plan, remediation.rollback, remediation.readme)
    return folder.path
