"""The forge: where proposals become reviewable changes (a GitHub PR, a local git branch)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum


def branch_for(finding_id: str) -> str:
    return f"reclaim/{finding_id}"


@dataclass(frozen=True)
class Proposal:
    """One finding as a change request: its remediation files and how to present them."""

    finding_id: str
    title: str
    body: str
    files: dict[str, str] = field(repr=False)
    """Repository-relative path → content."""
    labels: tuple[str, ...] = ()
    monthly_usd: float = 0.0

    @property
    def branch(self) -> str:
        return branch_for(self.finding_id)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ALREADY_MERGED = "already merged"


@dataclass(frozen=True)
class ProposalResult:
    finding_id: str
    outcome: Outcome
    reference: str
    """Where a reviewer finds it: a PR URL, or a branch name."""


class Forge(ABC):
    @abstractmethod
    def propose(self, proposal: Proposal) -> ProposalResult:
        """Open the change, update it in place if it differs, or leave it alone."""

    @abstractmethod
    def open_proposals(self) -> list[str]:
        """Finding IDs with an open (unmerged) proposal."""
