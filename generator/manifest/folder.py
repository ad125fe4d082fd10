"""A remediation folder: plan.json, rollback.json, README.md (the PR body), journal.json."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from generator.errors import ManifestError
from generator.fileio import write_atomically
from generator.manifest.models import Journal, Plan, Rollback
from generator.untrusted import parse_json, read_text, to_model

PLAN_FILE = "plan.json"
IAC_FILE = "iac.json"
"""A change made in code (generator.iac): it stands where plan.json would."""
ROLLBACK_FILE = "rollback.json"
README_FILE = "README.md"
JOURNAL_FILE = "journal.json"

_Model = TypeVar("_Model", bound=BaseModel)


def to_json(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RemediationFolder:
    path: Path

    @property
    def plan_path(self) -> Path:
        return self.path / PLAN_FILE

    @property
    def rollback_path(self) -> Path:
        return self.path / ROLLBACK_FILE

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_FILE

    @property
    def readme_path(self) -> Path:
        return self.path / README_FILE

    def _read(self, path: Path) -> str:
        hint = None
        if not path.exists():
            hint = (
                "pass the remediation folder (remediations/<finding-id>) that holds "
                "plan.json and rollback.json"
            )
        return read_text(path, ManifestError, hint=hint)

    def _parse(self, path: Path, text: str, model: type[_Model]) -> _Model:
        return to_model(model, parse_json(text, path, ManifestError, None), path, ManifestError)

    def plan_text(self) -> str:
        return self._read(self.plan_path)

    def rollback_text(self) -> str:
        return self._read(self.rollback_path)

    def readme_text(self) -> str:
        return self._read(self.readme_path)

    def load_plan(self) -> Plan:
        return self._parse(self.plan_path, self.plan_text(), Plan)

    def load_rollback(self) -> Rollback:
        return self._parse(self.rollback_path, self.rollback_text(), Rollback)

    def load_journal(self) -> Journal | None:
        if not self.journal_path.exists():
            return None
        return self._parse(self.journal_path, self._read(self.journal_path), Journal)

    def save_journal(self, journal: Journal) -> None:
        write_atomically(self.journal_path, to_json(journal))

    def write_manifests(self, plan: Plan, rollback: Rollback, readme: str) -> None:
        write_atomically(self.plan_path, to_json(plan))
        write_atomically(self.rollback_path, to_json(rollback))
        write_atomically(self.path / README_FILE, readme)
