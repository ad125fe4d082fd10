"""The one rule test harness: run a rule the way reclaim does, detect → plan → apply →
rollback, against moto (or a stand-in client). No assertions about a rule live here; the
invariants every rule owes reclaim are checked on every use (derived IDs on detection,
every static manifest and folder check on planning)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from generator.aws.prices import PriceTable, bundled_prices
from generator.exclusions import Exclusions
from generator.executor.observe import Observer
from generator.executor.runner import Executor
from generator.findings import Finding, SkippedResource
from generator.folder_checks import check_folder
from generator.manifest.validation import validate_pair
from generator.planner import plan_finding, write_remediation
from generator.rules import RULES
from generator.rules.base import RuleSettings
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.state import SeenState
from tests import trusted

REGION = "us-east-1"
ACCOUNT = MOTO_ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Detected:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[SkippedResource] = field(default_factory=list)

    def only(self) -> Finding:
        assert len(self.findings) == 1, [f.id for f in self.findings]
        return self.findings[0]

    def finding(self, resource_id: str) -> Finding:
        for finding in self.findings:
            if finding.resource_id == resource_id:
                return finding
        reasons = [s.reason for s in self.skipped if s.resource_id == resource_id]
        raise AssertionError(f"no finding for {resource_id}; skipped because {reasons}")

    def skip_reason(self, resource_id: str) -> str:
        reasons = [s.reason for s in self.skipped if s.resource_id == resource_id]
        assert reasons, f"{resource_id} was not skipped: {self.skipped}"
        return reasons[0]


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region)


moto_client = client


def context(
    *,
    as_of: datetime,
    region: str = REGION,
    client: Callable[[str], Any] | None = None,
    prices: PriceTable | None = None,
    exclusions: Exclusions | None = None,
) -> ScanContext:
    return ScanContext(
        account_id=ACCOUNT,
        region=region,
        as_of=as_of,
        client=client or (lambda service: moto_client(service, region)),
        prices=prices or bundled_prices(),
        exclusions=exclusions or Exclusions(),
        state=SeenState(None),
    )


def _detected(rule_name: str, ctx: ScanContext, settings: RuleSettings) -> Detected:
    rule = RULES[rule_name]
    trusted.remember(
        trusted.config_for_rule(rule_name, settings, ctx.exclusions), ctx.as_of, ctx.state
    )
    result = Detected()
    for item in detect_declared(rule, ctx, settings):
        if isinstance(item, Finding):
            # Every rule's finding carries the one ID derivable from its record, so that
            # `reclaim validate` binds folder, plan and finding to it.
            assert item.id == rule.derived_id(item), (item.id, rule.derived_id(item))
            assert item.resource_id == rule.acted_on(item)
            result.findings.append(item)
        else:
            result.skipped.append(item)
    return result


def detect(rule_name: str, ctx: ScanContext, **settings: Any) -> Detected:
    """``rule_name``'s detection in ``ctx``, with settings given as reclaim.yml would."""
    return _detected(rule_name, ctx, RULES[rule_name].settings_model.model_validate(settings))


def scan(
    rule_name: str,
    *,
    as_of: datetime | None = None,
    settings: RuleSettings | None = None,
    prices: PriceTable | None = None,
    exclusions: Exclusions | None = None,
    client_factory: Callable[[str], Any] | None = None,
) -> Detected:
    """``rule_name``'s detection in moto's account and region, with a settings model."""
    ctx = context(
        as_of=as_of or datetime.now(UTC),
        client=client_factory or client,
        prices=prices,
        exclusions=exclusions,
    )
    return _detected(rule_name, ctx, settings or RULES[rule_name].settings_model())


def planned(finding: Finding, out: Path) -> Path:
    """The remediation folder, written as `reclaim plan` writes it (JSON round trip included)
    and passing every static check `reclaim validate` makes."""
    reloaded = Finding.model_validate(json.loads(finding.model_dump_json()))
    remediation = plan_finding(reloaded)
    validate_pair(remediation.plan, remediation.rollback, RULES)
    folder = write_remediation(remediation, out)
    check_folder(folder, remediation.plan, remediation.rollback)
    return folder


def executor(
    client_for: Callable[[str, str], Any] | None = None,
    observer: Observer | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Executor:
    return Executor(
        client_for=client_for or (lambda service, region: moto_client(service, region)),
        account_id=lambda: ACCOUNT,
        observer=observer or trusted.observer(),
        clock=clock or trusted.clock(),
        actor="test",
    )


def journal(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "journal.json").read_text())  # type: ignore[no-any-return]
