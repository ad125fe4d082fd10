"""The scan's confirmation budget goes to the findings propose will open next, not to the ones
the forge already holds (the proposals file the last propose run wrote, generator.held).

Counted on moto through the whole scan, with ec2-idle's stop protection
(DescribeInstanceAttribute, one instance at a time) as the confirmation.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.config import ReclaimConfig
from generator.errors import PrecheckFailed
from generator.findings import Finding, finding_id
from generator.held import (
    MAX_BYTES,
    Held,
    ProposalsFile,
    load_held,
    proposals_path,
    write_held,
)
from generator.ledger import Ledger, PlanHistory
from generator.rules.context import CONFIRMATIONS_PER_SLOT, ScanContext
from tests.conftest import ACCOUNT, REGION, config_for
from tests.factories import volume_finding
from tests.rule_harness import context, detect, executor, moto_client, planned
from tests.test_scan_calls import AS_OF, idle_metrics, launch, only, run_scan  # noqa: F401

pytestmark = pytest.mark.usefixtures("idle_metrics")

FORGE = {"max_open_prs": 10, "max_new_prs_per_run": 5}


def ec2_idle(instance_id: str) -> str:
    return finding_id("ec2-idle", ACCOUNT, REGION, instance_id)


def config(tmp_path: Path) -> ReclaimConfig:
    return config_for(tmp_path, rules=only(ec2_idle={}), forge=FORGE)


def hold(tmp_path: Path, open_ids: list[str], **extra: Any) -> Path:
    path = proposals_path(config(tmp_path).state_path)
    write_held(
        path,
        ProposalsFile(as_of=AS_OF, open=tuple(open_ids), open_count=len(open_ids), **extra),
    )
    return path


def asked(log: Any) -> set[str]:
    return {p["InstanceId"] for name, p in log.calls if name == "DescribeInstanceAttribute"}


@pytest.fixture
def fleet(ec2: Any) -> dict[str, list[str]]:
    """Five costliest instances (their PRs are the ones held below), the next five (one of
    them stop-protected), and three cheaper ones."""
    return {
        "held": launch(ec2, 5, instance_type="m5.4xlarge"),
        "next": launch(ec2, 4, instance_type="m5.xlarge"),
        "protected": launch(ec2, 1, instance_type="m5.xlarge", DisableApiStop=True),
        "rest": launch(ec2, 3),
    }


def test_without_the_file_the_budget_confirms_the_held_five_again(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    """Today's behaviour, and what the file fixes: the protected instance is not confirmed
    and becomes a finding propose would open."""
    report, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    assert asked(log) == set(fleet["held"])
    assert fleet["protected"][0] in {f.resource_id for f in report.findings}


def test_the_budget_skips_the_held_findings_and_confirms_the_next_five(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    hold(tmp_path, [ec2_idle(i) for i in fleet["held"]])

    report, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    # The protected one frees its slot: the costliest of the rest (by ID) is confirmed too.
    refill = sorted(fleet["rest"])[0]
    assert asked(log) == set(fleet["next"] + fleet["protected"] + [refill])
    (protected,) = fleet["protected"]
    skipped = {s.resource_id: s.reason for s in report.skipped}
    assert skipped[protected] == "stop protection (DisableApiStop) is on"
    # The held ones stay findings (propose refreshes their PRs), unconfirmed.
    assert {f.resource_id for f in report.findings} == set(
        fleet["held"] + fleet["next"] + fleet["rest"]
    )
    assert report.warnings == ()


def test_merged_and_declined_findings_are_held_too(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    first, second, *others = fleet["held"]
    hold(
        tmp_path,
        [ec2_idle(i) for i in others],
        merged=(ec2_idle(first),),
        # Declined at about today's saving: propose does not open it again.
        declined={ec2_idle(second): 500.0},
    )

    _, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    # 3 open of 10: min(5, 10 - 3) = 5 slots, none for a held finding; the protected one
    # frees its slot for the costliest of the rest.
    assert asked(log) == set(fleet["next"] + fleet["protected"] + sorted(fleet["rest"])[:1])


def test_a_declined_finding_whose_saving_grew_is_confirmed_again(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    """Propose opens it again (forge.reopen_cost_ratio): it must be confirmed first."""
    first, *others = fleet["held"]
    hold(tmp_path, [ec2_idle(i) for i in others], declined={ec2_idle(first): 1.0})

    _, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    assert first in asked(log)
    assert not asked(log) & set(others)


def test_the_slots_left_under_max_open_prs_bound_the_budget(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    elsewhere = [ec2_idle(f"i-{n:017x}") for n in range(3)]  # open PRs of another unit
    hold(tmp_path, [ec2_idle(i) for i in fleet["held"]] + elsewhere)

    _, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    # 8 open of 10: 2 slots, the two costliest unheld (same savings: by instance ID); the
    # protected one, if it is among them, frees its slot for the next.
    ranked = sorted(fleet["next"] + fleet["protected"])
    (protected,) = fleet["protected"]
    assert asked(log) == set(ranked[: 3 if protected in ranked[:2] else 2])


def test_with_max_open_prs_reached_no_confirmation_is_asked(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    elsewhere = [ec2_idle(f"i-{n:017x}") for n in range(5)]
    hold(tmp_path, [ec2_idle(i) for i in fleet["held"]] + elsewhere)

    report, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    assert asked(log) == set()
    assert len(report.findings) == 13  # every idle instance, the protected one unconfirmed


def test_budget_is_never_negative() -> None:
    assert Held(open_count=12).budget(max_open=10, max_new_per_run=5) == 0
    assert Held(open_count=0).budget(max_open=10, max_new_per_run=5) == 5
    assert Held(open_count=7).budget(max_open=10, max_new_per_run=5) == 3


def _rolled_back_ten_days_ago(finding: Finding) -> Ledger:
    """The default branch's journals: ``finding``'s plan applied, then rolled back."""
    history = PlanHistory(
        finding=finding,
        applied_at=AS_OF - timedelta(days=20),
        rolled_back_at=AS_OF - timedelta(days=10),
    )
    return Ledger(plans=(history,))


def _confirmations(ctx: ScanContext, findings: list[Finding]) -> list[Finding]:
    """The findings ``ctx.confirmed`` asks a confirmation about, none of them refused."""
    asked: list[Finding] = []

    def confirm(batch: list[Finding]) -> dict[str, Finding]:
        asked.extend(batch)
        return {f.resource_id: f for f in batch}

    list(ctx.confirmed(findings, confirm))
    return asked


def test_a_rolled_back_plans_id_does_not_hold_its_reproposal() -> None:
    """A resource a /rollback restored is proposed again as <id>.r2 (after the rule's
    detection, which ranks it under <id>): that the forge holds the rolled-back plan's
    merged PR must not keep the new proposal from being confirmed."""
    rolled_back = volume_finding(volume_id="vol-0000000000000000a")
    other = volume_finding(volume_id="vol-0000000000000000b")
    held = Held(ids=frozenset({rolled_back.id, other.id}))
    ledger = _rolled_back_ten_days_ago(rolled_back)
    ctx = replace(context(as_of=AS_OF), held=held, confirm_budget=5)

    assert _confirmations(ctx, [rolled_back, other]) == []  # no ledger: both held
    with_ledger = replace(ctx, ledger=ledger)
    assert with_ledger.proposed_id(rolled_back) == f"{rolled_back.id}.r2"
    assert _confirmations(with_ledger, [rolled_back, other]) == [rolled_back]


def _budgeted(ec2: Any, confirm_budget: int) -> ScanContext:
    """A rule context on moto whose EC2 client is ``ec2``, with ``confirm_budget`` slots."""
    clients = {"ec2": ec2}
    ctx = context(as_of=AS_OF, client=lambda name: clients.get(name) or moto_client(name))
    return replace(ctx, confirm_budget=confirm_budget)


def _stop_protection_asked(ec2: Any) -> list[str]:
    """The instances ``ec2`` is asked DescribeInstanceAttribute for, in order."""
    asked: list[str] = []
    ec2.meta.events.register(
        "before-parameter-build.ec2.DescribeInstanceAttribute",
        lambda params, **_: asked.append(params["InstanceId"]),
    )
    return asked


def test_a_finding_detection_drops_takes_no_confirmation_slot(ec2: Any) -> None:
    """The costliest idle instance was rolled back and is unchanged since, so detection
    leaves it alone after the rule's scan yields it. With one slot, the confirmation goes
    to the next instance, which is stop-protected: it is left alone for that (and frees
    the slot for the next), and no finding offers propose a stop its owner has
    forbidden."""
    (rolled_back,) = launch(ec2, 1, instance_type="m5.4xlarge")
    (protected,) = launch(ec2, 1, instance_type="m5.xlarge", DisableApiStop=True)
    cheaper = launch(ec2, 2)
    ctx = _budgeted(ec2, confirm_budget=1)
    before = detect("ec2-idle", ctx).finding(rolled_back)
    ledger = _rolled_back_ten_days_ago(before)
    asked = _stop_protection_asked(ec2)

    detected = detect("ec2-idle", replace(ctx, ledger=ledger))

    assert asked == [protected, sorted(cheaper)[0]]
    assert detected.skip_reason(protected) == "stop protection (DisableApiStop) is on"
    assert "restored by /rollback" in detected.skip_reason(rolled_back)
    assert {f.resource_id for f in detected.findings} == set(cheaper)


def test_a_report_only_finding_takes_no_confirmation_slot() -> None:
    """Propose opens no PR for a report-only finding, so the slot goes to the next one."""
    report_only = volume_finding(volume_id="vol-0000000000000000a", size_gib=500)
    report_only = report_only.model_copy(update={"reversibility": "report-only"})
    proposable = volume_finding(volume_id="vol-0000000000000000b", size_gib=10)
    ctx = replace(context(as_of=AS_OF), confirm_budget=1)

    assert _confirmations(ctx, [report_only, proposable]) == [proposable]
    # What detection makes of a finding decides, not what the rule yielded.
    judged = replace(ctx, judge=lambda f: f.model_copy(update={"reversibility": "report-only"}))
    assert _confirmations(judged, [report_only, proposable]) == []


def test_a_confirmation_that_leaves_a_resource_alone_frees_its_slot(ec2: Any) -> None:
    """The costliest idle instance is stop-protected: with one slot, the next is confirmed
    in its place, so the finding propose opens is a confirmed one."""
    (protected,) = launch(ec2, 1, instance_type="m5.4xlarge", DisableApiStop=True)
    (nextbest,) = launch(ec2, 1, instance_type="m5.xlarge")
    cheaper = launch(ec2, 2)
    ctx = _budgeted(ec2, confirm_budget=1)
    asked = _stop_protection_asked(ec2)

    detected = detect("ec2-idle", ctx)

    assert asked == [protected, nextbest]
    assert detected.skip_reason(protected) == "stop protection (DisableApiStop) is on"
    assert {f.resource_id for f in detected.findings} == {nextbest, *cheaper}


def test_confirmations_that_keep_leaving_resources_alone_stop_at_twice_the_budget(
    ec2: Any,
) -> None:
    """Every instance stop-protected (an account-wide policy): the unit asks at most
    CONFIRMATIONS_PER_SLOT x its budget, not once per idle instance."""
    protected = launch(ec2, 9, DisableApiStop=True)
    ctx = _budgeted(ec2, confirm_budget=2)
    asked = _stop_protection_asked(ec2)

    detected = detect("ec2-idle", ctx)

    assert sorted(asked) == sorted(protected)[: CONFIRMATIONS_PER_SLOT * 2]
    assert {s.resource_id for s in detected.skipped} == set(asked)
    # The rest stay findings, unconfirmed: the apply's pre-check refuses a protected one.
    assert {f.resource_id for f in detected.findings} == set(protected) - set(asked)


FORGED = {
    "not JSON": "{open: [",
    "wrong types": json.dumps({"version": 1, "as_of": AS_OF.isoformat(), "open_count": "5"}),
    "a count that is not the list's": json.dumps(
        {"version": 1, "as_of": AS_OF.isoformat(), "open": [], "open_count": 2}
    ),
    "an ID that is no finding's": json.dumps(
        {"version": 1, "as_of": AS_OF.isoformat(), "open": ["x/../../etc"], "open_count": 1}
    ),
    "an unknown key": json.dumps({"version": 1, "as_of": AS_OF.isoformat(), "apply": True}),
    "a negative declined saving": json.dumps(
        {
            "version": 1,
            "as_of": AS_OF.isoformat(),
            "declined": {ec2_idle("i-0"): -1e308},
        }
    ),
    "a huge file": '{"open": [' + " " * MAX_BYTES + "]}",
}


@pytest.mark.parametrize("text", FORGED.values(), ids=FORGED.keys())
def test_a_malformed_file_warns_and_the_scan_confirms_as_without_it(
    fleet: dict[str, list[str]], tmp_path: Path, text: str
) -> None:
    path = proposals_path(config(tmp_path).state_path)
    path.parent.mkdir(parents=True)
    path.write_text(text)

    report, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    assert asked(log) == set(fleet["held"])
    (warning,) = report.warnings
    assert "proposals.json" in warning.message
    assert "as if no proposal were held" in warning.message
    assert "Traceback" not in warning.message


def test_load_held_says_why_and_never_raises(tmp_path: Path) -> None:
    assert load_held(tmp_path / "absent.json", 2.0) == (None, None)
    directory = tmp_path / "dir"
    directory.mkdir()
    held, why = load_held(directory, 2.0)
    assert held is None and why is not None and "directory" in why


def test_a_forged_file_cannot_make_the_apply_stop_a_protected_instance(
    fleet: dict[str, list[str]], ec2: Any, tmp_path: Path
) -> None:
    """Forged to name the protected instance (and the rest of the next five) as held, the
    file keeps the scan from confirming them: the instance becomes a finding. Its plan's
    pre-check still refuses the stop, and the instance keeps running."""
    (protected,) = fleet["protected"]
    hold(tmp_path, [ec2_idle(i) for i in fleet["next"] + fleet["protected"]])

    report, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)

    assert protected not in asked(log)
    finding = next(f for f in report.findings if f.resource_id == protected)
    with pytest.raises(PrecheckFailed):
        executor().apply(planned(finding, tmp_path / "plans"))
    state = ec2.describe_instances(InstanceIds=[protected])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_a_forged_file_cannot_get_a_protected_instance_proposed(
    fleet: dict[str, list[str]], tmp_path: Path
) -> None:
    """The five costliest have open PRs. A file forged to name the next five held (the
    protected one among them) and to leave out the five open ones makes the scan confirm the
    open five again and leave the protected one a finding: propose, which reads the forge
    and the file the scan read, opens nothing in that unit this run, and writes the truth
    for the next scan."""
    import subprocess

    from generator.forge.local import LocalGitForge
    from generator.forge.sync import Limits
    from generator.propose import sync_proposals

    repo = tmp_path / "ops"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("ops\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q",
         "-m", "init"],
        check=True,
    )  # fmt: skip
    forge = LocalGitForge(repo)
    limits = Limits(max_open=10, max_new_per_run=5)

    first, _ = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)
    opened = sync_proposals(first, forge, "remediations", limits=limits, dashboard=False)
    assert sorted(forge.open_proposals()) == sorted(ec2_idle(i) for i in fleet["held"])
    assert opened.held is not None

    (protected,) = fleet["protected"]
    path = hold(tmp_path, [ec2_idle(i) for i in fleet["next"] + fleet["protected"]])
    second, log = run_scan(tmp_path, only(ec2_idle={}), forge=FORGE)
    assert protected not in asked(log)
    assert protected in {f.resource_id for f in second.findings}

    scanned_with, why = load_held(path, 2.0)
    assert why is None
    outcome = sync_proposals(
        second, forge, "remediations", limits=limits, dashboard=False, scanned_with=scanned_with
    )

    assert sorted(forge.open_proposals()) == sorted(ec2_idle(i) for i in fleet["held"])
    waiting = {r.finding_id: r.note for r in outcome.results if r.note}
    assert "not confirmed by this scan" in waiting[ec2_idle(protected)]
    assert outcome.held is not None
    assert set(outcome.held.open) == {ec2_idle(i) for i in fleet["held"]}
