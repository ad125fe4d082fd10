"""`.reclaim/state.json`: what scans have observed, for facts AWS does not record.

AWS keeps no detach time for a volume, so when CloudTrail cannot answer, the first scan that
saw a volume unattached stands in for it. Only `scan` (and `merge-state`, which folds the
clocks of sharded scans into it) writes this file. A resource that is no longer idle (or gone)
is forgotten, so its clock restarts if it becomes idle again.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from generator.errors import ConfigError
from generator.fileio import write_atomically
from generator.untrusted import load_json_model

FirstSeen = dict[str, dict[str, datetime]]
"""rule → 'account/region/resource-id' → when a scan first saw the resource idle."""


class _StateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    first_seen: FirstSeen = Field(
        default_factory=dict, description="rule → 'account/region/resource-id' → first seen idle"
    )


def state_key(account: str, region: str, resource_id: str) -> str:
    return f"{account}/{region}/{resource_id}"


def unit_of(key: str) -> tuple[str, str] | None:
    """(account, region) of a state key; None for a key reclaim did not write."""
    account, _, rest = key.partition("/")
    region, _, resource_id = rest.partition("/")
    return (account, region) if account and region and resource_id else None


def sorted_clocks(clocks: FirstSeen) -> FirstSeen:
    """The same clocks in a stable order: the committed file changes only when a clock does."""
    return {rule: dict(sorted(clocks[rule].items())) for rule in sorted(clocks) if clocks[rule]}


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

    def observed(self) -> FirstSeen:
        """The clocks of every resource this run saw idle. For a unit that completed these are
        all its clocks (the rest were forgotten); a scan report carries them to `merge-state`."""
        with self._lock:
            return sorted_clocks(
                {
                    rule: {key: self._data.first_seen[rule][key] for key in keys}
                    for rule, keys in self._observed.items()
                }
            )

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            save_clocks(self.path, self._data.first_seen)


def save_clocks(path: Path, clocks: FirstSeen) -> None:
    data = _StateFile(first_seen=sorted_clocks(clocks))
    write_atomically(path, data.model_dump_json(indent=2) + "\n")


def load_clocks(path: Path) -> FirstSeen:
    return _load(path).first_seen


def _load(path: Path | None) -> _StateFile:
    if path is None or not path.exists():
        return _StateFile()
    return load_json_model(
        path,
        _StateFile,
        ConfigError,
        hint="fix it from git history; deleting it restarts every first-seen clock",
    )
