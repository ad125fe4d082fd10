"""What the forge holds, as the last propose run saw it: the proposals file.

``reclaim propose`` writes ``proposals.json`` beside the state file after each sync: the
finding IDs propose will not open a pull request for again (an open PR, a merged one, one a
human closed) and how many PRs are open. The next scan reads it so that the per-resource
confirmations a rule asks AWS for only the findings propose can open
(``ScanContext.confirmed``: ec2-idle's stop protection, the tags of a CloudFront
distribution or a log group, a secret's last access) go to the findings propose will open
next, not to the ones whose PRs are already open.

The file is on the default branch, so a pull request could edit it: it is read as untrusted
input, with limits, and validated; a file that is missing, too large, not JSON or not of
this shape gives one warning and the scan confirms as it did without it (the highest
savings first, up to ``min(max_open_prs, max_new_prs_per_run)`` a unit). Its only effect is
*which findings a scan confirms*; it never decides what is proposed (propose reads the
forge itself) and never what is changed: the apply's pre-checks confirm stop protection,
skip tags and the rest again, against AWS, before any change. propose reads the same file
(``plan_sync``'s ``scanned_with``) and, knowing the forge, opens none of what the scan
passed over because of it. What a forgery can do:

- name a finding that is not held: the scan does not confirm it, and propose lets it wait
  a run (the file it writes is the truth, and the next scan confirms it);
- leave out a held finding: the scan confirms it again, spending a confirmation; propose
  opens nothing in that unit this run (the scan may have confirmed the held one instead);
- overstate the open count: fewer findings (or none) are confirmed, and propose opens no
  more than the scan had slots for;
- understate it: no more than ``max_new_prs_per_run`` findings a unit are confirmed (and
  at most twice that many confirmations asked), and propose opens no more than the
  forge's own limits allow.

So a forged file delays proposals by a run at most; it never gets a finding proposed that
the scan passed over because of it. (A finding beyond the budget is unconfirmed as before:
the apply's pre-checks are what protect the resource.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from generator.errors import ReclaimError
from generator.fileio import write_atomically
from generator.untrusted import load_json_model

FILE_NAME = "proposals.json"
MAX_BYTES = 4 * 1024 * 1024
"""About 40,000 finding IDs: far more than a forge holds; a larger file is refused unread."""

_FINDING_ID = r"^[a-z0-9-]+-\d{12}-[a-z0-9-]+-[A-Za-z0-9_.:/-]+$"
FindingId = Annotated[str, Field(max_length=512, pattern=_FINDING_ID)]


def is_finding_id(text: str) -> bool:
    """Whether ``text`` can be a finding's ID (a forge may hold a PR whose branch names
    something else: it is no finding's, so the proposals file leaves it out)."""
    return len(text) <= 512 and re.fullmatch(_FINDING_ID, text) is not None


class ProposalsFile(BaseModel):
    """The proposals file: finding IDs propose will not open again, as of ``as_of``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    as_of: AwareDatetime = Field(
        description="The scan instant of the propose run that found the forge holding this "
        "(a run finding it unchanged rewrites nothing)."
    )
    open: tuple[FindingId, ...] = Field(
        default=(), description="Findings with an open PR (refreshed, never opened again)."
    )
    open_count: int = Field(
        default=0,
        ge=0,
        description="How many PRs are open, counted against forge.max_open_prs: the number "
        "of IDs in ``open`` (a file where they differ is refused).",
    )
    merged: tuple[FindingId, ...] = Field(
        default=(), description="Findings whose PR was merged: never proposed again."
    )
    declined: dict[FindingId, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="Findings whose PR a human closed, with the monthly saving it showed: "
        "proposed again only once the saving grows by forge.reopen_cost_ratio.",
    )

    @model_validator(mode="after")
    def _counted(self) -> Self:
        if self.open_count != len(set(self.open)):
            raise ValueError(
                f"open_count is {self.open_count} but {len(set(self.open))} open IDs are listed"
            )
        return self


def material_increase(now: float, before: float, ratio: float) -> bool:
    """A saving grown enough (by ``ratio``) to propose again what a human declined."""
    if before <= 0:
        return now > 0
    return now / before >= ratio


@dataclass(frozen=True)
class Held:
    """The proposals file as the scan uses it."""

    open_count: int = 0
    ids: frozenset[str] = frozenset()
    """Open or merged: propose never opens these again."""
    declined: Mapping[str, float] = field(default_factory=dict)
    reopen_cost_ratio: float = 2.0

    def holds(self, finding_id: str, monthly_usd: float) -> bool:
        """True when propose would not open this finding, whatever its place."""
        if finding_id in self.ids:
            return True
        declined_at = self.declined.get(finding_id)
        return declined_at is not None and not material_increase(
            monthly_usd, declined_at, self.reopen_cost_ratio
        )

    def budget(self, max_open: int, max_new_per_run: int) -> int:
        """How many new PRs the next propose run can open: never negative."""
        return max(0, min(max_new_per_run, max_open - self.open_count))


def proposals_path(state_path: Path) -> Path:
    """Beside the state file, so the scan workflow commits both."""
    return state_path.parent / FILE_NAME


class _Unreadable(ReclaimError):
    pass


def read_proposals(path: Path) -> tuple[ProposalsFile | None, str | None]:
    """The proposals file at ``path``, or (None, why not) when it cannot be trusted to be
    one; (None, None) when there is none. Never raises."""
    if not path.exists():
        return None, None
    try:
        return load_json_model(path, ProposalsFile, _Unreadable, max_bytes=MAX_BYTES), None
    except _Unreadable as error:
        return None, (
            f"{error.message}; the scan confirms the highest savings as if no proposal were "
            "held (the next propose run rewrites the file)"
        )


def load_held(path: Path, reopen_cost_ratio: float) -> tuple[Held | None, str | None]:
    """``read_proposals`` as the scan uses it: the caller warns with the reason, if any,
    and confirms as without the file."""
    data, why = read_proposals(path)
    if data is None:
        return None, why
    return (
        Held(
            open_count=data.open_count,
            ids=frozenset((*data.open, *data.merged)),
            declined=dict(data.declined),
            reopen_cost_ratio=reopen_cost_ratio,
        ),
        None,
    )


def _ordered(data: ProposalsFile) -> ProposalsFile:
    return data.model_copy(
        update={
            "open": tuple(sorted(set(data.open))),
            "merged": tuple(sorted(set(data.merged))),
            "declined": dict(sorted(data.declined.items())),
        }
    )


def same_holdings(a: ProposalsFile, b: ProposalsFile) -> bool:
    """The same findings held the same way, whenever each was written."""
    return _ordered(a).model_copy(update={"as_of": b.as_of}) == _ordered(b)


def write_held(path: Path, data: ProposalsFile) -> None:
    """Written in a stable order: the committed file changes only when what is held does."""
    write_atomically(path, _ordered(data).model_dump_json(indent=2) + "\n")
