"""The executor's run of a code-change folder on moto, with the code change stood in for
(the real Terraform run is in test_apply_merged_moto.py): a refused check backs up nothing;
the backups are journaled before the change; the rollback restores from that backup."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import JsonValue

from generator.config import parse_config
from generator.errors import StateRefusal
from generator.executor.observe import RuleObserver
from generator.executor.runner import Executor
from generator.findings import Finding
from generator.forge.result import result_comment
from generator.iac.change import CodeChange
from generator.iac.proposal import iac_json
from generator.manifest.folder import RemediationFolder
from generator.rules import RULES, rule_for
from generator.state import SeenState, state_key
from tests.factories import volume_finding

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@dataclass
class StandIn:
    """The code change: its check passes or refuses; its apply deletes the volume (what the
    saved plan's `terraform apply` does)."""

    ec2: Any
    refuse: bool = False
    step_id: str = "terraform-apply"
    description: str = "terraform apply of the saved, checked plan"
    seen: list[str] = field(default_factory=list)

    def check(self, observed: Finding) -> dict[str, JsonValue]:
        self.seen.append(observed.resource_id)
        if self.refuse:
            raise StateRefusal("it would also delete aws_ebs_volume.keep")
        return {"address": "aws_ebs_volume.idle", "resource_id": observed.resource_id}

    def apply(self) -> dict[str, JsonValue]:
        self.ec2.delete_volume(VolumeId=self.seen[-1])
        return {"address": "aws_ebs_volume.idle"}


def setup(ec2: Any, tmp_path: Path, code: StandIn) -> tuple[Path, Executor, str, str]:
    idle = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    keep = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2)["VolumeId"]
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    config = parse_config({"rules": rules}, source="reclaim.yml", base_dir=tmp_path)
    state = SeenState(tmp_path / "state.json")
    now = datetime.now(UTC)
    state.first_seen("ebs-unattached", state_key(ACCOUNT, REGION, idle), now)
    later = now + timedelta(days=30)
    observer = RuleObserver(config=config, state=state)
    placeholder = rule_for("ebs-unattached").build_plan(volume_finding(volume_id=idle))
    client_for = lambda service, region: boto3.client(service, region_name=region)  # noqa: E731
    finding = observer.observe(placeholder, client_for, later).finding
    change = CodeChange(
        finding=finding,
        managed_by="terraform",
        root="storage",
        address="aws_ebs_volume.idle",
        action="delete",
    )
    folder = tmp_path / "remediations" / finding.id
    folder.mkdir(parents=True)
    (folder / "iac.json").write_text(iac_json(change))
    executor = Executor(
        client_for=client_for,
        account_id=lambda: ACCOUNT,
        observer=observer,
        clock=lambda: later + (datetime.now(UTC) - now),
        lock_wait_seconds=0,
        code_change=code,
    )
    return folder, executor, idle, keep


def volumes(ec2: Any) -> set[str]:
    return {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}


def own_snapshots(ec2: Any) -> list[dict[str, Any]]:
    snapshots = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return [s for s in snapshots if s["OwnerId"] == ACCOUNT]


def test_a_refused_code_change_backs_up_nothing(ec2: Any, tmp_path: Path) -> None:
    folder, executor, idle, keep = setup(ec2, tmp_path, StandIn(ec2, refuse=True))
    with pytest.raises(StateRefusal, match="would also delete"):
        executor.apply(folder)
    assert own_snapshots(ec2) == [] and {idle, keep} <= volumes(ec2)
    with pytest.raises(StateRefusal, match="stopped before changing anything"):
        executor.rollback(folder)
    assert {idle, keep} <= volumes(ec2)


def test_the_rollback_restores_from_the_journaled_backup(ec2: Any, tmp_path: Path) -> None:
    code = StandIn(ec2)
    folder, executor, idle, keep = setup(ec2, tmp_path, code)
    with pytest.raises(StateRefusal, match="never applied"):
        executor.rollback(folder)
    applied = executor.apply(folder)
    assert code.seen == [idle]  # checked against the volume as observed now
    (snapshot,) = own_snapshots(ec2)
    assert snapshot["VolumeId"] == idle
    assert applied.steps[-1].step_id == "terraform-apply"
    assert idle not in volumes(ec2) and keep in volumes(ec2)
    comment = result_comment(RemediationFolder(folder)).markdown
    assert "### Applied" in comment
    assert "| `terraform-apply` | change (code) | completed |" in comment
    assert snapshot["SnapshotId"] in comment

    restored = executor.rollback(folder)
    new_volume = restored.output("restore", "VolumeId")
    assert isinstance(new_volume, str) and new_volume in volumes(ec2)
    (volume,) = ec2.describe_volumes(VolumeIds=[new_volume])["Volumes"]
    assert volume["SnapshotId"] == snapshot["SnapshotId"] and volume["Size"] == 1
    assert "### Rolled back" in result_comment(RemediationFolder(folder)).markdown
    with pytest.raises(StateRefusal, match="already rolled back"):
        executor.rollback(folder)
