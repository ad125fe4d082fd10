"""What moto lacks for the snapshot archive tier, added for the tests that need it.

moto 5 implements neither ModifySnapshotTier, RestoreSnapshotTier nor
DescribeSnapshotTierStatus, and DescribeImages does not understand the
``block-device-mapping.snapshot-id`` filter. This fixture adds them to moto's own EC2
model and responses, so requests still go through botocore's validation and moto's
serializer. Tier changes complete at once (AWS takes hours): the rule accepts both
in-progress and completed states, and the tests say which they exercise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses import EC2Response


def _modify_snapshot_tier(self: Any) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)
    if snapshot.status != "completed" or snapshot.storage_tier != "standard":
        raise EC2ClientError(
            "IncorrectState", f"Snapshot {snapshot_id} is not a completed standard snapshot"
        )
    snapshot.storage_tier = "archive"
    snapshot.last_tiering_start_time = utcnow()
    snapshot.last_tiering_operation_status = "archival-completed"
    return ActionResult(
        {"SnapshotId": snapshot_id, "TieringStartTime": snapshot.last_tiering_start_time}
    )


def _restore_snapshot_tier(self: Any) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    permanent = self._get_bool_param("PermanentRestore", False)
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)
    if snapshot.storage_tier != "archive":
        raise EC2ClientError("IncorrectState", f"Snapshot {snapshot_id} is not archived")
    if permanent:
        snapshot.storage_tier = "standard"
        snapshot.last_tiering_operation_status = "permanent-restore-completed"
    else:
        snapshot.last_tiering_operation_status = "temporary-restore-completed"
    snapshot.last_tiering_start_time = utcnow()
    return ActionResult(
        {
            "SnapshotId": snapshot_id,
            "RestoreStartTime": snapshot.last_tiering_start_time,
            "IsPermanentRestore": permanent,
        }
    )


def _describe_snapshot_tier_status(self: Any) -> ActionResult:
    filters = self._filters_from_querystring()
    wanted = set(filters.get("snapshot-id", []))
    statuses = [
        {
            "SnapshotId": snapshot.id,
            "VolumeId": snapshot.volume.id,
            "Status": snapshot.status,
            "OwnerId": snapshot.owner_id,
            "StorageTier": snapshot.storage_tier,
            "LastTieringStartTime": snapshot.last_tiering_start_time,
            "LastTieringOperationStatus": snapshot.last_tiering_operation_status,
        }
        for snapshot in self.ec2_backend.snapshots.values()
        if not wanted or snapshot.id in wanted
    ]
    return ActionResult({"SnapshotTierStatuses": [s for s in statuses if s["StorageTier"]]})


_original_ami_filter = Ami.get_filter_value


def _ami_filter(self: Ami, filter_name: str, method_name: str | None = None) -> Any:
    if filter_name == "block-device-mapping.snapshot-id":
        return [m["Ebs"]["SnapshotId"] for m in self.block_device_mappings if "Ebs" in m]
    return _original_ami_filter(self, filter_name, method_name)


@pytest.fixture
def snapshot_tiers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(Snapshot, "storage_tier", "standard", raising=False)
    monkeypatch.setattr(Snapshot, "last_tiering_start_time", None, raising=False)
    monkeypatch.setattr(Snapshot, "last_tiering_operation_status", None, raising=False)
    monkeypatch.setattr(EC2Response, "modify_snapshot_tier", _modify_snapshot_tier, raising=False)
    monkeypatch.setattr(EC2Response, "restore_snapshot_tier", _restore_snapshot_tier, raising=False)
    monkeypatch.setattr(
        EC2Response,
        "describe_snapshot_tier_status",
        _describe_snapshot_tier_status,
        raising=False,
    )
    monkeypatch.setattr(Ami, "get_filter_value", _ami_filter)
    yield
