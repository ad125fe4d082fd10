"""A remediation folder's names and PR body are bound to its plan. Makes no AWS call.

Above both generator.manifest and generator.rules (it checks a folder against the catalog's
rule and the planner's PR body), so it lives outside the manifest package, which rules use.

Everything in a pull request is untrusted, the folder's name and README.md included: the
folder name routes review (CODEOWNERS) and the README is what the reviewer reads. So the
folder, the plan ID, the finding ID and the rollback's plan ID must all equal the one ID
the plan's rule derives from its account, region and the resource its manifests act on,
and README.md must be exactly what reclaim renders from the plan.
"""

from __future__ import annotations

from pathlib import Path

from generator.errors import ManifestError
from generator.manifest.folder import README_FILE, RemediationFolder
from generator.manifest.models import Plan, Rollback
from generator.manifest.validation import validate_pair
from generator.planner import pr_body
from generator.rules import RULES, rule_for

_REGENERATE = (
    "regenerate the remediation with `reclaim plan`: folders are named by reclaim and their "
    "files are never edited by hand"
)
_SHOWN = 120


def check_folder(path: Path, plan: Plan, rollback: Rollback) -> None:
    """Refuse (ManifestError, exit 4) a folder whose name, IDs or README.md are not what
    reclaim derives from ``plan``. Run after `validate_pair`, which checks the manifests."""
    check_names(path, plan, rollback)
    check_readme(RemediationFolder(path), plan, rollback)


def load_checked(path: Path) -> tuple[Plan, Rollback]:
    """The folder's plan and rollback after every static check (`validate_pair`, then
    `check_folder`); undecodable bytes are a ManifestError like any other bad content."""
    folder = RemediationFolder(path)
    plan, rollback = folder.load_plan(), folder.load_rollback()
    validate_pair(plan, rollback, RULES)
    check_folder(path, plan, rollback)
    return plan, rollback


def derived_id(plan: Plan) -> str:
    finding = plan.finding
    rule = rule_for(finding.rule)
    acted_on = rule.acted_on(finding)
    if finding.resource_id != acted_on:
        raise ManifestError(
            f"plan.json: the finding names resource {finding.resource_id!r}, but its record "
            f"(what the plan acts on) is {acted_on!r}",
            hint=_REGENERATE,
        )
    return rule.derived_id(finding)


def check_names(path: Path, plan: Plan, rollback: Rollback) -> None:
    expected = derived_id(plan)
    folder = path.resolve().name
    named = {
        "folder name": folder,
        "plan.json plan_id": plan.plan_id,
        "plan.json finding.id": plan.finding.id,
        "rollback.json plan_id": rollback.plan_id,
    }
    for what, value in named.items():
        if value != expected:
            raise ManifestError(
                f"{path}: {what} is {value!r}, but rule {plan.finding.rule!r} derives "
                f"{expected!r} from the plan's account, region and resource",
                hint=_REGENERATE,
            )


def check_readme(folder: RemediationFolder, plan: Plan, rollback: Rollback) -> None:
    expected = pr_body(plan.finding, plan, rollback)
    actual = folder.readme_text()
    if actual == expected:
        return
    want, have = expected.splitlines(), actual.splitlines()
    for number, (line_wanted, line_had) in enumerate(zip(want, have, strict=False), start=1):
        if line_wanted != line_had:
            where = (
                f"line {number} is {line_had[:_SHOWN]!r}, reclaim renders {line_wanted[:_SHOWN]!r}"
            )
            break
    else:
        number = min(len(want), len(have)) + 1
        if len(have) > len(want):
            where = f"line {number} ({have[number - 1][:_SHOWN]!r}) is not in what reclaim renders"
        elif len(want) > len(have):
            where = f"it ends before line {number} ({want[number - 1][:_SHOWN]!r})"
        else:
            where = "its line endings or final newline differ"
    raise ManifestError(
        f"{folder.path / README_FILE} is not what reclaim renders from plan.json: {where}",
        hint="the README is the pull request's description, what the reviewer approves; "
        + _REGENERATE,
    )
