"""`reclaim validate-changed`: validate the remediations a pull request touches, without
AWS, and summarize what they would save in one comment kept up to date on the pull request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ReclaimError
from generator.manifest.folder import PLAN_FILE, RemediationFolder
from generator.manifest.validation import validate_pair
from generator.pipeline.gitops import git
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
    """(folders with a plan.json that the change touches, folders it removed)."""
    names = git(repo, "diff", "--name-only", "--no-renames", base, "HEAD", "--", remediations_dir)
    folders: set[str] = set()
    prefix = remediations_dir.rstrip("/") + "/"
    for name in names.splitlines():
        parts = name.removeprefix(prefix).split("/")
        if name.startswith(prefix) and len(parts) >= 2:
            folders.add(prefix + parts[0])
    present = sorted(f for f in folders if (repo / f / PLAN_FILE).is_file())
    return present, sorted(folders - set(present))


def check(repo: Path, folder: str) -> Row:
    remediation = RemediationFolder(repo / folder)
    try:
        plan = remediation.load_plan()
    except ReclaimError as error:
        return Row(folder, "?", None, "?", "?", error.message)
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
        validate_pair(plan, remediation.load_rollback())
    except ReclaimError as error:
        return Row(**{**row.__dict__, "error": error.message})
    return row


def summary_markdown(rows: list[Row], removed: list[str]) -> str:
    total = sum(r.monthly or 0.0 for r in rows if r.error is None)
    return (
        environment()
        .get_template("pipeline/comments/cost-summary.md.j2")
        .render(marker=MARKER, rows=rows, total=total, removed=removed)
    )
