"""`reclaim validate-changed`: validate the remediations a pull request touches, without
AWS, and summarize what they would save in one comment kept up to date on the pull request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from generator.errors import ReclaimError
from generator.folder_checks import load_checked
from generator.iac.change import CodeChange
from generator.iac.managed import IacIndex
from generator.manifest.folder import (
    IAC_FILE,
    JOURNAL_FILE,
    PLAN_FILE,
    README_FILE,
    ROLLBACK_FILE,
    RemediationFolder,
)
from generator.pipeline.gitops import changed_paths, paths_at, shown, split_folder
from generator.pipeline.render import environment

MARKER = "<!-- reclaim:cost-summary -->"


@dataclass(frozen=True)
class Row:
    folder: str
    resource: str
    monthly: float | None
    risk: str
    reversibility: str
    error: str | None


def changed_folders(repo: Path, base: str, remediations_dir: str) -> tuple[list[str], list[str]]:
    """(folders with a plan.json or an iac.json that the change touches, folders it
    removed)."""
    folders: set[str] = set()
    prefix = remediations_dir.rstrip("/") + "/"
    for name in changed_paths(repo, base, "HEAD", remediations_dir):
        parts = name.removeprefix(prefix).split("/")
        if name.startswith(prefix) and len(parts) >= 2:
            folders.add(prefix + parts[0])
    present = sorted(
        f for f in folders if any((repo / f / name).is_file() for name in (PLAN_FILE, IAC_FILE))
    )
    return present, sorted(shown(f) for f in folders - set(present))


def check(repo: Path, folder: str) -> Row:
    if shown(folder) != folder:
        return Row(shown(folder), "?", None, "?", "?", "the folder name is not valid UTF-8")
    remediation = RemediationFolder(repo / folder)
    try:
        plan = remediation.load_plan()
    except ReclaimError as error:
        return Row(folder, "?", None, "?", "?", error.message)
    except UnicodeDecodeError as error:
        return Row(folder, "?", None, "?", "?", f"plan.json is not valid UTF-8: {error.reason}")
    finding = plan.finding
    row = Row(
        folder,
        f"{finding.resource_id} ({finding.region}, {finding.account})",
        finding.cost.monthly_usd,
        finding.risk,
        finding.reversibility,
        None,
    )
    try:
        load_checked(remediation.path)
    except ReclaimError as error:
        return Row(**{**row.__dict__, "error": error.message})
    return row


def check_code(
    repo: Path,
    folder: str,
    index: Callable[[str], IacIndex | None],
    edit: Callable[[str, CodeChange], list[str]] | None = None,
) -> Row:
    """A change made in code: iac.json bound to its folder, README.md what reclaim renders
    from it, and its root, address, action and values what the default branch's Terraform
    state and the finding's rule derive (``index(root)``: that state, None when it cannot be
    read without AWS, S3 state: apply checks it there); ``edit``: why the pull request's
    code edit is not exactly reclaim's edit of the base's code."""
    from generator.iac.folder import derivation_problems, load_code_folder, reports_only
    from generator.iac.proposal import iac_readme

    if shown(folder) != folder:
        return Row(shown(folder), "?", None, "?", "?", "the folder name is not valid UTF-8")
    if reports_only(repo / folder):  # a CloudFormation resource: merging applies nothing
        return Row(
            folder, "a CloudFormation stack's resource (nothing is applied)", None, "?", "?", None
        )
    try:
        change = load_code_folder(repo / folder).change
    except ReclaimError as error:
        return Row(folder, "?", None, "?", "?", error.message)
    finding = change.finding
    row = Row(
        folder,
        f"{finding.resource_id} ({finding.region}, {finding.account}; {change.address}, in code)",
        finding.cost.monthly_usd,
        finding.risk,
        finding.reversibility,
        None,
    )
    problems = []
    try:
        readme = RemediationFolder(repo / folder).readme_text()
    except ReclaimError as error:
        problems.append(error.message)
    else:
        if readme != iac_readme(change):
            problems.append(f"{README_FILE} is not what reclaim renders from {IAC_FILE}")
    try:
        trusted = index(change.root or "")
    except ReclaimError as error:
        problems.append(f"the Terraform state could not be read: {error.message}")
    else:
        if trusted is not None:
            problems += derivation_problems(change, trusted)
    if edit is not None and not problems:
        try:
            problems += edit(folder, change)
        except ReclaimError as error:
            problems.append(f"the code edit could not be checked: {error.message}")
    return replace(row, error="; ".join(problems)) if problems else row


_MANIFESTS = frozenset({PLAN_FILE, IAC_FILE, ROLLBACK_FILE, README_FILE})


def history_refusals(repo: Path, base: str, remediations_dir: str) -> dict[str, str]:
    """Folders this change may not touch the way it does, with why.

    A journal is reclaim's own record of what it did, written by the apply and rollback
    workflows on the default branch; one in a pull request would make apply skip steps that
    never ran. And once a folder has a journal on the base, its plan has run (or is
    running): changing what it says would make the record describe another plan."""
    journaled = {
        split[0]
        for path in paths_at(repo, base, remediations_dir)
        if (split := split_folder(path, remediations_dir)) and split[1] == JOURNAL_FILE
    }
    refusals: dict[str, list[str]] = {}
    for path in changed_paths(repo, base, "HEAD", remediations_dir):
        split = split_folder(path, remediations_dir)
        if split is None:
            continue
        folder, name = split
        if name == JOURNAL_FILE:
            refusals.setdefault(folder, []).append(
                f"the pull request adds, changes or deletes {JOURNAL_FILE}: journals are "
                "written only by reclaim's apply and rollback runs, never by a pull request; "
                f"drop {shown(path)} from the change"
            )
        elif name in _MANIFESTS and folder in journaled:
            refusals.setdefault(folder, []).append(
                f"the pull request changes {name}, but the plan already ran (its "
                f"{JOURNAL_FILE} is on the base branch): an applied or running remediation "
                "is never edited; revert the change, and let the next scan propose anew"
            )
    return {
        shown(folder): "; ".join(dict.fromkeys(reasons)) for folder, reasons in refusals.items()
    }


def _written_by_the_scan_only(
    repo: Path, base: str, path: str, what: str, believed: str
) -> dict[str, str]:
    if not changed_paths(repo, base, "HEAD", path):
        return {}
    return {
        path: f"the pull request changes {path}: {what} written only by the scheduled scan "
        f"(reclaim commit-state), and {believed}; drop the file from the change"
    }


def state_refusal(repo: Path, base: str, state_file: str) -> dict[str, str]:
    """The first-seen state file is written only by the scheduled scan (commit-state); apply
    judges age thresholds with it, so a pull request that edits it could make a volume seen
    yesterday look idle for months."""
    return _written_by_the_scan_only(
        repo, base, state_file, "the first-seen clocks are", "apply believes them"
    )


def proposals_refusal(repo: Path, base: str, proposals_file: str) -> dict[str, str]:
    """The proposals file (generator.held) is written only by the scheduled scan's propose
    job: it decides which findings the next scan confirms (stop protection, skip tags)
    before propose can open them, so a pull request may not rewrite it. Even so, the scan
    reads it as untrusted and it can never make reclaim change anything."""
    return _written_by_the_scan_only(
        repo,
        base,
        proposals_file,
        "what the forge holds is",
        "the next scan believes it to choose which findings to confirm",
    )


def with_refusals(rows: list[Row], refusals: dict[str, str]) -> list[Row]:
    """The rows with each refusal set as (or added to) its folder's error; a refused folder
    without a row (its plan.json removed) gets one."""
    out = []
    for row in rows:
        refusal = refusals.get(row.folder)
        if refusal is not None:
            row = replace(row, error=f"{row.error}; {refusal}" if row.error else refusal)
        out.append(row)
    seen = {row.folder for row in rows}
    for folder, refusal in sorted(refusals.items()):
        if folder not in seen:
            out.append(Row(folder, "?", None, "?", "?", refusal))
    return out


def summary_markdown(rows: list[Row], removed: list[str]) -> str:
    total = sum(r.monthly or 0.0 for r in rows if r.error is None)
    return (
        environment()
        .get_template("pipeline/comments/cost-summary.md.j2")
        .render(marker=MARKER, rows=rows, total=total, removed=removed)
    )
