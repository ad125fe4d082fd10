"""Hidden markers in PR bodies, issues and comments: how reclaim recognises its own things.

A PR body ends with ``<!-- reclaim:meta {...} -->`` carrying what the next run needs to
decide without re-reading files: the finding, its material fingerprint and price, and, once
reclaim closed it, why. Comments and the dashboard start with a marker naming their kind, so
they are updated in place instead of stacked.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, ValidationError

_META = re.compile(r"<!-- reclaim:meta (\{.*?\}) -->", re.DOTALL)


class ProposalMeta(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    finding_id: str
    fingerprint: str = ""
    monthly_usd: float = 0.0
    rule: str = ""
    account: str = ""
    region: str = ""
    closed_reason: str | None = None
    """Set when reclaim itself closed the proposal (its finding no longer held)."""


def meta_comment(meta: ProposalMeta) -> str:
    text = json.dumps(meta.model_dump(mode="json", exclude_none=True), sort_keys=True)
    # JSON never needs a literal '>' outside strings, and inside strings \u003e is the same
    # character: this keeps a value containing '-->' from ending the HTML comment early.
    return "<!-- reclaim:meta " + text.replace(">", "\\u003e") + " -->"


def read_meta(body: str | None) -> ProposalMeta | None:
    if not body:
        return None
    # The last one wins: an older body quoted above it must not.
    found = _META.findall(body)
    if not found:
        return None
    try:
        return ProposalMeta.model_validate_json(found[-1])
    except ValidationError:
        return None


def strip_meta(body: str) -> str:
    return _META.sub("", body).rstrip("\n")


def kind_marker(kind: str) -> str:
    """The first line of a comment or issue reclaim upserts (``kind``: result, closed, ...)."""
    return f"<!-- reclaim:{kind} -->"


def has_marker(body: str | None, kind: str) -> bool:
    return bool(body) and (body or "").lstrip().startswith(kind_marker(kind))
