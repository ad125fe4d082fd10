"""Scan: every enabled rule over every configured account and region.

Units run on a bounded thread pool (generator.aws.fleet); results go to a sink as rules
yield them. The rules of an account-region that read one shared listing run together and
read it page by page (generator.aws.listings), so a unit holds about one page, not its
region's whole inventory. One failing (account, region, rule) unit, or one unreachable account, is
reported in the summary and never sinks the others. The first-seen state is pruned only
for units that completed, and its clocks of the resources seen idle go into the report.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from generator.aws.fleet import (
    DEFAULT_WORKERS,
    AccountTarget,
    FleetProgress,
    SessionFor,
    UnitOutcome,
    account_units,
    run_fleet,
)
from generator.aws.listings import Listings, ListingStore
from generator.aws.prices import PriceTable, bundled_prices
from generator.aws.units import Unit, owns
from generator.config import AccountConfig, ReclaimConfig
from generator.errors import ConfigError, ReclaimError
from generator.findings import (
    Finding,
    FindingsReport,
    ScanError,
    ScanUnit,
    ShardInfo,
    SkippedResource,
)
from generator.heap import settled
from generator.held import Held, load_held, proposals_path
from generator.ledger import ledger_of
from generator.progress import SilentProgress
from generator.report_stream import ReportCollector, ReportSink
from generator.rules import RULES
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.state import SeenState

log = logging.getLogger("reclaim.scan")

# Error codes AWS returns for a region the account has not opted in to.
_DISABLED_REGION_CODES = {"AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId"}


def describe_error(error: Exception, region: str) -> tuple[str, str | None]:
    """(message, hint) for a unit's failure."""
    if isinstance(error, ReclaimError):
        return error.message, error.hint
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        operation = getattr(error, "operation_name", "call")
        message = f"{operation}: {code}: {details.get('Message', '')}"
        if code in _DISABLED_REGION_CODES:
            return message, (
                f"{region} may not be enabled for this account (opt-in region): enable it, "
                "or remove it from regions (or use 'all-enabled')"
            )
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return message, f"grant {operation} to the account's role (see `reclaim init`)"
        return message, None
    return str(error), None


@dataclass
class ScanSummary:
    units: int = 0
    failed_units: int = 0
    failed_accounts: int = 0
    findings: int = 0
    errors: list[ScanError] = field(default_factory=list)
    # A data source a rule could do without failed: the unit completed, less well.
    warnings: list[ScanError] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors


def listing_readers(units: Iterable[Unit]) -> dict[str, set[str]]:
    """Which of ``units``' rules (of one account-region) read each shared listing."""
    readers: dict[str, set[str]] = {}
    for unit in units:
        for listing in RULES[unit.rule].listings:
            readers.setdefault(listing.key, set()).add(unit.rule)
    return readers


def together(units: list[Unit]) -> list[tuple[Unit, ...]]:
    """An account's units, those of a region that read a listing in common in one group
    (they wait for each other page by page, so they must run at the same time)."""
    groups: list[list[Unit]] = []
    group_of: dict[tuple[str, str], list[Unit]] = {}
    for unit in units:
        keys = [(unit.region, listing.key) for listing in RULES[unit.rule].listings]
        joined = [group_of[key] for key in keys if key in group_of]
        group = joined[0] if joined else []
        if not joined:
            groups.append(group)
        for other in joined[1:]:  # the unit reads two listings: their groups are one
            if other is not group:
                group.extend(other)
                groups.remove(other)
                for key, value in group_of.items():
                    if value is other:
                        group_of[key] = group
        group.append(unit)
        for key in keys:
            group_of[key] = group
    return [tuple(group) for group in groups]


class _SharedListings:
    """One listing store per account-region, dropped when its last unit is done."""

    def __init__(self, config: ReclaimConfig, rules: list[str], shard: ShardInfo | None) -> None:
        self._homes = {name: config.rule(name).home_region for name in rules}
        self._shard = shard
        self._held: dict[tuple[str, str], tuple[ListingStore, list[int]]] = {}
        self._lock = threading.Lock()

    def store_for(self, target: AccountTarget, unit: Unit) -> ListingStore:
        key = (target.account_id, unit.region)
        with self._lock:
            held = self._held.get(key)
            if held is None:
                units = [
                    u
                    for u in account_units(unit.account, target.regions, self._homes)
                    if u.region == unit.region and owns(self._shard, u)
                ]
                held = self._held[key] = (
                    ListingStore(listing_readers(units)),
                    [max(len(units), 1)],
                )
            return held[0]

    def unit_done(self, target: AccountTarget, unit: Unit) -> None:
        key = (target.account_id, unit.region)
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                held[0].done(unit.rule)  # no listing waits for this unit's rule any longer
                held[1][0] -= 1
                if held[1][0] <= 0:
                    del self._held[key]


class _LockedSink:
    """Serialises the pool's writes into one sink, and counts them."""

    def __init__(self, sink: ReportSink, summary: ScanSummary) -> None:
        self._sink = sink
        self._summary = summary
        self._lock = threading.Lock()

    def add(self, item: Finding | SkippedResource) -> None:
        with self._lock:
            if isinstance(item, Finding):
                self._summary.findings += 1
                self._sink.add_finding(item)
            else:
                self._sink.add_skipped(item)

    def add_error(self, error: ScanError) -> None:
        with self._lock:
            self._summary.errors.append(error)
            self._sink.add_error(error)

    def add_warning(self, warning: ScanError) -> None:
        with self._lock:
            if warning not in self._summary.warnings:
                self._summary.warnings.append(warning)
                self._sink.add_warning(warning)

    def unit_failed(self) -> None:
        with self._lock:
            self._summary.failed_units += 1

    def unit_completed(self, unit: ScanUnit) -> None:
        with self._lock:
            self._summary.units += 1
            self._sink.add_completed(unit)

    def account_failed(self, error: ScanError) -> None:
        self.add_error(error)
        with self._lock:
            self._summary.failed_accounts += 1


def scan_into(
    config: ReclaimConfig,
    sink: ReportSink,
    *,
    as_of: datetime,
    session_for: SessionFor,
    prices: PriceTable | None = None,
    state: SeenState | None = None,
    workers: int = DEFAULT_WORKERS,
    shard: ShardInfo | None = None,
    progress: FleetProgress | None = None,
) -> ScanSummary:
    """Scan the fleet (or one shard of it), streaming results into ``sink``."""
    prices = prices or bundled_prices()
    state = state if state is not None else SeenState(config.state_path)
    summary = ScanSummary()
    locked = _LockedSink(sink, summary)
    rules = config.enabled_rules()
    shared = _SharedListings(config, rules, shard)
    # The most PRs the next propose run opens: per-resource confirmations are asked for that
    # many findings of a unit (highest savings first) that the forge does not hold (the
    # proposals file the last propose run wrote), never for every resource scanned.
    held, unreadable = load_held(proposals_path(config.state_path), config.forge.reopen_cost_ratio)
    if unreadable is not None:
        log.warning("%s", unreadable)
        locked.add_warning(ScanError(account="*", region="*", rule="*", message=unreadable))
    proposable = (held or Held()).budget(
        config.forge.max_open_prs, config.forge.max_new_prs_per_run
    )
    # Read once: the default branch's journals (rollbacks, backups) for every unit.
    ledger = ledger_of(config)
    settled()  # the modules, config, prices, state and journals are read for good

    def run_unit(target: AccountTarget, unit: Unit) -> UnitOutcome:
        try:
            return scan_unit(target, unit)
        finally:
            shared.unit_done(target, unit)

    def scan_unit(target: AccountTarget, unit: Unit) -> UnitOutcome:
        started = time.monotonic()
        found = skipped = 0

        def client(service: str) -> object:
            return target.session.client(service, unit.region)

        ctx = ScanContext(
            account_id=target.account_id,
            region=unit.region,
            as_of=as_of,
            client=client,
            prices=prices,
            exclusions=config.exclusions,
            state=state,
            warn=lambda message: locked.add_warning(
                ScanError(
                    account=target.account_id, region=unit.region, rule=unit.rule, message=message
                )
            ),
            listings=Listings(client, shared.store_for(target, unit), reader=unit.rule),
            confirm_budget=proposable,
            held=held,
            ledger=ledger,
        )
        rule = RULES[unit.rule]
        try:
            for item in detect_declared(rule, ctx, config.rule_settings(unit.rule)):
                locked.add(item)
                if isinstance(item, Finding):
                    found += 1
                else:
                    skipped += 1
        except Exception as error:  # one unit never sinks the run
            if not isinstance(error, ClientError | BotoCoreError | ReclaimError):
                log.exception("unexpected error in %s", unit.key)
            message, hint = describe_error(error, unit.region)
            if not isinstance(error, ClientError | BotoCoreError | ReclaimError):
                message = f"internal error ({type(error).__name__}): {message}"
                hint = "this is a bug in reclaim; please report it with the log above"
            locked.add_error(
                ScanError(
                    account=target.account_id,
                    region=unit.region,
                    rule=unit.rule,
                    message=message,
                    hint=hint,
                )
            )
            locked.unit_failed()
            return UnitOutcome(
                unit, target.account_id, found, skipped, time.monotonic() - started, message
            )
        state.forget_unobserved(unit.rule, target.account_id, unit.region)
        locked.unit_completed(
            ScanUnit(account=target.account_id, region=unit.region, rule=unit.rule)
        )
        return UnitOutcome(unit, target.account_id, found, skipped, time.monotonic() - started)

    def on_account_error(account: AccountConfig, error: ReclaimError) -> None:
        locked.account_failed(
            ScanError(
                account=account.label, region="*", rule="*", message=error.message, hint=error.hint
            )
        )

    run_fleet(
        config,
        rules=rules,
        session_for=session_for,
        run_unit=run_unit,
        on_account_error=on_account_error,
        progress=progress or SilentProgress(),
        workers=workers,
        shard=shard,
        together=together,
    )
    # The report carries the clocks too: a sharded scan's state file stays on its CI runner.
    sink.add_first_seen(state.observed())
    state.save()
    return summary


FALLBACK_REGION = "us-east-1"
_REGION_NAME = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")


def default_region() -> tuple[str, str]:
    """The region to scan when reclaim.yml names none, and where it came from: the
    environment (AWS_REGION, AWS_DEFAULT_REGION), then the AWS profile's ``region``."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable):
            return os.environ[variable], variable
    import botocore.session

    session = botocore.session.Session()
    try:
        region = session.get_config_variable("region")
    except Exception:  # a broken ~/.aws/config is reported by the first AWS call
        region = None
    if region:
        return str(region), f"the AWS profile {session.profile or 'default'!r}"
    return FALLBACK_REGION, "no region in AWS_REGION, AWS_DEFAULT_REGION or the AWS profile"


def with_default_regions(config: ReclaimConfig) -> tuple[ReclaimConfig, str]:
    """``config`` with its regions filled in when reclaim.yml names none, and a line for the
    output saying which regions are scanned and why (never a silent constant)."""
    if "regions" in config.model_fields_set:
        named = (
            "all enabled regions" if config.regions == "all-enabled" else ", ".join(config.regions)
        )
        return config, f"{named} (regions in reclaim.yml)"
    region, source = default_region()
    if not _REGION_NAME.match(region):
        raise ConfigError(
            f"{source} gives the region {region!r}, which is not an AWS region name",
            hint="fix it, or list regions: in reclaim.yml, e.g. regions: [us-east-1]",
        )
    origin = source if source.startswith("no region") else f"from {source}"
    said = f"{region} ({origin}; list regions: in reclaim.yml to scan others)"
    return config.model_copy(update={"regions": (region,)}), said


def chain_sessions(config: ReclaimConfig, actor: str | None = None) -> SessionFor:
    """Sessions through the configured role chain, named for a scan run."""
    from generator.aws.chain import RoleChain, RunIdentity

    return RoleChain(config, RunIdentity.current("scan", actor)).session_for


def scan(
    config: ReclaimConfig,
    *,
    as_of: datetime,
    session_for: SessionFor | None = None,
    prices: PriceTable | None = None,
    state: SeenState | None = None,
    workers: int = DEFAULT_WORKERS,
    shard: ShardInfo | None = None,
) -> FindingsReport:
    """Scan into memory and return the whole report, sorted (largest savings first)."""
    collector = ReportCollector()
    scan_into(
        config,
        collector,
        as_of=as_of,
        session_for=session_for or chain_sessions(config),
        prices=prices,
        state=state,
        workers=workers,
        shard=shard,
    )
    return collector.report(as_of, shard)
