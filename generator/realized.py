"""Realized savings: what an applied change actually saved, measured from the bill.

Which changes were applied (and rolled back) comes only from the journals on the default
branch: reclaim's own apply and rollback runs commit them there, and apply refuses a journal
that arrives with its plan, so nothing a pull request branch carries counts. The promise is
the reviewed plan's own figure.

A change applied on day A is measured over the n whole days after it, [A+1, A+1+n), against
the n days before it, [A-n, A) (the apply day itself is half of each, so it is left out;
today and yesterday are not settled), n capped at ``MAX_WINDOW_DAYS``. Its own cost line is
the resource's line where Cost Explorer has resource-level data (EC2 instances, last 14 days
only), else the account's cost in that region on the rule's usage types (other resources on
the same usage types move it too: the basis says so). Cost that *rose* on the related usage
types after the change (the volumes of a stopped instance, a deleted NAT gateway's traffic
billed as data transfer, the backup snapshot) is shown as moved elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from generator.aws.prices import DAYS_PER_MONTH
from generator.errors import ReclaimError
from generator.manifest.folder import JOURNAL_FILE, RemediationFolder
from generator.rules import RULES
from generator.rules.base import BillFootprint

MAX_WINDOW_DAYS = 30
RESOURCE_LEVEL_DAYS = 14
"""GetCostAndUsageWithResources answers for the last 14 days only."""
MOVED_FLAG_SHARE = 0.10
"""Cost moved elsewhere is flagged above this share of the promise (and $0.50/month)."""


def _resource_level(rule: str) -> bool:
    declared = footprint(rule)
    return declared is not None and declared.resource_level


def footprint(rule: str) -> BillFootprint | None:
    """The rule's declared bill footprint; None for a rule reclaim does not measure (or one
    this reclaim does not know)."""
    declared = RULES.get(rule)
    return declared.bill_footprint if declared is not None else None


@dataclass(frozen=True)
class AppliedChange:
    finding_id: str
    rule: str
    account: str
    region: str
    resource_id: str
    promised_monthly_usd: float
    applied_on: date
    rolled_back: bool


def applied_changes(remediations: Path) -> list[AppliedChange]:
    """Every plan in ``remediations`` (the default branch's checkout of the remediations
    folder) whose apply completed, rolled back or not."""
    found = []
    for path in sorted(remediations.glob(f"*/{JOURNAL_FILE}")):
        folder = RemediationFolder(path.parent)
        try:
            journal, plan = folder.load_journal(), folder.load_plan()
        except ReclaimError:
            continue  # validate and apply report a broken folder
        if journal is None or journal.apply is None or journal.apply.status != "completed":
            continue
        if journal.plan_id != plan.plan_id or journal.apply.finished_at is None:
            continue
        finding = plan.finding
        found.append(
            AppliedChange(
                finding_id=finding.id,
                rule=finding.rule,
                account=finding.account,
                region=finding.region,
                resource_id=finding.resource_id,
                promised_monthly_usd=finding.cost.monthly_usd,
                applied_on=journal.apply.finished_at.date(),
                rolled_back=journal.rollback is not None and journal.rollback.status == "completed",
            )
        )
    return found


@dataclass(frozen=True)
class Window:
    days: int
    before_start: date
    after_start: date

    @property
    def before_end(self) -> date:
        return self.before_start + timedelta(days=self.days)

    @property
    def after_end(self) -> date:
        return self.after_start + timedelta(days=self.days)


def data_end(as_of: datetime) -> date:
    """The first day not measured: today is partial, and Cost Explorer's figures for
    yesterday are still arriving (it refreshes at least once every 24 hours)."""
    return as_of.date() - timedelta(days=1)


def window(applied_on: date, end: date) -> Window | None:
    """The before/after windows of a change applied on ``applied_on``, with data up to
    ``end`` (exclusive); None: not one whole settled day since."""
    days = min((end - applied_on).days - 1, MAX_WINDOW_DAYS)
    if days < 1:
        return None
    return Window(days, applied_on - timedelta(days=days), applied_on + timedelta(days=1))


def resource_level_possible(w: Window, today: date) -> bool:
    return w.before_start >= today - timedelta(days=RESOURCE_LEVEL_DAYS)


class Measurement(BaseModel):
    """What one applied change saved, in $/month, from Cost Explorer's daily cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    finding_id: str
    days: int = Field(ge=0, description="Days after the change compared with as many before.")
    realized_monthly_usd: float | None = Field(
        default=None, description="(cost before - cost after) / days, as $/month."
    )
    moved_monthly_usd: float = Field(
        default=0.0, description="Rise after the change on the related usage types, $/month."
    )
    moved_usage_types: tuple[str, ...] = ()
    basis: str = Field(description="Which cost line, in words a reviewer can check.")


class RealizedReport(BaseModel):
    """The scan's measurement, handed to propose (which has no AWS access) for the dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    as_of: datetime
    measurements: tuple[Measurement, ...] = ()
    unavailable: tuple[str, ...] = Field(
        default=(), description="Why some or all could not be measured (said once each)."
    )
    second_opinion_asked: tuple[str, ...] = Field(
        default=(),
        description="Finding IDs of this scan that at least one AWS recommender answered for.",
    )
    corroborated: tuple[str, ...] = Field(
        default=(), description="Those of them AWS also flags (generator.aws.recommenders)."
    )
    second_opinion_unavailable: tuple[str, ...] = Field(
        default=(), description="Recommender sources that gave no answer, and why (once each)."
    )


DailyCost = Mapping[tuple[str, str, date], float]
"""(region or resource ID, usage type or '', day) -> unblended cost in USD."""


def _sum(
    costs: DailyCost, key: str, pattern: str, start: date, end: date
) -> tuple[float, dict[str, float]]:
    matcher = re.compile(pattern)
    total, by_type = 0.0, dict[str, float]()
    for (where, usage_type, day), amount in costs.items():
        if where == key and start <= day < end and (not usage_type or matcher.search(usage_type)):
            total += amount
            by_type[usage_type] = by_type.get(usage_type, 0.0) + amount
    return total, by_type


def measure(
    change: AppliedChange,
    w: Window,
    by_usage_type: DailyCost | None,
    by_resource: DailyCost | None,
) -> Measurement:
    """One change's measurement from the daily cost fetched for its account."""
    declared = footprint(change.rule)
    assert declared is not None  # measure() is called only for measured rules
    per_month = DAYS_PER_MONTH / w.days

    def delta(costs: DailyCost, key: str, pattern: str) -> tuple[float, dict[str, float]]:
        before, _ = _sum(costs, key, pattern, w.before_start, w.before_end)
        after, after_types = _sum(costs, key, pattern, w.after_start, w.after_end)
        _, before_types = _sum(costs, key, pattern, w.before_start, w.before_end)
        rises = {
            t: after_types[t] - before_types.get(t, 0.0)
            for t in after_types
            if after_types[t] > before_types.get(t, 0.0)
        }
        return before - after, rises

    realized: float | None = None
    if by_resource is not None and declared.resource_level:
        saved, _ = delta(by_resource, change.resource_id, r".")
        realized = saved * per_month
        basis = f"resource-level cost of {change.resource_id}"
    elif by_usage_type is not None:
        saved, _ = delta(by_usage_type, change.region, declared.own)
        realized = saved * per_month
        basis = (
            f"usage types /{declared.own}/ in {change.region}, whole account "
            "(other resources on them count too)"
        )
    else:
        basis = "not measured: Cost Explorer did not answer"
    moved, moved_types = 0.0, tuple[str, ...]()
    if declared.moved and by_usage_type is not None:
        _, rises = delta(by_usage_type, change.region, declared.moved)
        moved = sum(rises.values()) * per_month
        moved_types = tuple(sorted(rises))
    return Measurement(
        finding_id=change.finding_id,
        days=w.days,
        realized_monthly_usd=None if realized is None else round(realized, 2),
        moved_monthly_usd=round(moved, 2),
        moved_usage_types=moved_types,
        basis=f"{basis}, {w.days} day(s) after vs {w.days} before {change.applied_on}",
    )


def moved_elsewhere(measurement: Measurement, promised: float) -> bool:
    return measurement.moved_monthly_usd > max(0.5, MOVED_FLAG_SHARE * promised)


def measure_changes(
    changes: list[AppliedChange], ce_for: Callable[[str], Any], as_of: datetime
) -> RealizedReport:
    """Measure every applied, not rolled back change of a known footprint: at most two Cost
    Explorer calls per account (see generator.aws.cost_lines). ``ce_for(account_id)`` gives
    that account's Cost Explorer client, or raises ReclaimError when it cannot be reached."""
    from generator.aws.cost_lines import daily_costs

    today, end = as_of.date(), data_end(as_of)
    unavailable: list[str] = []
    measurements: list[Measurement] = []
    by_account: dict[str, list[tuple[AppliedChange, Window]]] = {}
    for change in changes:
        w = window(change.applied_on, end)
        if change.rolled_back or footprint(change.rule) is None or w is None:
            continue
        by_account.setdefault(change.account, []).append((change, w))
    for account, items in sorted(by_account.items()):
        instances = [
            c.resource_id
            for c, w in items
            if _resource_level(c.rule) and resource_level_possible(w, today)
        ]
        try:
            ce = ce_for(account)
        except ReclaimError as error:
            unavailable.append(f"account {account}: {error.message}")
            continue
        except (ClientError, BotoCoreError) as error:  # the role chain refused
            unavailable.append(f"account {account}: not reached ({error})")
            continue
        costs = daily_costs(
            ce,
            start=min(w.before_start for _, w in items),
            end=end,
            regions=[c.region for c, _ in items],
            instances=instances,
            resource_start=today - timedelta(days=RESOURCE_LEVEL_DAYS) if instances else None,
        )
        unavailable += [f"account {account}: {reason}" for reason in costs.unavailable]
        for change, w in items:
            in_resource_data = change.resource_id in instances
            measurements.append(
                measure(
                    change,
                    w,
                    costs.by_usage_type,
                    costs.by_resource if in_resource_data else None,
                )
            )
    return RealizedReport(
        as_of=as_of, measurements=tuple(measurements), unavailable=tuple(unavailable)
    )
