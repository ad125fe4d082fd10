"""The forge: where proposals become reviewable changes (a GitHub PR, a local git branch).

A forge knows how to list what it already holds (`existing_proposals`), open or refresh one
proposal, close one with a reason, publish the dashboard and post a result comment. Deciding
*what* to do (limits, stale findings, respecting a human's "no") is forge-agnostic and lives
in `generator.forge.sync`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum

from generator.errors import ForgeError


class RateLimitReached(ForgeError):
    """The forge's API budget is spent: stop cleanly, the next run continues."""


def branch_for(finding_id: str) -> str:
    return f"reclaim/{finding_id}"


@dataclass(frozen=True)
class Proposal:
    """One finding as a change request: its remediation files and how to present them."""

    finding_id: str
    title: str
    body: str
    files: dict[str, str] = field(repr=False)
    """Repository-relative path → content: the remediation folder's files."""
    code_edits: dict[str, str] = field(default_factory=dict, repr=False)
    """Repository-relative path → new content of infrastructure code the proposal changes
    (a managed resource's .tf file); already on the base branch, so never a sign that the
    proposal was merged."""
    labels: tuple[str, ...] = ()
    monthly_usd: float = 0.0
    fingerprint: str = ""
    """Digest of what is material about the finding and its manifests. Equal fingerprints mean
    nothing a reviewer cares about changed (the scan date and idle-day counts do not count)."""
    rule: str = ""
    account: str = ""
    region: str = ""
    supersedes: str = ""
    """The rolled-back plan this proposal proposes again (its PR is linked), or empty."""

    @property
    def branch(self) -> str:
        return branch_for(self.finding_id)

    @property
    def tree_files(self) -> dict[str, str]:
        """Every file the proposal's commit writes."""
        return {**self.code_edits, **self.files}


FOLLOW_UP_PREFIX = "reclaim-follow-up/"
"""Follow-up branches live outside reclaim/: they are not findings, so the proposal sync
never counts, refreshes or closes them."""


@dataclass(frozen=True)
class FollowUp:
    """A change reclaim opens after a run (the code brought back after a rollback)."""

    finding_id: str
    title: str
    body: str
    files: dict[str, str] = field(repr=False)
    labels: tuple[str, ...] = ()

    @property
    def branch(self) -> str:
        return f"{FOLLOW_UP_PREFIX}{self.finding_id}"


class ProposalState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED_BY_HUMAN = "closed by a human"
    CLOSED_BY_RECLAIM = "closed by reclaim"


@dataclass(frozen=True)
class ExistingProposal:
    """What the forge already holds for one finding (the most recent proposal if several)."""

    finding_id: str
    state: ProposalState
    reference: str
    fingerprint: str = ""
    monthly_usd: float = 0.0
    rule: str = ""
    account: str = ""
    region: str = ""
    applied: bool = False
    rolled_back: bool = False


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ALREADY_MERGED = "already merged"
    REPROPOSED = "re-proposed"
    DECLINED = "declined earlier"
    WAITING = "waiting (limit)"
    CLOSED = "closed (stale)"


@dataclass(frozen=True)
class ProposalResult:
    finding_id: str
    outcome: Outcome
    reference: str
    """Where a reviewer finds it: a PR URL, or a branch name."""
    note: str = ""


class RunState(StrEnum):
    APPLIED = "applied"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


@dataclass(frozen=True)
class ResultComment:
    """What an apply or rollback did, for the PR that proposed it."""

    markdown: str
    state: RunState


class Forge(ABC):
    @abstractmethod
    def existing_proposals(self) -> dict[str, ExistingProposal]:
        """Every proposal reclaim made on this forge, by finding ID (reads only)."""

    @abstractmethod
    def propose(self, proposal: Proposal) -> ProposalResult:
        """Open the change, update it in place if it differs, or leave it alone."""

    @abstractmethod
    def close(self, existing: ExistingProposal, reason: str) -> ProposalResult:
        """Close an open proposal whose finding no longer holds, saying why."""

    @abstractmethod
    def publish_dashboard(self, markdown: str) -> str | None:
        """Create or update the single dashboard; returns where it is (None: not published).

        Must not write when the dashboard's content is unchanged."""

    def comment_result(self, finding_id: str, commit_sha: str, result: ResultComment) -> str | None:
        """Upsert the apply/rollback result comment on the proposal merged as ``commit_sha``.

        Returns where it was posted, or None on a forge without comments."""
        return None

    def open_follow_up(self, follow_up: FollowUp) -> ProposalResult:
        """Open ``follow_up`` as its own change on its own branch (from the base branch), or
        leave an open one with the same files alone."""
        raise ForgeError(f"this forge cannot open follow-up changes ({follow_up.branch})")

    def open_proposals(self) -> list[str]:
        """Finding IDs with an open (unmerged) proposal."""
        return sorted(
            finding_id
            for finding_id, existing in self.existing_proposals().items()
            if existing.state is ProposalState.OPEN
        )
