"""A Finding: one idle resource, its evidence, its price and how reversible its clean-up is."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from generator.state import FirstSeen

Reversibility = Literal["full", "full-delayed", "best-effort", "report-only"]
Risk = Literal["low", "medium", "high"]

FINDINGS_SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cost(_Frozen):
    monthly_usd: float = Field(ge=0)
    estimated: bool = Field(
        description="True when the bundled prices are not for this region (list prices used)."
    )
    price_region: str = Field(description="The region whose list prices were used.")
    basis: str = Field(description="How the figure was computed, in words a reviewer can check.")
    unknown: bool = Field(
        default=False,
        description="True when reclaim could not price the saving; monthly_usd is then 0 and "
        "basis says why.",
    )

    @property
    def yearly_usd(self) -> float:
        return round(self.monthly_usd * 12, 2)


class Evidence(_Frozen):
    label: str
    value: str
    source: str = Field(description="Where the value came from (API call, CloudTrail, state file).")


class _DumpedRecord:
    """The validation context of a finding whose ``resource`` a validated record's
    ``model_dump(mode="json")`` made (``scanned_finding``)."""


_DUMPED_RECORD = _DumpedRecord()


def _json_resource(
    value: Any, check: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> dict[str, JsonValue]:
    if info.context is _DUMPED_RECORD and type(value) is dict:
        return value  # JSON by construction: pydantic's own JSON-mode dump
    checked: dict[str, JsonValue] = check(value)
    return checked


class Finding(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9-]+-\d{12}-[a-z0-9-]+-[A-Za-z0-9_.:/-]+$")
    rule: str
    account: str = Field(pattern=r"^\d{12}$")
    region: str
    resource_type: str
    resource_id: str
    title: str
    observed_at: datetime = Field(description="The as-of instant the scan evaluated ages at.")
    cost: Cost
    reversibility: Reversibility
    risk: Risk
    risk_reasons: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...]
    resource: Annotated[dict[str, JsonValue], WrapValidator(_json_resource)] = Field(
        description="The resource as recorded at scan time, in the rule's own typed shape."
    )
    supersedes: str | None = Field(
        default=None,
        description="The plan ID of the rolled-back plan this finding proposes again (its "
        "resource was restored by /rollback and its evidence changed materially since); the "
        "finding's own ID is then a new one (generator.findings.reproposal_id).",
        # Came after findings were published: left out when unset, so every finding and
        # manifest written before it serializes byte for byte as it did.
        exclude_if=lambda supersedes: supersedes is None,
    )


def scanned_finding(**fields: Any) -> Finding:
    """A Finding whose ``resource`` is a validated record's ``model_dump(mode="json")``
    (Rule.new_finding). Every field is validated but that one, JSON by construction: its
    JsonValue check (pydantic calls back into Python for each value's type) was more than
    half of a finding's validation, ~5 us a finding. A finding read from a file, or made
    any other way, has its resource checked whole."""
    return Finding.model_validate(fields, context=_DUMPED_RECORD)


def finding_id(rule: str, account: str, region: str, resource_id: str) -> str:
    return f"{rule}-{account}-{region}-{resource_id}"


_ROUND = re.compile(r"\.r(\d+)")


def reproposal_id(base: str, supersedes: str | None) -> str:
    """The ID of a finding whose resource-derived ID is ``base``, proposing again what the
    rolled-back plan ``supersedes`` acted on. A rolled-back plan's ID is never reused (its
    folder and journal stay on the default branch): the same resource's next plan is
    ``<base>.r2``, then ``.r3``; a resource the rollback created anew (a restored volume's
    new ID) already has an ID of its own, ``base``."""
    if supersedes is None:
        return base
    if supersedes == base:
        return f"{base}.r2"
    if supersedes.startswith(base) and (round_ := _ROUND.fullmatch(supersedes, len(base))):
        return f"{base}.r{int(round_.group(1)) + 1}"
    return base


class ScanError(_Frozen):
    account: str = Field(description="Account ID, or the account's name when its ID is unknown.")
    region: str = Field(description="'*' when the whole account failed.")
    rule: str = Field(description="'*' when the whole account or region failed.")
    message: str
    hint: str | None = None


class ScanUnit(_Frozen):
    """One (account, region, rule) the scan completed without error."""

    account: str
    region: str
    rule: str


class SkippedResource(_Frozen):
    account: str
    region: str
    rule: str
    resource_id: str
    reason: str


class ShardInfo(_Frozen):
    index: int = Field(ge=1)
    count: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class FindingsReport(_Frozen):
    # Its validator is built when a findings file is first read (merge, propose), not at
    # import: a scan streams its findings one by one and only constructs its report.
    model_config = ConfigDict(defer_build=True)

    schema_version: Literal[1] = 1
    as_of: datetime
    shard: ShardInfo | None = Field(
        default=None,
        description="Which part of the (account, region, rule) units this scan covered; "
        "absent for a whole scan or merged shards.",
    )
    findings: tuple[Finding, ...]
    errors: tuple[ScanError, ...] = ()
    warnings: tuple[ScanError, ...] = Field(
        default=(),
        description="Data sources a rule could do without that failed or were refused "
        "(CloudTrail, Cost Explorer), each with its effect. The unit still completed.",
    )
    skipped: tuple[SkippedResource, ...] = Field(
        default=(), description="Resources a rule looked at and deliberately left alone, and why."
    )
    completed: tuple[ScanUnit, ...] = Field(
        default=(),
        description="The (account, region, rule) units the scan finished. Only a finding "
        "missing from a completed unit makes its open proposal stale.",
    )
    first_seen: FirstSeen | None = Field(
        default=None,
        description="rule → 'account/region/resource-id' → first seen idle, for every resource "
        "this scan saw idle: the state file's clocks of the units it completed. `reclaim "
        "merge-state` folds them into the state file, so sharded scans in CI keep one clock. "
        "Absent when the report carries no clocks.",
    )

    @property
    def monthly_total(self) -> float:
        return round(sum(f.cost.monthly_usd for f in self.findings), 2)
