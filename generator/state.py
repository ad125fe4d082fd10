"""`.reclaim/state.json`: what scans have observed, for facts AWS does not record.

AWS keeps no detach time for a volume, so when CloudTrail cannot answer, the first scan that
saw a volume unattached stands in for it. Only `scan` writes this file. A resource that is no
longer idle (or gone) is forgotten, so its clock restarts if it becomes idle again.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator.errors import ConfigError
from generator.fileio import write_atomically


class _StateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    first_seen: dict[str, dict[str, datetime]] = Field(
        default_factory=dict, description="rule → 'account/region/resource-id' → first seen idle"
    )


def state_key(account: str, region: str, resource_id: str) -> str:
    return f"{account}/{region}/{resource_id}"


class SeenState:
    """Thread-safe first-seen clock, loaded from and saved to the state file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data = _load(path)
        self._observed: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def first_seen(self, rule: str, key: str, now: datetime) -> datetime:
        """When this resource was first seen idle; records ``now`` on first sight."""
        with self._lock:
            seen = self._data.first_seen.setdefault(rule, {})
            self._observed.setdefault(rule, set()).add(key)
            if key not in seen or seen[key] > now:
                seen[key] = now
            return seen[key]

    def forget_unobserved(self, rule: str, account: str, region: str) -> None:
        """Drop entries of a fully scanned (rule, account, region) not seen idle this run."""
        prefix = f"{account}/{region}/"
        with self._lock:
            seen = self._data.first_seen.get(rule, {})
            observed = self._observed.get(rule, set())
            for key in [k for k in seen if k.startswith(prefix) and k not in observed]:
                del seen[key]

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            write_atomically(self.path, self._data.model_dump_json(indent=2) + "\n")


def _load(path: Path | None) -> _StateFile:
    if path is None or not path.exists():
        return _StateFile()
    try:
        return _StateFile.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as error:
        raise ConfigError(
            f"state file {path} is not valid: {str(error).splitlines()[0]}",
            hint="fix it from git history; deleting it restarts every first-seen clock",
        ) from None
