"""An EBS snapshot as reclaim records it, parsed from DescribeSnapshots.

Snapshots copied from another snapshot report the placeholder volume ``vol-ffffffff``:
their lineage (which other snapshots share their blocks) is unknown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.aws.tags import tags_from_api
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Step
from generator.rules.context import ScanContext

GIB = 1024**3
UNKNOWN_VOLUME = "vol-ffffffff"
AWS_BACKUP_TAG_PREFIX = "aws:backup:"


class SnapshotSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot_id: str
    volume_id: str
    owner_id: str
    state: str
    storage_tier: str = "standard"
    start_time: datetime
    volume_size_gib: int
    full_size_bytes: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    description: str = ""
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> SnapshotSpec:
        return cls(
            snapshot_id=item["SnapshotId"],
            volume_id=item.get("VolumeId") or UNKNOWN_VOLUME,
            owner_id=str(item.get("OwnerId", "")),
            state=item.get("State", "unknown"),
            storage_tier=item.get("StorageTier") or "standard",
            start_time=item["StartTime"],
            volume_size_gib=int(item.get("VolumeSize") or 0),
            full_size_bytes=item.get("FullSnapshotSizeInBytes"),
            encrypted=bool(item.get("Encrypted", False)),
            kms_key_id=item.get("KmsKeyId"),
            description=item.get("Description") or "",
            tags=tags_from_api(item.get("Tags")),
        )

    @property
    def lineage_known(self) -> bool:
        return self.volume_id != UNKNOWN_VOLUME

    @property
    def managed_by_aws_backup(self) -> bool:
        return any(key.startswith(AWS_BACKUP_TAG_PREFIX) for key in self.tags)

    @property
    def full_size_gib(self) -> float:
        """The data an archived copy is billed for; the volume size when AWS does not say."""
        if self.full_size_bytes is not None:
            return self.full_size_bytes / GIB
        return float(self.volume_size_gib)

    def label(self) -> str:
        name = self.tags.get("Name")
        suffix = f" ({name})" if name else ""
        return (
            f"snapshot {self.snapshot_id}{suffix} of {self.volume_id}, {self.volume_size_gib} GiB"
        )


def no_ami_precheck(snapshot_id: str) -> Step:
    """The pre-check of every plan that changes a snapshot: no AMI is backed by it."""
    return steps.precheck(
        "precheck-ami",
        f"Confirm no AMI is backed by {snapshot_id}.",
        AwsCall(
            service="ec2",
            operation="DescribeImages",
            params={
                "Filters": [{"Name": "block-device-mapping.snapshot-id", "Values": [snapshot_id]}]
            },
        ),
        Expectation(path="length(Images)", equals=0, what="AMIs using it"),
    )


def snapshots_backing_amis(ctx: ScanContext) -> dict[str, str]:
    """Snapshot ID -> the AMI it backs, for every AMI the account owns (one listing)."""
    backing: dict[str, str] = {}
    for page in ctx.pages("ec2", "describe_images", Owners=["self"]):
        image: Any
        for image in page.get("Images", []):
            for mapping in image.get("BlockDeviceMappings") or []:
                snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
                if snapshot_id:
                    backing[snapshot_id] = image["ImageId"]
    return backing
