"""What the default branch's journals say reclaim did: which plans were applied, which were
rolled back, which backups their applies made, which resources their rollbacks brought back.

The one record of reclaim's own history that a scan and an apply believe. It is read from
the remediations folder of the checkout they run in, the default branch: only reclaim's own
apply and rollback runs write journals there (`validate-changed` refuses a pull request that
adds, changes or deletes one, and apply refuses a journal that arrives with its plan). A
folder whose journal was not written for its plan.json and rollback.json, or whose names are
not the ones reclaim derives, is not believed: it counts as no history at all, which never
makes reclaim propose more (a backup nobody's journal records is never proposed for
deletion). Nothing here comes from a pull request's own files, and no AWS call is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from generator.errors import ReclaimError
from generator.findings import Finding
from generator.manifest.folder import PLAN_FILE, RemediationFolder, digest
from generator.manifest.models import Manifest, RunRecord

if TYPE_CHECKING:
    from generator.config import ReclaimConfig

BACKUP_OUTPUT = "SnapshotId"
"""The output a backup step records its snapshot under (ebs-unattached's backup step)."""


@dataclass(frozen=True)
class PlanHistory:
    """One applied plan of the default branch, as its journal records it."""

    finding: Finding
    """The finding of the reviewed plan.json (the evidence the plan was approved on)."""
    applied_at: datetime
    rolled_back_at: datetime | None = None
    """When a rollback was started (completed or not): from then on the plan's backups
    belong to that rollback."""
    backups: tuple[str, ...] = ()
    """Snapshot IDs the apply's backup steps recorded."""
    restored: tuple[str, ...] = ()
    """IDs the rollback's change steps recorded (a restored volume's new ID)."""

    @property
    def plan_id(self) -> str:
        return self.finding.id

    def unit(self) -> tuple[str, str, str]:
        return (self.finding.rule, self.finding.account, self.finding.region)

    def concerns(self, resource_id: str) -> bool:
        """The plan acted on this resource, or its rollback brought it back."""
        return resource_id == self.finding.resource_id or resource_id in self.restored


@dataclass(frozen=True)
class Ledger:
    """The default branch's journals, and its reclaim.yml's backup retention per rule."""

    plans: tuple[PlanHistory, ...] = ()
    backup_retention_days: Mapping[str, int] = field(default_factory=dict)
    """rule → its ``backup_retention_days`` in the default branch's reclaim.yml."""

    def backup(self, snapshot_id: str) -> PlanHistory | None:
        """The applied plan whose backup this snapshot is, per its journal."""
        return next((p for p in self.plans if snapshot_id in p.backups), None)

    def rolled_back(
        self, rule: str, account: str, region: str, resource_id: str
    ) -> PlanHistory | None:
        """The latest rolled-back plan of this rule that acted on the resource or restored
        it; None when no rollback ever concerned it."""
        found = [
            p
            for p in self.plans
            if p.rolled_back_at is not None
            and p.unit() == (rule, account, region)
            and p.concerns(resource_id)
        ]
        return max(found, key=lambda p: (p.rolled_back_at, p.plan_id), default=None)

    @classmethod
    def load(
        cls, remediations: Path, backup_retention_days: Mapping[str, int] | None = None
    ) -> Ledger:
        retention = dict(backup_retention_days or {})
        if not remediations.is_dir():
            return cls((), retention)
        found = (_history(path.parent) for path in sorted(remediations.glob(f"*/{PLAN_FILE}")))
        return cls(tuple(h for h in found if h is not None), retention)


def _history(path: Path) -> PlanHistory | None:
    folder = RemediationFolder(path)
    try:
        journal = folder.load_journal()
        if journal is None or journal.apply is None:
            return None
        plan, rollback = folder.load_plan(), folder.load_rollback()
        bound = (
            journal.plan_sha256 == digest(folder.plan_text())
            and journal.rollback_sha256 == digest(folder.rollback_text())
            and journal.plan_id == plan.plan_id == rollback.plan_id == path.name
        )
    except ReclaimError:
        return None  # `reclaim validate` and the apply report a broken folder
    if not bound or journal.apply.status != "completed" or journal.apply.finished_at is None:
        return None
    return PlanHistory(
        finding=plan.finding,
        applied_at=journal.apply.finished_at,
        rolled_back_at=journal.rollback.started_at if journal.rollback else None,
        backups=tuple(_outputs(journal.apply, plan, "backup", BACKUP_OUTPUT)),
        restored=tuple(_outputs(journal.rollback, rollback, "change", None)),
    )


def _outputs(
    run: RunRecord | None, manifest: Manifest, phase: str, name: str | None
) -> Iterable[str]:
    if run is None:
        return
    phases = {step.id: step.phase for step in manifest.steps}
    for record in run.steps:
        if record.status != "completed" or phases.get(record.step_id) != phase:
            continue
        for key, value in record.outputs.items():
            if isinstance(value, str) and (name is None or key == name):
                yield value


def retention_of(settings: Iterable[tuple[str, object]]) -> dict[str, int]:
    """rule → backup_retention_days, for the rules whose settings declare one."""
    return {
        name: days
        for name, rule_settings in settings
        if isinstance(days := getattr(rule_settings, "backup_retention_days", None), int)
    }


def ledger_of(config: ReclaimConfig) -> Ledger:
    """The ledger of the checkout ``config`` was loaded from (the default branch's, in the
    scan and apply workflows): its remediations folder and its rules' retentions."""
    rules = config.rules
    by_rule = (
        (info.alias or name, getattr(rules, name))
        for name, info in type(rules).model_fields.items()
    )
    return Ledger.load(config.remediations_path, retention_of(by_rule))
