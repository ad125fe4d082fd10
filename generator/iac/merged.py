"""The merge of a code-change PR must be exactly reclaim's edit, before Terraform runs.

The saved-plan check proves what ``terraform apply`` would change, but ``terraform init``
and ``terraform plan`` already execute the merged code: an ``external`` data source, a
provider or backend block, a module source. So before Terraform sees it, apply derives the
edit again, from the re-observed finding and the code as it was before the merge (the
merge's first parent), and refuses unless the merge changed exactly those files to exactly
that text, plus the folder's own iac.json and README.md.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from generator.errors import StateRefusal
from generator.findings import Finding
from generator.iac.change import code_change
from generator.iac.locate import NotLocated, locate
from generator.iac.managed import TerraformManaged

_HINT = (
    "reclaim applies only the edit it wrote; make other changes in a separate pull request, "
    "and apply a hand-written change with your own Terraform workflow"
)


def _git(repo: Path, *args: str) -> bytes | None:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def merge_of(repo: Path, folder: str) -> str | None:
    """The first-parent commit that added the folder's iac.json (its PR's merge)."""
    out = _git(
        repo,
        "log",
        "--first-parent",
        "--diff-filter=A",
        "--format=%H",
        "-1",
        "--",
        f":(literal){folder}/iac.json",
    )
    return out.decode().strip() or None if out is not None else None


def changed_files(repo: Path, before: str, after: str) -> list[str] | None:
    out = _git(repo, "diff", "--name-only", "--no-renames", "-z", before, after)
    if out is None:
        return None
    return [os.fsdecode(name) for name in out.split(b"\0") if name]


def file_at(repo: Path, commit: str, path: str) -> str | None:
    """The file's text at ``commit``, byte for byte (CRLF kept); None if absent or not UTF-8."""
    shown = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=repo, capture_output=True, check=False
    )
    if shown.returncode != 0:
        return None
    try:
        return shown.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _tree_at(repo: Path, commit: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise StateRefusal(f"cannot read the code before the merge ({commit}); nothing changed")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def merged_edit_problems(
    repo: Path, folder: str, finding: Finding, managed: TerraformManaged
) -> list[str]:
    """Why the merge that brought ``folder`` is not exactly reclaim's edit for ``finding``
    (empty: it is)."""
    merge = merge_of(repo, folder)
    if merge is None:
        return [f"no commit on this branch adds {folder}"]
    return edit_problems(repo, f"{merge}^1", merge, folder, finding, managed, "the merge")


def edit_problems(
    repo: Path,
    before: str,
    after: str,
    folder: str,
    finding: Finding,
    managed: TerraformManaged,
    what: str,
) -> list[str]:
    """Why the change from commit ``before`` to ``after`` is not exactly reclaim's edit
    for ``finding`` of the code at ``before``, plus ``folder``'s iac.json and README.md
    (empty: it is). The merge at apply, and the pull request in validate-changed."""
    try:
        root = managed.root_dir.resolve().relative_to(repo.resolve())
    except ValueError:
        return [f"root {managed.root.name!r} is outside this repository"]
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp)
        _tree_at(repo, before, base_tree)
        try:
            location = locate(base_tree / root, managed.instance)
        except NotLocated as why:
            return [f"{managed.address} was not declared before {what}: {why}"]
        base = TerraformManaged(managed.root, base_tree / root, managed.instance, location)
        change = code_change(finding, base, base_tree)
    if change.needs_human:
        return [f"reclaim does not write this change itself ({change.needs_human})"]
    allowed = {f"{folder}/iac.json", f"{folder}/README.md", *change.edits}
    changed = changed_files(repo, before, after)
    if changed is None:
        return [f"git could not list what {after} changed"]
    problems = [f"{what} also changes {path}" for path in changed if path not in allowed]
    for path, text in sorted(change.edits.items()):
        if file_at(repo, after, path) != text:
            problems.append(f"{what}'s {path} is not reclaim's edit of {managed.address}")
    return problems
