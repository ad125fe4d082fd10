"""The follow-up a rollback of a merged code change opens: the code brought back to what AWS
now holds.

The rollback restored the resource from its backup (a volume comes back under a new ID), so
the code must say so again: the text the merged edit removed or changed, put back byte for
byte, and, for a resource that was deleted, an ``import`` block bringing the restored
resource back under the same Terraform address.

The rollback runs with write credentials, so nothing here comes from a pull request's files:
the address is the one the apply journaled (from the default branch's Terraform state), the
new ID is what AWS shows the rollback restored (checked against the journal by
``Executor.restored``), and the text put back is the default branch's own history: the file
before and after the merge the apply verified was exactly reclaim's edit.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from generator.errors import StateRefusal
from generator.findings import Finding
from generator.iac.apply import IMPORT_FILE, import_block
from generator.iac.change import CODE_CHANGES
from generator.iac.merged import changed_files, file_at, merge_of
from generator.manifest.folder import IAC_FILE
from generator.manifest.models import Journal
from generator.render import render

FOLLOW_UP_LABEL = "reclaim:follow-up"
NEEDS_HUMAN = "needs-human"
_IMPORTS_HEADER = (
    "# Written by reclaim's rollbacks: each import block brings a resource restored from its\n"
    "# backup back under its Terraform address. Once `terraform apply` has imported it, its\n"
    "# block does nothing and may be removed.\n"
)


@dataclass(frozen=True)
class Applied:
    """What the journal says the apply changed in code (reclaim's own record)."""

    root: str
    address: str
    resource_id: str
    action: str
    merge: str | None
    """The merge whose edit the apply checked and applied (absent in older journals)."""


@dataclass(frozen=True)
class RestoredFile:
    path: str
    text: str | None
    """The file with the merged edit undone; None when it cannot be undone cleanly."""
    original: str
    """The file as it was before the merge (what the reviewer of the merge saw removed)."""


@dataclass(frozen=True)
class FollowUpChange:
    finding: Finding
    applied: Applied
    pr: int | None
    merge: str
    restored_id: str | None
    files: dict[str, str]
    """Repository-relative path → new text."""
    conflicts: tuple[RestoredFile, ...]

    @property
    def needs_human(self) -> bool:
        return bool(self.conflicts)


def applied_in_code(journal: Journal, step_id: str = "terraform-apply") -> Applied:
    apply = journal.apply
    record = apply.record(step_id) if apply is not None else None
    if apply is None or apply.status != "completed" or record is None:
        raise StateRefusal(f"{journal.plan_id}: the journal shows no completed code change")
    request = record.request

    def text(key: str) -> str:
        value = request.get(key)
        if not isinstance(value, str) or not value:
            raise StateRefusal(f"{journal.plan_id}: the journal's {step_id} has no {key}")
        return value

    merge = request.get("merge")
    return Applied(
        text("root"),
        text("address"),
        text("resource_id"),
        text("action"),
        merge if isinstance(merge, str) and merge else None,
    )


def _on_branch(repo: Path, commit: str) -> bool:
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, "HEAD"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _undo(repo: Path, merge: str, path: str) -> RestoredFile:
    """``path`` on the default branch with the merge's edit of it undone: the file before
    the merge when nothing changed it since, else a three-way merge (git merge-file)."""
    before = file_at(repo, f"{merge}^1", path)
    merged = file_at(repo, merge, path)
    current = file_at(repo, "HEAD", path)
    if before is None:
        raise StateRefusal(f"{path} did not exist before {merge[:12]}: nothing to put back")
    if current == merged:
        return RestoredFile(path, before, before)
    if current is None or merged is None:
        return RestoredFile(path, None, before)
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for name, text in (("current", current), ("merged", merged), ("before", before)):
            file = Path(tmp) / name
            file.write_bytes(text.encode("utf-8"))
            names.append(str(file))
        done = subprocess.run(
            ["git", "merge-file", "-p", "-q", *names], capture_output=True, check=False
        )
    if done.returncode != 0:
        return RestoredFile(path, None, before)
    return RestoredFile(path, done.stdout.decode("utf-8"), before)


def follow_up_change(
    repo: Path,
    folder: str,
    finding: Finding,
    journal: Journal,
    root_path: str,
    restored: dict[str, JsonValue] | None,
    pr: int | None,
) -> FollowUpChange:
    """The follow-up for ``folder``'s rolled-back code change. ``root_path`` is the root's
    directory in the repository (from the default branch's reclaim.yml, by the journaled
    root name); ``restored`` what ``Executor.restored`` confirmed in AWS."""
    applied = applied_in_code(journal)
    rule = CODE_CHANGES.get(finding.rule)
    if rule is None:
        raise StateRefusal(f"{finding.rule}'s change is not written as code: no follow-up")
    merge = applied.merge or merge_of(repo, folder)
    if merge is None or not _on_branch(repo, merge):
        raise StateRefusal(f"no commit on this branch adds {folder}: no follow-up")
    changed = changed_files(repo, f"{merge}^1", merge)
    if changed is None:
        raise StateRefusal(f"git could not list what {merge} changed: no follow-up")
    own = {f"{folder}/{IAC_FILE}", f"{folder}/README.md"}
    undone = [_undo(repo, merge, path) for path in sorted(set(changed) - own)]
    files = {f.path: f.text for f in undone if f.text is not None}
    restored_id = None
    if applied.action == "delete":
        if rule.restored is None or restored is None:
            raise StateRefusal(f"{finding.rule}'s rollback names no restored resource")
        value = restored.get(rule.restored[1])
        if not isinstance(value, str) or not value:
            raise StateRefusal(f"AWS shows no {rule.restored[1]} restored: no follow-up")
        restored_id = value
        imports = f"{root_path}/{IMPORT_FILE}" if root_path not in ("", ".") else IMPORT_FILE
        existing = file_at(repo, "HEAD", imports)
        prefix = existing + ("" if existing.endswith("\n") else "\n") + "\n" if existing else ""
        files[imports] = (prefix or _IMPORTS_HEADER + "\n") + import_block(
            applied.address, restored_id
        )
    return FollowUpChange(
        finding=finding,
        applied=applied,
        pr=pr,
        merge=merge,
        restored_id=restored_id,
        files=files,
        conflicts=tuple(f for f in undone if f.text is None),
    )


def follow_up_body(change: FollowUpChange) -> str:
    return render("pr/follow_up.md.j2", change=change, import_file=IMPORT_FILE)


def follow_up_title(change: FollowUpChange) -> str:
    what = (
        f"import {change.restored_id} as {change.applied.address}"
        if change.restored_id
        else f"put {change.applied.address} back as it is in AWS"
    )
    return f"reclaim: after the rollback, {what}"


def follow_up_labels(change: FollowUpChange) -> tuple[str, ...]:
    return (
        "reclaim",
        FOLLOW_UP_LABEL,
        f"reclaim:{change.finding.rule}",
        "iac:terraform",
        *((NEEDS_HUMAN,) if change.needs_human else ()),
    )
