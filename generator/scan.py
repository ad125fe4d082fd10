"""Scan: every enabled rule over every configured account and region, into one report.

One failing (account, region, rule) unit is reported in the summary and never sinks the
others. The first-seen state is pruned only for units that completed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from botocore.exceptions import BotoCoreError, ClientError

from generator.aws.prices import PriceTable, bundled_prices
from generator.aws.session import AccountSession
from generator.config import AccountConfig, ReclaimConfig
from generator.errors import ReclaimError
from generator.findings import Finding, FindingsReport, ScanError, ScanUnit, SkippedResource
from generator.rules import RULES
from generator.rules.context import ScanContext
from generator.state import SeenState

SessionFor = Callable[[AccountConfig], AccountSession]


def ambient_session(_account: AccountConfig) -> AccountSession:
    return AccountSession()


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "call")
        return f"{operation}: {details.get('Code', 'Unknown')}: {details.get('Message', '')}"
    return str(error)


def scan(
    config: ReclaimConfig,
    *,
    as_of: datetime,
    session_for: SessionFor = ambient_session,
    prices: PriceTable | None = None,
    state: SeenState | None = None,
) -> FindingsReport:
    prices = prices or bundled_prices()
    state = state if state is not None else SeenState(config.state_path)
    findings: list[Finding] = []
    skipped: list[SkippedResource] = []
    errors: list[ScanError] = []
    completed: list[ScanUnit] = []
    for account in config.accounts:
        session = session_for(account)
        try:
            account_id = account.id or session.account_id(config.regions[0])
        except ReclaimError as error:
            errors.append(
                ScanError(account=account.name, region="*", rule="*", message=error.message)
            )
            continue
        for configured_region in config.regions:
            for rule_name in config.enabled_rules():
                rule = RULES[rule_name]
                region = rule.home_region or configured_region
                if rule.home_region and configured_region != config.regions[0]:
                    continue  # a global service: once per account
                ctx = ScanContext(
                    account_id=account_id,
                    region=region,
                    as_of=as_of,
                    client=partial(session.client, region=region),
                    prices=prices,
                    exclusions=config.exclusions,
                    state=state,
                )
                unit_findings: list[Finding] = []
                unit_skipped: list[SkippedResource] = []
                try:
                    for item in rule.detect(ctx, config.rule_settings(rule_name)):
                        if isinstance(item, Finding):
                            unit_findings.append(item)
                        else:
                            unit_skipped.append(item)
                except (ClientError, BotoCoreError, ReclaimError) as error:
                    errors.append(
                        ScanError(
                            account=account_id,
                            region=region,
                            rule=rule_name,
                            message=_describe(error),
                        )
                    )
                    continue
                findings.extend(unit_findings)
                skipped.extend(unit_skipped)
                state.forget_unobserved(rule_name, account_id, region)
                completed.append(ScanUnit(account=account_id, region=region, rule=rule_name))
    state.save()
    findings.sort(key=lambda f: (-f.cost.monthly_usd, f.id))
    return FindingsReport(
        as_of=as_of,
        findings=tuple(findings),
        errors=tuple(errors),
        skipped=tuple(skipped),
        completed=tuple(completed),
    )
