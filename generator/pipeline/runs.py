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

from generator.errors import ConfigError, ReclaimError
from generator.executor.runner import Executor, RunResult
from generator.fileio import write_atomically
from generator.pipeline.events import PushEvent
from generator.pipeline.gitops import adding_commit, plans_added, without_journal

Kind = Literal["apply", "rollback"]
ExecutorFor = Callable[[Path, Kind], Executor]
"""Builds the executor for a remediation folder (its plan's account, through the chain)."""


class RunOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str
    kind: Kind
    status: Literal["completed", "nothing to do", "failed"]
    message: str
    commit: str | None = Field(default=None, description="The merge that added the plan.")
    pr: int | None = None


class RunResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: list[RunOutcome] = Field(default_factory=list)

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(self.model_dump(mode="json"), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunResults:
        if not path.exists():
            return cls()  # the step before wrote nothing: nothing ran
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ConfigError(f"{path} is not a reclaim results file: {error}") from None


def pending_folders(repo: Path, event: PushEvent, remediations_dir: str) -> list[str]:
    """Plans to apply after this push: the ones it added, and every merged plan without a
    journal (a pending run that a newer push replaced never ran, so its plans come here)."""
    if event.ref != f"refs/heads/{event.repository.default_branch}":
        return []
    added = plans_added(repo, event.before, event.after, remediations_dir)
    return sorted(set(added) | set(without_journal(repo, remediations_dir)))


def _outcome(kind: Kind, result: RunResult) -> tuple[Literal["completed", "nothing to do"], str]:
    if result.nothing_to_do:
        return "nothing to do", result.nothing_to_do
    return "completed", f"{kind} of {result.plan_id} completed ({len(result.steps)} steps)"


def run_one(
    repo: Path,
    folder: str,
    kind: Kind,
    executor_for: ExecutorFor,
    *,
    pr: int | None = None,
) -> RunOutcome:
    path = repo / folder
    commit = adding_commit(repo, folder) if kind == "apply" else None
    try:
        executor = executor_for(path, kind)
        result = executor.apply(path) if kind == "apply" else executor.rollback(path)
    except ReclaimError as error:
        message = error.message + (f" (hint: {error.hint})" if error.hint else "")
        return RunOutcome(
            folder=folder, kind=kind, status="failed", message=message, commit=commit, pr=pr
        )
    status, message = _outcome(kind, result)
    return RunOutcome(
        folder=folder,
        kind=kind,
        status=status,
        message=message,
        commit=commit,
        pr=pr,
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
) -> RunResults:
    results = RunResults()
    results.save(results_path)
    for folder in folders:
        outcome = run_one(repo, folder, kind, executor_for, pr=pr)
        results.outcomes.append(outcome)
        results.save(results_path)
        report(outcome)
    return results
