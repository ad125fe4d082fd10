"""The small world a rule's detection sees: clients, clock, prices, exclusions, state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from generator.aws.listings import Listings, Page
from generator.aws.prices import PriceTable
from generator.exclusions import Exclusions
from generator.findings import Finding
from generator.ledger import Ledger
from generator.state import SeenState

ClientFactory = Callable[[str], Any]
"""Returns a boto3 client for a service name, bound to this context's account and region."""


@dataclass(frozen=True)
class ScanContext:
    account_id: str
    region: str
    as_of: datetime
    client: ClientFactory
    prices: PriceTable
    exclusions: Exclusions
    state: SeenState
    # A data source the rule could do without failed (CloudTrail, Cost Explorer): the rule
    # still decides, less well, and says so here; the scan reports it as a warning.
    warn: Callable[[str], None] = lambda message: None
    # The account-region's listings, shared by the scan's rules (generator.aws.listings);
    # None: each read is fetched (a context of its own, e.g. a test's or one observation).
    listings: Listings | None = None
    # The most findings of one unit that propose can open in one run (forge.max_open_prs,
    # forge.max_new_prs_per_run):
    # a confirmation AWS answers one resource at a time (ec2-idle's stop protection) is
    # asked for that many findings, highest savings first, not for every resource scanned;
    # the apply's pre-checks confirm it again for the one it changes. None: every finding.
    confirm_budget: int | None = None
    # What the default branch's journals say reclaim did (applied, rolled back, backups
    # made, resources restored) and its reclaim.yml's backup retentions. None: no history
    # was read (a test's context), so nothing is known to be rolled back or expired.
    ledger: Ledger | None = None

    def pages(self, service: str, operation: str, **params: Any) -> Sequence[Page]:
        """Every page of a listing (e.g. ``pages("ec2", "describe_volumes")``), fetched once
        per account-region and scan and shared with the other rules that ask the same."""
        return (self.listings or Listings(self.client)).pages(service, operation, **params)

    def to_confirm(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings a per-resource confirmation is asked for: the ``confirm_budget``
        highest savings (then by resource ID), which are the ones propose can open; every
        finding when there is no budget. The rest stay findings, unconfirmed, and the
        apply's pre-checks confirm the one it changes."""
        ranked = sorted(findings, key=lambda f: (-f.cost.monthly_usd, f.resource_id))
        return ranked if self.confirm_budget is None else ranked[: self.confirm_budget]
