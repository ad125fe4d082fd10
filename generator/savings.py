"""Savings net of the backup: what a finding saves while the backup its plan keeps is billed.

A plan that snapshots a volume before deleting it stops paying for the volume and starts
paying for the snapshot. The finding's cost is the gross saving; this is the figure beside
it, rendered (PR body, scan output) from the finding's record and the bundled price table,
never stored in the finding: a rendering cannot drift from the record it is derived from.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.aws.prices import PriceTable, bundled_prices
from generator.findings import Finding
from generator.rules import RULES
from generator.rules.base import BackupCost


@dataclass(frozen=True)
class NetSavings:
    finding: Finding
    backup: BackupCost
    table_region: str
    """The region the price table is for."""

    @property
    def estimated(self) -> bool:
        """The price table is not for the finding's region."""
        return self.finding.region != self.table_region

    @property
    def net_monthly_usd(self) -> float | None:
        """Gross minus the backup, None when the gross saving is unknown. Negative when the
        backup costs more than the resource did (a large, cheap sc1 volume)."""
        if self.finding.cost.unknown:
            return None
        return round(self.finding.cost.monthly_usd - self.backup.monthly_usd, 2)

    @property
    def backup_words(self) -> str:
        bound = "up to " if self.backup.upper_bound else "about "
        estimated = " (estimated)" if self.estimated else ""
        return f"{self.backup.what}: {bound}${self.backup.monthly_usd:,.2f}/month{estimated}"

    @property
    def while_kept(self) -> str:
        days = self.backup.kept_days
        return "while it is kept" if days is None else f"for the {days} days it is kept"

    @property
    def then(self) -> NetSavings | None:
        """What stays billed after the backup's first days (a volume's snapshot once the
        Recycle Bin has let the volume go), with its own net figure."""
        if self.backup.then is None:
            return None
        return NetSavings(
            finding=self.finding, backup=self.backup.then, table_region=self.table_region
        )

    @property
    def then_words(self) -> str:
        """``", then <backup>; <net> until day N"``, or nothing when there is no second phase."""
        then = self.then
        if then is None:
            return ""
        until = (
            "while it is kept"
            if then.backup.kept_days is None
            else f"until day {then.backup.kept_days}"
        )
        return f", then {then.backup_words}; {then.net_words} {until}"

    @property
    def net_words(self) -> str:
        """The net figure in words, for a PR body or a scan line."""
        net = self.net_monthly_usd
        if net is None:
            return "net saving unknown (the saving itself is unknown)"
        if net < 0:
            return f"the backup costs up to ${-net:,.2f}/month more than the resource did"
        at_least = "at least " if self.backup.upper_bound else "about "
        return f"net {at_least}${net:,.2f}/month"


def net_savings(finding: Finding, prices: PriceTable | None = None) -> NetSavings | None:
    """The finding's saving net of its plan's backup, or None when its plan keeps none (or
    it is report-only, or its rule is unknown to this reclaim)."""
    rule = RULES.get(finding.rule)
    if rule is None:
        return None
    table = prices or bundled_prices()
    backup = rule.backup_cost_of(finding, table)
    if backup is None:
        return None
    return NetSavings(finding=finding, backup=backup, table_region=table.region)
