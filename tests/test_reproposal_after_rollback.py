"""A resource /rollback restored is not proposed again for the same waste unless its evidence
changed materially (the rule's ``material_change``); then it is a new plan, never the
rolled-back plan's ID, and its PR links the rolled-back one.

What was rolled back comes from the default branch's journals (generator.ledger); the
decisions are tested on ledgers written out here, and once on a journal that a real apply
and rollback on moto wrote.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator.errors import PrecheckFailed
from generator.executor.observe import RuleObserver
from generator.findings import Finding, finding_id
from generator.forge.base import ExistingProposal, Outcome, ProposalState
from generator.forge.sync import Create, Limits, ScanScope, plan_sync
from generator.ledger import Ledger, PlanHistory
from generator.planner import plan_finding
from generator.propose import proposal_for
from generator.state import SeenState
from tests import trusted
from tests.rule_harness import (
    ACCOUNT,
    REGION,
    Detected,
    context,
    detect,
    executor,
    journal,
    moto_client,
    planned,
)

RULE = "ebs-unattached"
NOW = datetime.now(UTC)
ROLLED_BACK_PR = "https://github.com/acme/ops/pull/7"


def _volume(size: int = 20) -> str:
    return str(
        moto_client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=size)["VolumeId"]
    )


def _scan(ledger: Ledger | None, days: int, state: SeenState) -> Detected:
    """ebs-unattached ``days`` after the first scan (first-seen clocks, no CloudTrail)."""
    ctx = dataclasses.replace(context(as_of=NOW + timedelta(days=days)), state=state, ledger=ledger)
    return detect(RULE, ctx, use_cloudtrail=False)


def _rolled_back(finding: Finding, *, monthly_usd: float, restored: tuple[str, ...] = ()) -> Ledger:
    """The default branch's journals: ``finding``'s plan applied, then rolled back, just
    before the volumes of the test were seen (as a restore makes them)."""
    approved = finding.model_copy(
        update={"cost": finding.cost.model_copy(update={"monthly_usd": monthly_usd})}
    )
    history = PlanHistory(
        finding=approved,
        applied_at=NOW - timedelta(days=2),
        rolled_back_at=NOW - timedelta(hours=1),
        restored=restored,
    )
    return Ledger(plans=(history,), backup_retention_days={RULE: 30})


def _first_sight(volume: str, state: SeenState) -> Finding:
    _scan(None, 0, state)
    return _scan(None, 10, state).finding(volume)


def test_same_resource_unchanged_evidence_is_not_proposed_again(aws: None) -> None:
    volume, state = _volume(), SeenState(None)
    finding = _first_sight(volume, state)
    ledger = _rolled_back(finding, monthly_usd=finding.cost.monthly_usd)

    result = _scan(ledger, 12, state)
    assert result.findings == []
    reason = result.skip_reason(volume)
    assert f"restored by /rollback of {finding.id}" in reason
    assert "until its evidence changes materially" in reason


def test_a_saving_doubled_is_proposed_again_under_a_new_plan_id(aws: None, tmp_path: Path):
    volume, state = _volume(size=100), SeenState(None)
    finding = _first_sight(volume, state)  # $10/month now
    ledger = _rolled_back(finding, monthly_usd=4.0)  # approved and rolled back at $4/month

    again = _scan(ledger, 12, state).finding(volume)
    assert again.supersedes == finding.id
    assert again.id == f"{finding.id}.r2" != finding.id  # the rolled-back ID is not reused
    assert "at least 2x the $4.00/month" in again.evidence[-1].value

    folder = planned(again, tmp_path)  # every static check: names derived with the round
    assert folder.name == again.id
    readme = (folder / "README.md").read_text()
    assert "Proposed again after a rollback" in readme and f"`{finding.id}`" in readme

    # A second rollback of that plan: the next one is round 3, not round 2 again.
    second = dataclasses.replace(
        ledger.plans[0],
        finding=again.model_copy(
            update={"cost": again.cost.model_copy(update={"monthly_usd": 4.5})}
        ),
        rolled_back_at=NOW - timedelta(minutes=30),
    )
    twice = Ledger(plans=(*ledger.plans, second))
    assert _scan(twice, 12, state).finding(volume).id == f"{finding.id}.r3"


def test_the_apply_believes_the_default_branchs_journals_not_the_plans_name(
    aws: None, tmp_path: Path
) -> None:
    """A branch author re-proposing a rolled-back resource under the old plan ID (or without
    the rollback) gets nothing applied: the apply derives the ID from the journals."""
    volume, state = _volume(size=100), SeenState(None)
    finding = _first_sight(volume, state)
    ledger = _rolled_back(finding, monthly_usd=finding.cost.monthly_usd)  # unchanged
    forged = planned(finding.model_copy(update={"observed_at": NOW + timedelta(days=12)}), tmp_path)
    observer = RuleObserver(
        config=trusted.config_for_rule(RULE, {"use_cloudtrail": False}),
        state=state,
        ledger=ledger,
    )
    at = NOW + timedelta(days=12)
    with pytest.raises(PrecheckFailed, match="restored by /rollback"):
        executor(observer=observer, clock=lambda: at).apply(forged)
    assert moto_client("ec2").describe_volumes(VolumeIds=[volume])["Volumes"]


def test_a_restored_volume_is_proposed_again_after_thirty_idle_days(aws: None) -> None:
    """ebs-unattached's restore makes a new volume: its own ID, linked to the rolled-back
    plan by the journal's restore output."""
    original, restored, state = _volume(), _volume(), SeenState(None)
    finding = _first_sight(original, state)
    ledger = _rolled_back(finding, monthly_usd=finding.cost.monthly_usd, restored=(restored,))

    reason = _scan(ledger, 12, state).skip_reason(restored)
    assert f"restored by /rollback of {finding.id}" in reason
    assert "idle 30 days since the rollback" in reason

    again = _scan(ledger, 31, state).finding(restored)
    assert again.supersedes == finding.id
    assert again.id == finding_id(RULE, ACCOUNT, REGION, restored)  # a new resource's own ID
    assert "all after the rollback" in again.evidence[-1].value


def test_the_reproposal_links_the_rolled_back_pr(aws: None) -> None:
    volume, state = _volume(size=100), SeenState(None)
    finding = _first_sight(volume, state)
    again = _scan(_rolled_back(finding, monthly_usd=1.0), 12, state).finding(volume)
    proposal = proposal_for(plan_finding(again), "remediations")
    existing = {
        finding.id: ExistingProposal(
            finding_id=finding.id,
            state=ProposalState.MERGED,
            reference=ROLLED_BACK_PR,
            applied=True,
            rolled_back=True,
        )
    }
    sync = plan_sync([proposal], existing, ScanScope(), Limits(), as_of="now")
    (create,) = sync.actions
    assert isinstance(create, Create) and create.previous is existing[finding.id]
    assert create.proposal.finding_id == again.id
    assert create.proposal.body.startswith(
        "> **Proposed again after a rollback.** " + ROLLED_BACK_PR
    )

    # Unchanged evidence under the old ID (no ledger: the forge's label is the backstop).
    old = proposal_for(plan_finding(finding), "remediations")
    settled = plan_sync([old], existing, ScanScope(), Limits(), as_of="now").settled
    assert [(r.outcome, "not proposed again" in r.note) for r in settled] == [
        (Outcome.ALREADY_MERGED, True)
    ]


def test_the_ledger_reads_rollbacks_and_restores_from_real_journals(
    aws: None, tmp_path: Path
) -> None:
    volume, state = _volume(), SeenState(None)
    folder = planned(_first_sight(volume, state), tmp_path)
    executor().apply(folder)
    executor().rollback(folder)
    restore = next(s for s in journal(folder)["rollback"]["steps"] if s["step_id"] == "restore")
    restored = restore["outputs"]["VolumeId"]

    ledger = Ledger.load(tmp_path)
    for resource in (volume, restored):
        found = ledger.rolled_back(RULE, ACCOUNT, REGION, resource)
        assert found is not None and found.plan_id == folder.name
    assert ledger.rolled_back(RULE, ACCOUNT, REGION, "vol-0other") is None
    assert ledger.rolled_back("ec2-idle", ACCOUNT, REGION, volume) is None
