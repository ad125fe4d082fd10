"""A merged code-change folder (iac.json and README.md, no plan.json), as apply reads it.

iac.json is the pull request's: it only names the resource to look at. The plan and rollback
the executor runs (the rule's pre-checks and backups, and the restore) are derived from that
finding by its rule, then checked against the resource as observed again in AWS; the change
itself is the saved Terraform plan, checked against the default branch's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ManifestError
from generator.findings import finding_id
from generator.iac.change import CODE_CHANGES, CodeChange
from generator.iac.managed import IacIndex, TerraformManaged
from generator.manifest.folder import IAC_FILE, PLAN_FILE, digest
from generator.manifest.models import Plan, Rollback
from generator.rules import RULES, rule_for
from generator.untrusted import load_json_model, parse_json, read_text, to_model


def is_code_folder(path: Path) -> bool:
    """A folder whose change is made in code: iac.json and no plan.json."""
    return (path / IAC_FILE).is_file() and not (path / PLAN_FILE).exists()


def reports_only(path: Path) -> bool:
    """A code folder that only reports (a CloudFormation stack's resource): merging it
    applies nothing, so apply-merged does not take it up. Reading the PR's iac.json here can
    only make reclaim do less."""
    if not is_code_folder(path):
        return False
    try:
        change = load_json_model(path / IAC_FILE, CodeChange, ManifestError)
    except ManifestError:
        return False  # taken up, and reported invalid
    return change.managed_by == "cloudformation"


def derivation_problems(change: CodeChange, index: IacIndex) -> list[str]:
    """Where iac.json disagrees with what ``index`` (the default branch's state) and the
    rule derive for its finding: the root, the address, the action and its values."""
    from generator.iac.proposal import managed_by

    finding = change.finding
    managed = managed_by(index, finding)
    if not isinstance(managed, TerraformManaged):
        return [
            f"no configured Terraform root's state holds {finding.resource_id}, but iac.json "
            f"says {change.address} manages it"
        ]
    rule = CODE_CHANGES.get(finding.rule)
    derived = {
        "root": managed.root.name,
        "address": managed.address,
        "action": rule.action if rule else None,
        "attributes": rule.values(finding) if rule else {},
    }
    recorded = {
        "root": change.root,
        "address": change.address,
        "action": change.action,
        "attributes": change.attributes,
    }
    return [
        f"iac.json's {key} is {recorded[key]!r}, but the Terraform state and rule give "
        f"{derived[key]!r}"
        for key in derived
        if recorded[key] != derived[key]
    ]


@dataclass(frozen=True)
class CodeFolder:
    change: CodeChange
    plan: Plan
    """The rule's plan for the recorded finding: its pre-checks and backups run; its API
    change steps never do."""
    rollback: Rollback
    sha256: str
    """Of iac.json: the journal is bound to it as an API plan's is to plan.json."""


def load_code_folder(path: Path) -> CodeFolder:
    """iac.json parsed, bound to the folder's name, and the rule's manifests for it."""
    iac_path = path / IAC_FILE
    if (path / PLAN_FILE).exists():
        raise ManifestError(
            f"{path.name} holds both {PLAN_FILE} and {IAC_FILE}: a remediation is made "
            "through the API or in code, never both; nothing was changed"
        )
    text = read_text(iac_path, ManifestError)
    change = to_model(
        CodeChange, parse_json(text, iac_path, ManifestError, None), iac_path, ManifestError
    )
    finding = change.finding
    if finding.rule not in RULES:
        raise ManifestError(f"{iac_path}: unknown rule {finding.rule!r}; nothing was changed")
    derived = finding_id(finding.rule, finding.account, finding.region, finding.resource_id)
    if finding.id != derived or path.name != derived:
        raise ManifestError(
            f"{iac_path}: the folder {path.name!r} and the finding {finding.id!r} must both be "
            f"{derived!r} (rule, account, region, resource); nothing was changed"
        )
    if change.managed_by != "terraform":
        raise ManifestError(
            f"{iac_path}: {finding.resource_id} is managed by CloudFormation stack "
            f"{change.stack!r}; reclaim applies only Terraform changes; nothing was changed",
            hint="change it in the stack's template and update the stack",
        )
    rule = rule_for(finding.rule)
    return CodeFolder(change, rule.build_plan(finding), rule.build_rollback(finding), digest(text))
