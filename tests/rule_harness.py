"""Run a rule the way reclaim does: detect → plan → apply → rollback, against moto."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from generator.aws.prices import PriceTable, bundled_prices
from generator.exclusions import Exclusions
from generator.executor.runner import Executor
from generator.findings import Finding, SkippedResource
from generator.manifest.folder_checks import check_folder
from generator.manifest.validation import validate_pair
from generator.planner import plan_finding, write_remediation
from generator.rules import RULES
from generator.rules.base import RuleSettings
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.state import SeenState
from tests import trusted

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[SkippedResource] = field(default_factory=list)

    def finding(self, resource_id: str) -> Finding:
        for finding in self.findings:
            if finding.resource_id == resource_id:
                return finding
        reasons = [s.reason for s in self.skipped if s.resource_id == resource_id]
        raise AssertionError(f"no finding for {resource_id}; skipped because {reasons}")

    def skip_reason(self, resource_id: str) -> str:
        for skipped in self.skipped:
            if skipped.resource_id == resource_id:
                return skipped.reason
        raise AssertionError(f"{resource_id} was not skipped")


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region)


def scan(
    rule_name: str,
    *,
    as_of: datetime | None = None,
    settings: RuleSettings | None = None,
    prices: PriceTable | None = None,
    exclusions: Exclusions | None = None,
    client_factory: Callable[[str], Any] | None = None,
) -> ScanResult:
    rule = RULES[rule_name]
    ctx = ScanContext(
        account_id=ACCOUNT,
        region=REGION,
        as_of=as_of or datetime.now(UTC),
        client=client_factory or client,
        prices=prices or bundled_prices(),
        exclusions=exclusions or Exclusions(),
        state=SeenState(None),
    )
    trusted.remember(
        trusted.config_for_rule(rule_name, settings, ctx.exclusions), ctx.as_of, ctx.state
    )
    result = ScanResult()
    for item in detect_declared(rule, ctx, settings or rule.settings_model()):
        if isinstance(item, Finding):
            # Every rule's finding carries the one ID derivable from its record, so that
            # `reclaim validate` binds folder, plan and finding to it.
            assert item.id == rule.derived_id(item), (item.id, rule.derived_id(item))
            assert item.resource_id == rule.acted_on(item)
            result.findings.append(item)
        else:
            result.skipped.append(item)
    return result


def remediation_folder(finding: Finding, root: Path) -> Path:
    remediation = plan_finding(finding)
    validate_pair(remediation.plan, remediation.rollback)
    folder = write_remediation(remediation, root)
    check_folder(folder, remediation.plan, remediation.rollback)
    return folder


def executor(clock: Callable[[], datetime] | None = None) -> Executor:
    return Executor(
        client_for=lambda service, region: client(service, region),
        account_id=lambda: ACCOUNT,
        observer=trusted.observer(),
        clock=clock or trusted.clock(),
        actor="test",
    )
