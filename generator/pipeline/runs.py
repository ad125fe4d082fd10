"""Apply and rollback as workflow steps: which folders, one outcome each, results on disk.

One failing plan never stops the others; every outcome is written to the results file as
soon as it is known, so the commit and comment steps that follow see all of them even when
the run is cut short.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.errors import ConfigError, ManifestError, ReclaimError
from generator.executor.runner import Executor, RunResult
from generator.fileio import write_atomically
from generator.folder_checks import load_checked
from generator.iac.folder import is_code_folder, load_code_folder, reports_only
from generator.pipeline.events import PushEvent
from generator.pipeline.gitops import (
    adding_commit,
    journals_pushed,
    plans_added,
    shown,
    without_journal,
)
from generator.untrusted import load_json_model

Kind = Literal["apply", "rollback"]
ExecutorFor = Callable[[Path, Kind], Executor]
"""Builds the executor for a remediation folder (its plan's account, through the chain)."""


class RunOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str
    kind: Kind
    status: Literal["completed", "nothing to do", "failed", "invalid"] = Field(
        description="invalid: refused before any AWS call (a malformed or unbound folder, "
        "a journal that did not come from reclaim's own run); counts as failed."
    )
    message: str
    commit: str | None = Field(default=None, description="The merge that added the plan.")
    pr: int | None = None


class RunResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: list[RunOutcome] = Field(default_factory=list)

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "invalid")]

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(self.model_dump(mode="json"), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunResults:
        if not path.exists():
            return cls()  # the step before wrote nothing: nothing ran
        return load_json_model(
            path,
            cls,
            ConfigError,
            hint="the results file is written by `reclaim apply-merged`; pass that file",
        )


def pending_folders(repo: Path, event: PushEvent, remediations_dir: str) -> list[str]:
    """Plans to apply after this push: the ones it added, and every merged plan without a
    journal (a pending run that a newer push replaced never ran, so its plans come here).
    A plan whose journal came with it is not one of them (see `refused_in_push`)."""
    if event.ref != f"refs/heads/{event.repository.default_branch}":
        return []
    added = plans_added(repo, event.before, event.after, remediations_dir)
    pending = set(added) | set(without_journal(repo, remediations_dir))
    pending = {folder for folder in pending if not reports_only(repo / folder)}
    return sorted(pending - set(refused_in_push(repo, event, remediations_dir)))


def refused_in_push(repo: Path, event: PushEvent, remediations_dir: str) -> dict[str, str]:
    """Plans this push added together with a journal.json: why each is refused.

    Only reclaim's apply and rollback runs write journals, and only for plans already on
    the default branch; a journal that arrives with its plan was written by whoever wrote
    the branch, and would make apply skip the backup it claims was taken."""
    if event.ref != f"refs/heads/{event.repository.default_branch}":
        return {}
    added = set(plans_added(repo, event.before, event.after, remediations_dir))
    journaled = journals_pushed(repo, event.before, event.after, remediations_dir)
    return {
        folder: f"{folder}/journal.json arrived in the same push as its plan: journals come "
        "only from reclaim's own runs, so this plan is not applied; nothing was changed "
        "(remove the journal and let the next scan propose the remediation again)"
        for folder in journaled
        if folder in added
    }


def _outcome(kind: Kind, result: RunResult) -> tuple[Literal["completed", "nothing to do"], str]:
    if result.nothing_to_do:
        return "nothing to do", result.nothing_to_do
    return "completed", f"{kind} of {result.plan_id} completed ({len(result.steps)} steps)"


def _message(error: ReclaimError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def adding_commit_or_none(repo: Path, folder: str, kind: Kind) -> str | None:
    """The merge that brought an applied folder (so its PR hears the outcome), if git knows."""
    if kind != "apply":
        return None
    try:
        return adding_commit(repo, folder)
    except ReclaimError:
        return None


def invalid(
    repo: Path, folder: str, kind: Kind, message: str, *, pr: int | None = None
) -> RunOutcome:
    """A folder refused before anything ran."""
    if shown(folder) != folder:
        message = f"{shown(folder)}: the folder name is not valid UTF-8, so it names no plan"
    return RunOutcome(
        folder=shown(folder),
        kind=kind,
        status="invalid",
        message=message,
        commit=adding_commit_or_none(repo, folder, kind),
        pr=pr,
    )


def run_one(
    repo: Path,
    folder: str,
    kind: Kind,
    executor_for: ExecutorFor,
    *,
    pr: int | None = None,
) -> RunOutcome:
    if shown(folder) != folder:
        return invalid(repo, folder, kind, "", pr=pr)
    path = repo / folder
    commit = adding_commit_or_none(repo, folder, kind)
    status: Literal["completed", "nothing to do", "failed", "invalid"]
    try:
        # No AWS: before the executor and its role chain exist.
        load_code_folder(path) if is_code_folder(path) else load_checked(path)
        executor = executor_for(path, kind)
    except (ManifestError, ConfigError) as error:
        # Malformed or unbound, or its account is not in reclaim.yml: refused before AWS.
        status, message = "invalid", _message(error)
    except ReclaimError as error:
        status, message = "failed", _message(error)
    else:
        try:
            result = executor.apply(path) if kind == "apply" else executor.rollback(path)
        except ReclaimError as error:  # whatever it is, it may have come after AWS calls
            status, message = "failed", _message(error)
        else:
            status, message = _outcome(kind, result)
    return RunOutcome(
        folder=folder, kind=kind, status=status, message=message, commit=commit, pr=pr
    )


def run_all(
    repo: Path,
    folders: list[str],
    kind: Kind,
    executor_for: ExecutorFor,
    results_path: Path,
    *,
    pr: int | None = None,
    report: Callable[[RunOutcome], None] = lambda _o: None,
    refused: dict[str, str] | None = None,
) -> RunResults:
    """Run every folder, one after another; ``refused`` folders (with why) are reported as
    invalid and not run."""
    results = RunResults()
    results.save(results_path)
    for folder, why in sorted((refused or {}).items()):
        _record(results, invalid(repo, folder, kind, why, pr=pr), results_path, report)
    for folder in folders:
        _record(results, run_one(repo, folder, kind, executor_for, pr=pr), results_path, report)
    return results


def _record(
    results: RunResults,
    outcome: RunOutcome,
    results_path: Path,
    report: Callable[[RunOutcome], None],
) -> None:
    results.outcomes.append(outcome)
    results.save(results_path)
    report(outcome)
