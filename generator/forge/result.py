"""The result comment a PR gets after apply or rollback: what ran, what it created, what it
saved, and how to undo it. Built from the remediation folder's plan and journal only."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from generator.errors import StateRefusal
from generator.forge.base import ResultComment, RunState
from generator.iac.folder import is_code_folder, load_code_folder
from generator.manifest.folder import RemediationFolder
from generator.manifest.models import Manifest, RunRecord
from generator.render import render


@dataclass(frozen=True)
class StepLine:
    step_id: str
    phase: str
    status: str
    outputs: dict[str, JsonValue]
    error: str | None


def _lines(run: RunRecord, manifest: Manifest) -> list[StepLine]:
    phases = {step.id: step.phase for step in manifest.steps}
    return [
        StepLine(
            record.step_id,
            # Not a manifest step: a merged code change (terraform apply), made by code.
            phases.get(record.step_id, "change (code)"),
            record.status,
            {k: v for k, v in record.outputs.items() if v is not None},
            record.error,
        )
        for record in run.steps
    ]


def _state(apply: RunRecord | None, rollback: RunRecord | None) -> RunState:
    if rollback is not None:
        return RunState.ROLLED_BACK if rollback.status == "completed" else RunState.FAILED
    if apply is not None and apply.status == "completed":
        return RunState.APPLIED
    return RunState.FAILED


def result_comment(folder: RemediationFolder) -> ResultComment:
    if is_code_folder(folder.path):
        loaded = load_code_folder(folder.path)
        plan, rollback = loaded.plan, loaded.rollback
    else:
        plan, rollback = folder.load_plan(), folder.load_rollback()
    journal = folder.load_journal()
    if journal is None or journal.apply is None:
        raise StateRefusal(
            f"{folder.path} has no journal.json with an apply run: nothing to report",
            hint="run `reclaim apply` on the folder first",
        )
    state = _state(journal.apply, journal.rollback)
    created = {
        f"{line.step_id}.{name}": value
        for line in _lines(journal.apply, plan)
        if line.status == "completed"
        and any(step.id == line.step_id and step.mutates for step in plan.steps)
        for name, value in line.outputs.items()
    }
    restored = (
        {
            f"{line.step_id}.{name}": value
            for line in _lines(journal.rollback, rollback)
            if line.status == "completed"
            for name, value in line.outputs.items()
        }
        if journal.rollback
        else {}
    )
    markdown = render(
        "forge/result.md.j2",
        state=state.value,
        finding=plan.finding,
        plan_id=plan.plan_id,
        apply=journal.apply,
        apply_lines=_lines(journal.apply, plan),
        rollback_run=journal.rollback,
        rollback_lines=_lines(journal.rollback, rollback) if journal.rollback else [],
        created=created,
        restored=restored,
    )
    return ResultComment(markdown=markdown, state=state)
