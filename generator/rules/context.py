"""The small world a rule's detection sees: clients, clock, prices, exclusions, state."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from generator.aws.listings import Listing, Listings, Page
from generator.aws.prices import PriceTable
from generator.exclusions import Exclusions
from generator.findings import Finding, SkippedResource, reproposal_id
from generator.held import Held
from generator.ledger import Ledger, PlanHistory
from generator.state import SeenState

if TYPE_CHECKING:
    from pydantic import BaseModel

ClientFactory = Callable[[str], Any]
"""Returns a boto3 client for a service name, bound to this context's account and region."""

Confirm = Callable[[list[Finding]], Mapping[str, Finding | SkippedResource]]
"""A rule's per-resource confirmation of some findings: by resource ID, each finding as
confirmed, or its resource left alone (``ScanContext.confirmed``)."""

CONFIRMATIONS_PER_SLOT = 2
"""The most confirmations a unit asks, as a multiple of its budget, when confirmations
leave resources alone and free their slots for the next findings."""


class FindingRecords:
    """The typed record each finding of one detection was made from (Rule.new_finding
    keeps it), for as long as the finding lives: judging the finding then takes the record
    as built instead of validating it again from the finding's ``resource`` (~7 us a
    finding). Only that very finding object has one: a copy (``model_copy``) or a finding
    read back from a file has none, and its record is validated from ``resource``."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[weakref.ref[Finding], BaseModel]] = {}

    def keep(self, finding: Finding, record: BaseModel) -> None:
        key = id(finding)
        # Gone with the finding: its id cannot name another object while the entry lives.
        forget = weakref.ref(finding, lambda _: self._kept.pop(key, None))
        self._kept[key] = (forget, record)

    def __len__(self) -> int:
        return len(self._kept)

    def of(self, finding: Finding) -> BaseModel | None:
        kept = self._kept.get(id(finding))
        return kept[1] if kept is not None and kept[0]() is finding else None


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
    # The most findings of one unit that propose can open in its next run:
    # min(forge.max_new_prs_per_run, forge.max_open_prs less the PRs already open), the
    # open ones counted by the proposals file (generator.held). A confirmation AWS
    # answers one resource at a time (ec2-idle's stop protection) is asked for that many
    # findings not held, highest savings first, not for every resource scanned; the
    # apply's pre-checks confirm it again for the one it changes. None: every finding.
    confirm_budget: int | None = None
    # What the forge held at the last propose run (open, merged or declined PRs): such a
    # finding is not confirmed, as propose opens no PR for it (it stays a finding: propose
    # refreshes an open PR, and the scan workflow's fresh job re-checks it).
    # None: nothing is known to be held.
    held: Held | None = None
    # What the default branch's journals say reclaim did (applied, rolled back, backups
    # made, resources restored) and its reclaim.yml's backup retentions. None: no history
    # was read (a test's context), so nothing is known to be rolled back or expired.
    ledger: Ledger | None = None
    # What the rule's detection makes of a finding its scan yields (Rule.detect sets it:
    # the exclusions, opt-in remediation, a /rollback's material change), so that a
    # confirmation is never spent on a finding detection then drops or reports only.
    # None: each finding as its scan yields it.
    judge: Callable[[Finding], Finding | SkippedResource] | None = None
    # The records the rule's findings were made from, set by Rule.detect with ``judge``.
    records: FindingRecords | None = None

    def listing(self, listing: Listing) -> Iterator[Page]:
        """The pages of a listing the rule declares (``Rule.listings``), one at a time:
        fetched once per account-region and scan, each page shared with the other rules
        that declare it and dropped once they all have moved on."""
        return (self.listings or Listings(self.client)).read(listing)

    def pages(self, service: str, operation: str, **params: Any) -> Iterator[Page]:
        """``listing(Listing(service, operation, params))``, e.g.
        ``pages("ec2", "describe_addresses")``."""
        return self.listing(Listing(service, operation, params))

    def confirmed(
        self, findings: Sequence[Finding], confirm: Confirm
    ) -> Iterator[Finding | SkippedResource]:
        """``findings`` in their order, each one confirmed replaced by what ``confirm``
        makes of it (the finding as confirmed, or its resource left alone). Confirmed are,
        of the findings propose would open (detection keeps them, not report-only:
        ``judge``) and the forge does not hold (``held``), the ``confirm_budget`` highest
        savings (then by resource ID); every such finding when there is no budget. The
        rest stay findings, unconfirmed, and the apply's pre-checks confirm the one it
        changes.

        A confirmation that leaves its resource alone (stop protection on, a skip tag
        found) frees its slot: the next finding is confirmed in its place, round after
        round, so the findings propose opens are confirmed ones. At most
        ``CONFIRMATIONS_PER_SLOT`` times the budget are asked in all, so an account where
        every resource refuses still costs O(budget) calls."""
        ranked = self._ranked(findings)
        answers: dict[str, Finding | SkippedResource] = {}
        if self.confirm_budget is None:
            answers.update(confirm(list(ranked)))
        else:
            budget, kept = self.confirm_budget, 0
            left = CONFIRMATIONS_PER_SLOT * budget  # confirmations still allowed
            while kept < budget and left > 0:
                batch = list(islice(ranked, min(budget - kept, left)))
                if not batch:
                    break  # every proposable finding has been asked about
                left -= len(batch)
                answered = confirm(batch)
                answers.update(answered)
                kept += sum(
                    1
                    for finding in batch
                    if isinstance(answer := answered[finding.resource_id], Finding)
                    and self._proposable(answer)
                )
        for finding in findings:
            yield answers.get(finding.resource_id, finding)

    def confirmed_each(
        self, findings: Sequence[Finding], confirm: Callable[[Finding], Finding | SkippedResource]
    ) -> Iterator[Finding | SkippedResource]:
        """``confirmed``, for a confirmation AWS answers one resource at a time and that
        the rule asks one after the other."""
        return self.confirmed(findings, lambda batch: {f.resource_id: confirm(f) for f in batch})

    def _ranked(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        """The proposable findings, highest savings first (then by resource ID), each
        judged only when the ranking reaches it: a budget of five judges about five."""
        ordered = sorted(findings, key=lambda f: (-f.cost.monthly_usd, f.resource_id))
        return (finding for finding in ordered if self._proposable(finding))

    def _proposable(self, finding: Finding) -> bool:
        if self.judge is None:
            proposed, proposed_id = finding, self.proposed_id(finding)
        else:
            judged = self.judge(finding)
            if not isinstance(judged, Finding):
                return False  # detection leaves the resource alone
            proposed, proposed_id = judged, judged.id  # renamed already after a rollback
        if proposed.reversibility == "report-only":
            return False
        return self.held is None or not self.held.holds(proposed_id, proposed.cost.monthly_usd)

    def proposed_id(self, finding: Finding) -> str:
        """The ID the finding will be proposed under: a rule's detection yields it under
        its resource's ID, and a resource a /rollback restored is proposed again as
        ``<id>.r2`` (``Rule._after_rollback``), which the forge does not hold yet."""
        before = self.rollback_of(finding)
        if before is None or before.rolled_back_at is None:
            return finding.id
        return reproposal_id(finding.id, before.plan_id)

    def rollback_of(self, finding: Finding) -> PlanHistory | None:
        """The default branch's record of a plan on ``finding``'s resource that a /rollback
        restored, if any (None: none, or no history was read)."""
        if self.ledger is None:
            return None
        return self.ledger.rolled_back(
            finding.rule, finding.account, finding.region, finding.resource_id
        )
