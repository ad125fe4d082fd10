"""backup-expired: reclaim's own backups past retention, proposed for deletion into the
Recycle Bin only when the default branch's journals say so, and never what a branch author
could forge (another snapshot, one within retention, one of a rolled-back plan).

The backup is made the way production makes it: ebs-unattached's plan applied on moto, its
journal in a remediations folder standing in for the default branch's. moto has no Recycle
Bin: tests/recycle_bin.py answers it through botocore's Stubber.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.errors import ManifestError, PrecheckFailed
from generator.executor.observe import RuleObserver
from generator.findings import Finding, finding_id
from generator.ledger import Ledger
from generator.planner import executable
from generator.rules import RULES
from generator.rules.ebs_snapshot import SnapshotSpec
from generator.rules.ebs_snapshot_orphaned import RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE
from generator.savings import net_savings
from generator.scan import scan
from generator.state import SeenState
from tests import trusted
from tests.conftest import config_for
from tests.moto_snapshot_tiers import snapshot_tiers  # noqa: F401 (fixture: the AMI filter)
from tests.recycle_bin import BinRule, RecycleBin
from tests.rule_harness import ACCOUNT, REGION, context, detect, executor, journal, moto_client
from tests.rule_harness import planned as plan_folder

RULE = "backup-expired"
NOW = datetime.now(UTC)
EXPIRED = NOW + timedelta(days=40)
"""moto stamps the backup with the real clock: 40 days on, ebs-unattached's 30 have passed."""
pytestmark = pytest.mark.usefixtures("snapshot_tiers")
BIN_RULE = BinRule("rule-abc123", (RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE), days=14)
PLAN_TAG = "reclaim:plan-id"


@dataclasses.dataclass
class Applied:
    """An ebs-unattached plan applied on moto, its folder under the default branch's
    remediations folder."""

    remediations: Path
    folder: Path
    plan_id: str
    backup: str

    def ledger(self, retention: int = 30) -> Ledger:
        return Ledger.load(self.remediations, {"ebs-unattached": retention})


def _applied_volume_plan(tmp_path: Path) -> Applied:
    ec2 = moto_client("ec2")
    volume = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=20,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "old"}]}],
    )["VolumeId"]
    remediations = tmp_path / "remediations"
    state = SeenState(None)  # the first-seen clock of two scans, ten days apart
    for days in (0, 10):
        ctx = dataclasses.replace(context(as_of=NOW + timedelta(days=days)), state=state)
        scanned = detect("ebs-unattached", ctx, use_cloudtrail=False)
    found = scanned.finding(volume)
    folder = plan_folder(found, remediations)
    executor().apply(folder)
    backup = journal(folder)["apply"]["steps"]
    (snapshot,) = [s["outputs"]["SnapshotId"] for s in backup if s["step_id"] == "backup"]
    return Applied(remediations, folder, found.id, snapshot)


def _detect(applied: Applied | None, bin: RecycleBin, *, as_of: datetime = EXPIRED, **kw: Any):
    ctx = context(as_of=as_of, client=bin.client)
    ledger = applied.ledger(**kw) if applied else None
    return detect(RULE, dataclasses.replace(ctx, ledger=ledger))


def _observer(ledger: Ledger) -> RuleObserver:
    """What the apply believes: the default branch's reclaim.yml and journals."""
    return RuleObserver(config=trusted.config_for_rule(RULE), state=SeenState(None), ledger=ledger)


def _apply(folder: Path, bin: RecycleBin, ledger: Ledger, *, at: datetime = EXPIRED) -> None:
    started = datetime.now(UTC)
    clock = lambda: at + (datetime.now(UTC) - started)  # noqa: E731
    executor(bin.client_for, _observer(ledger), clock=clock).apply(folder)


def _exists(sid: str) -> bool:
    return any(s["SnapshotId"] == sid for s in moto_client("ec2").describe_snapshots()["Snapshots"])


def _state(sid: str) -> dict[str, Any]:
    (snapshot,) = moto_client("ec2").describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    snapshot["Tags"] = sorted(snapshot.get("Tags", []), key=lambda t: t["Key"])
    return snapshot  # type: ignore[no-any-return]


def _snapshot(tags: dict[str, str]) -> str:
    ec2 = moto_client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    sid = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    return str(sid)


def _naming(finding: Finding, sid: str) -> Finding:
    """The finding a branch author writes to point the reviewed plan at another snapshot."""
    (item,) = moto_client("ec2").describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    resource = dict(finding.resource)
    resource["snapshot"] = SnapshotSpec.from_api(item).model_dump(mode="json")
    return finding.model_copy(
        update={
            "id": finding_id(RULE, ACCOUNT, REGION, sid),
            "resource_id": sid,
            "resource": resource,
        }
    )


def test_proposes_an_expired_backup_and_says_why_others_are_kept(aws: None, tmp_path: Path):
    applied = _applied_volume_plan(tmp_path)
    forged_tag = _snapshot({PLAN_TAG: applied.plan_id})
    stranger = _snapshot({PLAN_TAG: "ebs-unattached-123456789012-us-east-1-vol-0nobody"})
    bin = RecycleBin(rules=[BIN_RULE])

    result = _detect(applied, bin)
    finding = result.finding(applied.backup)
    assert finding.reversibility == "full-delayed"
    assert finding.cost.monthly_usd == 1.0  # 20 GiB x $0.05, an upper bound
    assert finding.resource["plan_id"] == applied.plan_id
    assert "no journal on the default branch records it" in result.skip_reason(forged_tag)
    assert "no journal on the default branch records it" in result.skip_reason(stranger)
    assert [f.resource_id for f in result.findings] == [applied.backup]

    within = _detect(applied, bin, as_of=NOW + timedelta(days=20)).skip_reason(applied.backup)
    assert "within ebs-unattached's backup_retention_days=30" in within
    # The retention is the default branch's reclaim.yml's, whatever the plan recorded.
    longer = _detect(applied, bin, retention=60).skip_reason(applied.backup)
    assert "backup_retention_days=60" in longer
    # No journals read: nothing is known to be reclaim's, nothing is proposed.
    assert _detect(None, bin).findings == []


def test_a_rolled_back_plan_keeps_its_backup(aws: None, tmp_path: Path) -> None:
    applied = _applied_volume_plan(tmp_path)
    executor().rollback(applied.folder)
    result = _detect(applied, RecycleBin(rules=[BIN_RULE]))
    assert "was rolled back" in result.skip_reason(applied.backup)


def test_a_backup_a_volume_was_restored_from_is_kept(aws: None, tmp_path: Path) -> None:
    """A restore outside reclaim (nothing in the journal) still shows on AWS."""
    applied = _applied_volume_plan(tmp_path)
    moto_client("ec2").create_volume(AvailabilityZone="us-east-1b", SnapshotId=applied.backup)
    result = _detect(applied, RecycleBin(rules=[BIN_RULE]))
    assert "was created from it (a restore)" in result.skip_reason(applied.backup)


@pytest.mark.parametrize(
    "bin",
    [RecycleBin(rules=[]), RecycleBin(rules=[BIN_RULE], readable=False)],
    ids=["no-rule", "unreadable"],
)
def test_without_a_recycle_bin_rule_it_is_reported_not_proposed(
    aws: None, tmp_path: Path, bin: RecycleBin
) -> None:
    applied = _applied_volume_plan(tmp_path)
    finding = _detect(applied, bin).finding(applied.backup)
    assert finding.reversibility == "report-only"
    assert finding.cost.monthly_usd == 1.0  # still priced and listed
    assert executable([finding]) == []
    with pytest.raises(ManifestError, match=r"report(ed)?[- ]only"):
        RULES[RULE].build_plan(finding)
    assert _exists(applied.backup)
    assert "DeleteSnapshot" not in bin.calls


def test_apply_deletes_into_the_bin_and_rollback_restores_the_same_backup(
    aws: None, tmp_path: Path
) -> None:
    applied = _applied_volume_plan(tmp_path)
    original = _state(applied.backup)
    bin = RecycleBin(rules=[BIN_RULE])
    finding = _detect(applied, bin).finding(applied.backup)
    net = net_savings(finding)
    assert net is not None and net.net_monthly_usd == 0.0  # billed while in the bin
    folder = plan_folder(finding, applied.remediations)
    readme = (folder / "README.md").read_text()
    assert applied.plan_id in readme and "Deadline" in readme

    _apply(folder, bin, applied.ledger())
    assert not _exists(applied.backup) and applied.backup in bin.kept
    executed = [s["step_id"] for s in journal(folder)["apply"]["steps"]]
    assert {"precheck-plan-tag", "precheck-not-restored", "precheck-ami"} <= set(executed)

    executor(bin.client_for, _observer(applied.ledger())).rollback(folder)
    assert _state(applied.backup) == original  # same ID, tags (plan ID included)
    # Restored by /rollback: not proposed again while its evidence is unchanged.
    again = _detect(applied, bin)
    assert again.findings == []
    assert f"restored by /rollback of {finding.id}" in again.skip_reason(applied.backup)


# ---- what a branch author could forge ---------------------------------------------------


def _reviewed(applied: Applied, bin: RecycleBin) -> Finding:
    return _detect(applied, bin).finding(applied.backup)


def test_a_plan_naming_a_snapshot_that_is_not_reclaims_is_refused(
    aws: None, tmp_path: Path
) -> None:
    applied = _applied_volume_plan(tmp_path)
    bin = RecycleBin(rules=[BIN_RULE])
    precious = _snapshot({PLAN_TAG: applied.plan_id, "Name": "precious"})  # a forged tag
    folder = plan_folder(_naming(_reviewed(applied, bin), precious), tmp_path / "pr")

    with pytest.raises(PrecheckFailed, match="no journal on the default branch records it"):
        _apply(folder, bin, applied.ledger())
    assert _exists(precious) and "DeleteSnapshot" not in bin.calls


def test_a_backup_within_the_default_branchs_retention_is_refused(
    aws: None, tmp_path: Path
) -> None:
    applied = _applied_volume_plan(tmp_path)
    bin = RecycleBin(rules=[BIN_RULE])
    folder = plan_folder(_reviewed(applied, bin), tmp_path / "pr")

    with pytest.raises(PrecheckFailed, match="within ebs-unattached's backup_retention_days"):
        _apply(folder, bin, applied.ledger(), at=NOW + timedelta(days=20))
    with pytest.raises(PrecheckFailed, match="backup_retention_days=90"):
        _apply(folder, bin, applied.ledger(retention=90))
    assert _exists(applied.backup) and "DeleteSnapshot" not in bin.calls


def test_a_backup_of_a_plan_rolled_back_since_the_pr_is_refused(aws: None, tmp_path: Path) -> None:
    applied = _applied_volume_plan(tmp_path)
    bin = RecycleBin(rules=[BIN_RULE])
    folder = plan_folder(_reviewed(applied, bin), tmp_path / "pr")
    executor().rollback(applied.folder)  # /rollback of the volume's PR, after this one opened

    with pytest.raises(PrecheckFailed, match="a volume was restored from this backup"):
        _apply(folder, bin, applied.ledger())
    # The restored volume deleted since: AWS no longer shows the restore, the journal does.
    restored = journal(applied.folder)["rollback"]["steps"]
    (volume,) = [s["outputs"]["VolumeId"] for s in restored if s["step_id"] == "restore"]
    moto_client("ec2").delete_volume(VolumeId=volume)
    with pytest.raises(PrecheckFailed, match="was rolled back"):
        _apply(folder, bin, applied.ledger())
    assert _exists(applied.backup) and "DeleteSnapshot" not in bin.calls


def test_a_journal_is_believed_only_for_its_plan_and_only_with_aws_agreeing(
    aws: None, tmp_path: Path
) -> None:
    """validate-changed refuses a pull request that edits a journal; were one edited anyway,
    a backup it names must still be a snapshot of the plan's volume (AWS's VolumeId), and a
    journal whose plan.json changed is no history at all."""
    applied = _applied_volume_plan(tmp_path)
    precious = _snapshot({PLAN_TAG: applied.plan_id})
    path = applied.folder / "journal.json"
    edited = json.loads(path.read_text())
    for step in edited["apply"]["steps"]:
        if step["step_id"] == "backup":
            step["outputs"]["SnapshotId"] = precious
    path.write_text(json.dumps(edited, indent=2) + "\n")
    result = _detect(applied, RecycleBin(rules=[BIN_RULE]))
    assert result.findings == []
    volume = applied.plan_id.removeprefix(f"ebs-unattached-{ACCOUNT}-{REGION}-")
    assert f"not of {volume}, which plan {applied.plan_id} backed up" in result.skip_reason(
        precious
    )

    plan_path = applied.folder / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["notes"] = [*plan["notes"], "edited"]
    plan_path.write_text(json.dumps(plan, indent=2) + "\n")
    assert "no journal" in _detect(applied, RecycleBin()).skip_reason(precious)


def test_the_scheduled_scan_reads_the_default_branchs_journals_and_reclaim_yml(
    aws: None, tmp_path: Path
) -> None:
    """`reclaim scan` finds the backup through the checkout's remediations folder (the
    default branch's in the scan workflow) and its reclaim.yml's retention. moto has no
    Recycle Bin, so the finding is report-only: priced and listed, never a PR."""
    applied = _applied_volume_plan(tmp_path)

    def scan_with(retention: int) -> Any:
        rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
        rules[RULE] = {}
        rules["ebs-unattached"] = {"use_cloudtrail": False, "backup_retention_days": retention}
        config = config_for(tmp_path, rules=rules, output={"remediations_dir": "remediations"})
        return scan(config, as_of=EXPIRED)

    report = scan_with(30)
    (finding,) = [f for f in report.findings if f.rule == RULE]
    assert finding.resource_id == applied.backup and finding.reversibility == "report-only"
    assert any("Recycle Bin" in w.message for w in report.warnings)
    assert executable(report.findings) == []

    kept = scan_with(60)
    assert [f for f in kept.findings if f.rule == RULE] == []
    (skipped,) = [s for s in kept.skipped if s.resource_id == applied.backup]
    assert "backup_retention_days=60" in skipped.reason
