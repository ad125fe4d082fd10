"""What an apply in a test believes: the reclaim.yml, state and as-of of the scan that made
the finding, as the default branch's reclaim.yml and state file are in production.

The harnesses remember the last scan of a test here; executors they build observe through
it. A test about forged manifests builds its own observer from the settings it means to
trust, so the apply cannot be told anything by plan.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.config import ReclaimConfig, parse_config
from generator.exclusions import Exclusions
from generator.executor.observe import Observation, RuleObserver
from generator.manifest.models import Plan
from generator.rules import RULES
from generator.rules.base import RuleSettings
from generator.state import SeenState


@dataclass
class TrustedScan:
    config: ReclaimConfig
    as_of: datetime
    state: SeenState


_last: list[TrustedScan] = []


def remember(config: ReclaimConfig, as_of: datetime, state: SeenState | None = None) -> None:
    _last[:] = [TrustedScan(config, as_of, state or SeenState(config.state_path))]


def forget() -> None:
    _last.clear()


def config_for_rule(
    rule_name: str,
    settings: RuleSettings | dict[str, Any] | None = None,
    exclusions: Exclusions | None = None,
) -> ReclaimConfig:
    """reclaim.yml enabling one rule with these settings (the others off)."""
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    if isinstance(settings, RuleSettings):
        settings = settings.model_dump(mode="json")
    rules[rule_name] = dict(settings or {})
    data: dict[str, Any] = {"rules": rules}
    if exclusions is not None:
        data["exclusions"] = exclusions.model_dump(mode="json")
    # no state file: the harnesses hand their scan's in-memory state to remember()
    return parse_config(data, source="test config", base_dir=Path("/nonexistent-reclaim-tests"))


def observer() -> RuleObserver:
    if not _last:
        raise AssertionError("no scan to trust: scan (or remember a config) before applying")
    trusted = _last[0]
    return RuleObserver(config=trusted.config, state=trusted.state)


def clock() -> Callable[[], datetime]:
    """The scan's as-of instant, plus the real time since (AWS's clock keeps running)."""
    if not _last:
        return lambda: datetime.now(UTC)
    trusted = _last[0]
    started = datetime.now(UTC)
    return lambda: trusted.as_of + (datetime.now(UTC) - started)


class BelieveTheRecord:
    """For tests of executor mechanics on a botocore Stubber (CloudFront's 412 retries),
    which cannot answer a rule's whole detection: the recorded finding is taken as observed.
    Production has no such observer; no test about trust uses it."""

    def observe(self, plan: Plan, client_for: Any, as_of: datetime) -> Observation:
        return Observation(plan.finding, as_of)
