"""After a merge whose apply failed: the next scheduled run looks again, and says so on the PR.

A failed apply opens nothing new (its PR is merged; propose settles it as already merged).
Its result comment already says what failed. Each scheduled run then re-checks the merged
plan's resource, read-only, the way an open PR is re-checked (generator.pipeline.freshness),
and rewrites that result comment with the verdict and the journal attached:

- the finding still holds and no change step ran: the apply can be retried; re-running the
  failed apply run resumes from its journal without repeating a completed step (the retry
  goes through the apply environment's reviewers like any apply: the scan's read-only role
  cannot and does not retry it itself);
- it no longer holds: nothing more is to be tried, and any backup the apply made is named
  (it is billed until deleted).

Only journals on the default branch count: reclaim's own apply runs commit them there, and
apply refuses a journal that arrived with its plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from generator.errors import ReclaimError
from generator.executor.observe import ClientFor, Observer
from generator.forge.base import ResultComment, RunState
from generator.forge.result import result_comment
from generator.manifest.folder import JOURNAL_FILE, RemediationFolder
from generator.manifest.models import Journal, Plan
from generator.pipeline.freshness import Verdict, recheck
from generator.pipeline.gitops import adding_commit

RECHECK_HEADING = "#### Re-checked by the scheduled scan"


@dataclass(frozen=True)
class FailedApply:
    folder: str
    """Repository-relative folder path."""
    journal: Journal
    change_started: bool
    """A change step has a record: the resource may be partly changed."""


def failed_applies(checkout: Path, remediations_dir: str) -> list[FailedApply]:
    """Folders on the default branch whose apply failed or was aborted, not rolled back."""
    found = []
    for path in sorted((checkout / remediations_dir).glob(f"*/{JOURNAL_FILE}")):
        folder = RemediationFolder(path.parent)
        try:
            journal, plan = folder.load_journal(), folder.load_plan()
        except ReclaimError:
            continue  # validate and apply report a broken folder; nothing to re-check here
        if journal is None or journal.apply is None or journal.rollback is not None:
            continue
        if journal.apply.status not in ("failed", "aborted"):
            continue
        changes = {s.id for s in plan.steps if s.phase == "change"}
        started = any(r.step_id in changes for r in journal.apply.steps)
        found.append(FailedApply(path.parent.relative_to(checkout).as_posix(), journal, started))
    return found


def _backups(journal: Journal, plan: Plan) -> list[str]:
    assert journal.apply is not None
    made = []
    for step in plan.steps:
        record = journal.apply.record(step.id)
        if step.phase == "backup" and record is not None and record.status == "completed":
            outputs = ", ".join(f"{k} {v}" for k, v in record.outputs.items() if v is not None)
            made.append(f"`{step.id}` ({outputs})" if outputs else f"`{step.id}`")
    return made


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}json\n{text}\n{fence}"


def recheck_note(failed: FailedApply, plan: Plan, verdict: Verdict | None, as_of: datetime) -> str:
    """The section appended to the failed apply's result comment."""
    when = f"{as_of:%Y-%m-%d %H:%M} UTC"
    if failed.change_started:
        what = (
            f"**Not re-checked as of {when}:** the apply had started changing the resource, so "
            "it is not what the scan would find idle. Re-run the failed apply run to finish "
            "it (it resumes from `journal.json`), or comment `/rollback` to restore it."
        )
    elif verdict is not None and verdict.state == "success":
        what = (
            f"**Still holds as of {when}:** {verdict.summary}. The apply can be retried: "
            "re-run the failed apply run; it resumes from `journal.json` without repeating a "
            "completed step, after the apply environment's approval."
        )
    elif verdict is not None and verdict.state == "failure":
        backups = _backups(failed.journal, plan)
        kept = (
            f" The backup it made is kept and billed until you delete it: {', '.join(backups)}."
            if backups
            else " It made no backup."
        )
        what = (
            f"**No longer holds as of {when}:** {verdict.summary}. Closed: nothing more will "
            f"be tried for this plan; the next scan proposes the resource again if it becomes "
            f"idle.{kept}"
        )
    else:
        why = verdict.summary if verdict is not None else "unknown"
        what = f"**Not checked as of {when}:** {why}. The next scheduled run tries again."
    journal = json.dumps(failed.journal.model_dump(mode="json"), indent=2)
    return (
        f"{RECHECK_HEADING}\n{what}\n\n<details><summary>journal.json</summary>\n\n"
        f"{_fenced(journal)}\n\n</details>"
    )


@dataclass(frozen=True)
class Rechecked:
    folder: str
    verdict: Verdict | None
    posted: str | None
    """Where the comment is; None when it could not be posted (``problem`` says why)."""
    problem: str | None = None


def recheck_failed_applies(
    checkout: Path,
    remediations_dir: str,
    observer: Observer,
    client_for: Callable[[Plan], ClientFor],
    as_of: datetime,
    comment: Callable[[str, str, ResultComment], str],
) -> list[Rechecked]:
    """Re-check each failed apply and rewrite its PR's result comment through ``comment``
    (finding ID, merge commit, comment) → URL."""
    results = []
    for failed in failed_applies(checkout, remediations_dir):
        path = checkout / failed.folder
        folder = RemediationFolder(path)
        plan = folder.load_plan()
        verdict = None if failed.change_started else recheck(path, observer, client_for, as_of)
        try:
            base = result_comment(folder)
            commit = adding_commit(checkout, failed.folder)
            if commit is None:
                raise ReclaimError(f"git does not know the merge that added {failed.folder}")
            markdown = f"{base.markdown}\n\n{recheck_note(failed, plan, verdict, as_of)}"
            url = comment(path.name, commit, ResultComment(markdown, RunState.FAILED))
        except ReclaimError as error:
            results.append(Rechecked(failed.folder, verdict, None, error.message))
            continue
        results.append(Rechecked(failed.folder, verdict, url))
    return results
