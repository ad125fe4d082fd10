"""Fan-out over a fleet: prepare each account once, then run its units on a bounded pool.

Preparing an account (assuming its role, confirming which account the credentials reach,
asking DescribeRegions for `all-enabled`) happens once, on the pool like the units, and
its units are queued as soon as it is ready: a slow or failing account holds up nobody.
An account that cannot be prepared is one error in the summary; its units never run.
Units that must run at the same time (the rules of an account-region reading one shared
listing page by page, generator.aws.listings) are queued as one task, each on a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from generator.aws.pool import bounded_map
from generator.aws.regions import ALL_ENABLED
from generator.aws.session import AccountSession
from generator.aws.units import Unit, owns
from generator.errors import AwsCallFailed, ReclaimError
from generator.findings import ShardInfo

if TYPE_CHECKING:  # annotations only: generator.config imports the rule catalog
    from generator.config import AccountConfig, ReclaimConfig

# Scanning is I/O-bound (waiting on AWS), so a 2-core runner keeps many requests in flight;
# beyond ~16 the GIL-bound response parsing, not the network, becomes the limit.
DEFAULT_WORKERS = 16

SessionFor = Callable[["AccountConfig"], AccountSession]
Together = Callable[[list[Unit]], list[tuple[Unit, ...]]]
"""An account's units in the groups that must run at the same time, in order."""


def one_by_one(units: list[Unit]) -> list[tuple[Unit, ...]]:
    return [(unit,) for unit in units]


@dataclass(frozen=True)
class AccountTarget:
    config: AccountConfig
    account_id: str
    regions: tuple[str, ...]
    session: AccountSession


@dataclass(frozen=True)
class UnitOutcome:
    unit: Unit
    account_id: str
    findings: int
    skipped: int
    seconds: float
    error: str | None = None


class FleetProgress(Protocol):
    def units_added(self, count: int) -> None: ...
    def account_failed(self, account: AccountConfig, message: str) -> None: ...
    def unit_done(self, outcome: UnitOutcome) -> None: ...


def enabled_regions(session: AccountSession, home_region: str) -> tuple[str, ...]:
    response = session.client("ec2", home_region).describe_regions(AllRegions=False)
    return tuple(sorted(str(r["RegionName"]) for r in response.get("Regions", [])))


def prepare_account(
    config: ReclaimConfig, account: AccountConfig, session_for: SessionFor
) -> AccountTarget:
    """Reach the account (hop 2 when configured), confirm its ID, resolve its regions."""
    session = session_for(account)
    home = config.home_region
    if account.role_arn is None:
        # Without hop 2 nothing proves which account the credentials act in: ask.
        actual = session.account_id(home)
        if account.id is not None and actual != account.id:
            raise AwsCallFailed(
                f"account {account.name}: the credentials act in account {actual}, "
                f"not {account.id}; nothing was scanned",
                hint="give this account its role_arn, or correct its id",
            )
    account_id = account.expected_id or session.account_id(home)
    regions = config.regions_for(account)
    if regions == ALL_ENABLED:
        try:
            regions = enabled_regions(session, home)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise AwsCallFailed(
                f"account {account.label}: DescribeRegions failed ({code}), so "
                f"{ALL_ENABLED!r} cannot be resolved",
                hint="allow ec2:DescribeRegions in the account's role, or list the regions",
            ) from None
    return AccountTarget(account, account_id, tuple(regions), session)


def account_units(
    account: str, regions: Sequence[str], home_regions: Mapping[str, str | None]
) -> list[Unit]:
    """Every unit of one account: a rule per region, except a rule of a global service
    (one with a home region), which runs once per account, in its home region.
    ``home_regions`` maps each rule to scan to its home region (None: a regional rule)."""
    units: list[Unit] = []
    for rule, home in home_regions.items():
        if home:
            units.append(Unit(account, home, rule))
        else:
            units.extend(Unit(account, region, rule) for region in regions)
    return units


def static_units(config: ReclaimConfig, account: AccountConfig, rules: list[str]) -> list[Unit]:
    """The account's units when its regions are listed (no AWS call needed)."""
    regions = config.regions_for(account)
    if regions == ALL_ENABLED:
        return []
    return account_units(account.name, regions, _home_regions(config, rules))


def _home_regions(config: ReclaimConfig, rules: list[str]) -> dict[str, str | None]:
    return {name: config.rule(name).home_region for name in rules}


def run_fleet(
    config: ReclaimConfig,
    *,
    rules: list[str],
    session_for: SessionFor,
    run_unit: Callable[[AccountTarget, Unit], UnitOutcome],
    on_account_error: Callable[[AccountConfig, ReclaimError], None],
    progress: FleetProgress,
    workers: int = DEFAULT_WORKERS,
    shard: ShardInfo | None = None,
    together: Together = one_by_one,
) -> None:
    """Prepare accounts and run every owned unit; ``run_unit`` must not raise for an
    expected failure (it reports it and returns an outcome with ``error`` set). A group of
    ``together`` takes one of the ``workers`` and a thread per unit."""

    def run_group(target: AccountTarget, group: tuple[Unit, ...]) -> list[UnitOutcome]:
        if len(group) == 1:
            return [run_unit(target, group[0])]
        return bounded_map(
            lambda unit: run_unit(target, unit), group, workers=len(group), name="reclaim-unit"
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reclaim") as pool:
        pending: dict[Future[Any], tuple[AccountConfig, tuple[Unit, ...] | None]] = {}
        try:
            for account in config.accounts:
                listed = config.regions_for(account) != ALL_ENABLED
                if listed and not any(owns(shard, u) for u in static_units(config, account, rules)):
                    continue  # another shard scans all of this account
                pending[pool.submit(prepare_account, config, account, session_for)] = (
                    account,
                    None,
                )
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    account, group = pending.pop(future)
                    if group is not None:
                        for outcome in future.result():
                            progress.unit_done(outcome)
                        continue
                    try:
                        target = future.result()
                    except (ReclaimError, ClientError, BotoCoreError) as error:
                        failure = (
                            error
                            if isinstance(error, ReclaimError)
                            else AwsCallFailed(f"account {account.label}: {error}")
                        )
                        on_account_error(account, failure)
                        progress.account_failed(account, failure.message)
                        continue
                    units = [
                        unit
                        for unit in account_units(
                            account.name, target.regions, _home_regions(config, rules)
                        )
                        if owns(shard, unit)
                    ]
                    progress.units_added(len(units))
                    for owned in together(units):
                        pending[pool.submit(run_group, target, owned)] = (account, owned)
        finally:
            # On Ctrl-C or a bug, do not start queued units; running ones finish.
            pool.shutdown(wait=True, cancel_futures=True)
