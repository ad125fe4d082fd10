"""Write the generated files without ever losing a user's edit.

``.reclaim/pipeline.json`` records the options of the last run and the SHA-256 of every file
(or, for CODEOWNERS, of reclaim's block in it) as generated. On a re-run a file is:
created when absent; left alone when identical; replaced when it is still exactly what
reclaim generated last time; and otherwise, being the user's, shown as a diff and kept,
unless ``--force``. Nothing is written unless every file can be.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator.errors import ConfigError, StateRefusal
from generator.fileio import write_atomically
from generator.pipeline.spec import PipelineOptions

MANIFEST_PATH = ".reclaim/pipeline.json"
BLOCK_BEGIN = "# BEGIN reclaim"
BLOCK_END = "# END reclaim"


class InitConflict(StateRefusal):
    """Files the user changed since reclaim generated them; nothing was written."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PipelineManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    options: PipelineOptions
    files: dict[str, str] = Field(default_factory=dict)
    """Repository-relative path → SHA-256 of what reclaim generated (its block, for blocks)."""


def load_manifest(root: Path) -> PipelineManifest | None:
    path = root / MANIFEST_PATH
    if not path.exists():
        return None
    try:
        return PipelineManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise ConfigError(
            f"{path} is not a manifest this reclaim can read: {error.errors()[0]['msg']}",
            hint="delete it and re-run `reclaim init` with all options (files you edited "
            "will then be reported as conflicts)",
        ) from None


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    OVERWRITE = "overwrite (--force)"


@dataclass(frozen=True)
class Generated:
    path: str
    content: str
    block: bool = False
    """True: ``content`` is reclaim's block inside a file the user also writes (CODEOWNERS)."""


@dataclass(frozen=True)
class FileChange:
    generated: Generated
    action: Action
    new_text: str
    diff: str = ""


def _split_block(text: str) -> tuple[str, str | None, str]:
    """(before, reclaim's block or None, after) of a file holding a managed block."""
    start = text.find(BLOCK_BEGIN)
    end = text.find(BLOCK_END, start)
    if start < 0 or end < 0:
        return text, None, ""
    end = text.find("\n", end)
    end = len(text) if end < 0 else end + 1
    return text[:start], text[start:end], text[end:]


def _diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (as it is)",
            tofile=f"{path} (as reclaim init generates it)",
        )
    )


def plan_changes(
    root: Path, files: list[Generated], manifest: PipelineManifest | None, *, force: bool
) -> list[FileChange]:
    recorded = manifest.files if manifest else {}
    changes = []
    for item in files:
        target = root / item.path
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if item.block:
            before, block, after = _split_block(current or "")
            if block is None:
                separator = "" if not before or before.endswith("\n") else "\n"
                spacer = "\n" if before else ""
                new_text = f"{before}{separator}{spacer}{item.content}"
            else:
                new_text = f"{before}{item.content}{after}"
            mine = block
        else:
            new_text, mine = item.content, current
        if current is None:
            action = Action.CREATE
        elif current == new_text:
            action = Action.UNCHANGED
        elif mine is None or recorded.get(item.path) == sha256(mine):
            # Absent block, or the file/block is exactly what reclaim wrote last time.
            action = Action.UPDATE
        else:
            action = Action.OVERWRITE if force else Action.CONFLICT
        diff = _diff(item.path, current or "", new_text) if action is not Action.CREATE else ""
        changes.append(FileChange(item, action, new_text, diff))
    return changes


def apply_changes(root: Path, changes: list[FileChange], options: PipelineOptions) -> None:
    conflicts = [c for c in changes if c.action is Action.CONFLICT]
    if conflicts:
        names = ", ".join(c.generated.path for c in conflicts)
        raise InitConflict(
            f"changed since reclaim generated them: {names}; nothing was written",
            hint="merge the diffs above into your files, or re-run with --force to "
            "replace them with what reclaim generates",
        )
    previous = load_manifest(root)
    hashes = dict(previous.files) if previous else {}
    # Forget what is gone; keep recording stale files still on disk until they are deleted.
    hashes = {path: digest for path, digest in hashes.items() if (root / path).exists()}
    for change in changes:
        if change.action is not Action.UNCHANGED:
            write_atomically(root / change.generated.path, change.new_text)
        hashes[change.generated.path] = sha256(change.generated.content)
    manifest = PipelineManifest(options=options, files=dict(sorted(hashes.items())))
    write_atomically(
        root / MANIFEST_PATH,
        json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n",
    )
