"""Findings built without AWS, for tests of the pure planner and the manifest checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from generator.aws.prices import bundled_prices
from generator.findings import Evidence, Finding
from generator.rules.ebs_unattached import UnattachedVolume
from generator.rules.ebs_volume import VolumeSpec

ACCOUNT = "123456789012"


def volume_finding(**spec: Any) -> Finding:
    values: dict[str, Any] = {
        "volume_id": "vol-0123456789abcdef0",
        "availability_zone": "us-east-1a",
        "state": "available",
        "volume_type": "gp2",
        "size_gib": 100,
        "create_time": datetime(2026, 1, 1, tzinfo=UTC),
        "tags": {"Name": "test-do-not-delete"},
    }
    values.update(spec)
    volume = VolumeSpec(**values)
    record = UnattachedVolume(
        volume=volume,
        unattached_since=datetime(2026, 1, 2, tzinfo=UTC),
        unattached_source="cloudtrail",
        skip_tag="reclaim:skip",
        snapshot_timeout_minutes=120,
    )
    region = volume.availability_zone[:-1]
    return Finding(
        id=f"ebs-unattached-{ACCOUNT}-{region}-{volume.volume_id}",
        rule="ebs-unattached",
        account=ACCOUNT,
        region=region,
        resource_type="AWS::EC2::Volume",
        resource_id=volume.volume_id,
        title=f"Delete unattached {volume.label()}",
        observed_at=datetime(2026, 2, 1, tzinfo=UTC),
        cost=bundled_prices().volume_cost(
            region=region,
            volume_type=volume.volume_type,
            size_gib=volume.size_gib,
            iops=volume.explicit_iops,
            throughput_mibps=volume.explicit_throughput,
        ),
        reversibility="full",
        risk="low",
        evidence=(Evidence(label="State", value="available", source="DescribeVolumes"),),
        resource=record.model_dump(mode="json"),
    )
