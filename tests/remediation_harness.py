"""Drive a rule the way reclaim does: detect against moto, plan into a folder, apply and roll
back through the executor. Shared by the rule tests; no assertions live here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from generator.aws.prices import PriceTable, bundled_prices
from generator.exclusions import Exclusions
from generator.executor.observe import Observer
from generator.executor.runner import Executor
from generator.findings import Finding, SkippedResource
from generator.planner import plan_finding, write_remediation
from generator.rules import RULES
from generator.rules.base import RuleSettings
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.state import SeenState
from tests import trusted
from tests.needs import PLACEBO

MOTO_ACCOUNT = "123456789012"


def moto_client(service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region)


@dataclass
class Detected:
    findings: list[Finding]
    skipped: list[SkippedResource]

    def only(self) -> Finding:
        assert len(self.findings) == 1, [f.id for f in self.findings]
        return self.findings[0]

    def skip_reason(self, resource_id: str) -> str:
        reasons = [s.reason for s in self.skipped if s.resource_id == resource_id]
        assert reasons, f"{resource_id} was not skipped: {self.skipped}"
        return reasons[0]


def context(
    *,
    as_of: datetime,
    region: str = "us-east-1",
    client: Callable[[str], Any] | None = None,
    prices: PriceTable | None = None,
    exclusions: Exclusions | None = None,
) -> ScanContext:
    return ScanContext(
        account_id=MOTO_ACCOUNT,
        region=region,
        as_of=as_of,
        client=client or (lambda service: moto_client(service, region)),
        prices=prices or bundled_prices(),
        exclusions=exclusions or Exclusions(),
        state=SeenState(None),
    )


def detect(rule_name: str, ctx: ScanContext, **settings: Any) -> Detected:
    rule = RULES[rule_name]
    model: RuleSettings = rule.settings_model.model_validate(settings)
    trusted.remember(trusted.config_for_rule(rule_name, model, ctx.exclusions), ctx.as_of, ctx.state)
    found = list(detect_declared(rule, ctx, model))
    return Detected(
        [f for f in found if isinstance(f, Finding)],
        [s for s in found if isinstance(s, SkippedResource)],
    )


def planned(finding: Finding, out: Path) -> Path:
    """The remediation folder, written as `reclaim plan` writes it (JSON round trip included)."""
    reloaded = Finding.model_validate(json.loads(finding.model_dump_json()))
    return write_remediation(plan_finding(reloaded), out)


def executor(
    client_for: Callable[[str, str], Any] | None = None, observer: Observer | None = None
) -> Executor:
    return Executor(
        client_for=client_for or (lambda service, region: moto_client(service, region)),
        account_id=lambda: MOTO_ACCOUNT,
        observer=observer or trusted.observer(),
        clock=trusted.clock(),
    )


def journal(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "journal.json").read_text())  # type: ignore[no-any-return]


def placebo_responses(operation: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """(case/file, parsed response) of every successful capture of ``service.Operation``,
    datetimes decoded the way boto3 would return them."""
    for path in sorted(PLACEBO.glob(f"*/{operation}_*.json")):
        capture = json.loads(path.read_text(), object_hook=_decode_datetime)
        if capture["status_code"] == 200:
            yield f"{path.parent.name}/{path.name}", capture["data"]


def _decode_datetime(value: dict[str, Any]) -> Any:
    if value.get("__class__") != "datetime":
        return value
    from datetime import UTC

    fields = {k: value[k] for k in ("year", "month", "day", "hour", "minute", "second")}
    return datetime(**fields, microsecond=value.get("microsecond", 0), tzinfo=UTC)
