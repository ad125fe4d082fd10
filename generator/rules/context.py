"""The small world a rule's detection sees: clients, clock, prices, exclusions, state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from generator.aws.prices import PriceTable
from generator.exclusions import Exclusions
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
