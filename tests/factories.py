"""Findings built without AWS, for tests of the pure planner, the manifest checks and the
forge: the one factory, `finding_of`, builds them through the rule's own finding constructor
(`Rule.new_finding`), so the ID, resource type, reversibility and record shape are the rule's
and never written out again here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from generator.aws.prices import bundled_prices
from generator.exclusions import Exclusions
from generator.findings import Cost, Evidence, Finding, Risk
from generator.rules import RULES
from generator.rules.context import ScanContext
from generator.rules.ebs_unattached import UnattachedVolume
from generator.rules.ebs_volume import VolumeSpec
from generator.state import SeenState

ACCOUNT = "123456789012"
REGION = "us-east-1"
OBSERVED_AT = datetime(2026, 2, 1, tzinfo=UTC)


def _no_aws(service: str) -> Any:
    raise AssertionError(f"a factory-built finding made an AWS call ({service})")


def finding_of(
    rule: str,
    record: BaseModel,
    *,
    title: str = "t",
    cost: Cost | None = None,
    risk: Risk = "low",
    risk_reasons: Iterable[str] = (),
    evidence: Iterable[Evidence] = (),
    account: str = ACCOUNT,
    region: str = REGION,
    as_of: datetime = OBSERVED_AT,
) -> Finding:
    """The finding ``rule``'s detection would have made of ``record``."""
    declared = RULES[rule]
    ctx = ScanContext(
        account_id=account,
        region=region,
        as_of=as_of,
        client=_no_aws,
        prices=bundled_prices(),
        exclusions=Exclusions(),
        state=SeenState(None),
    )
    return declared.new_finding(
        ctx,
        title=title,
        cost=cost or bundled_prices().cost(0.0, region, "test"),
        risk=risk,
        risk_reasons=risk_reasons,
        evidence=evidence,
        record=record,
    )


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
        backup_retention_days=30,
    )
    region = volume.availability_zone[:-1]
    return finding_of(
        "ebs-unattached",
        record,
        title=f"Delete unattached {volume.label()}",
        region=region,
        cost=bundled_prices().volume_cost(
            region=region,
            volume_type=volume.volume_type,
            size_gib=volume.size_gib,
            iops=volume.explicit_iops,
            throughput_mibps=volume.explicit_throughput,
        ),
        evidence=(Evidence(label="State", value="available", source="DescribeVolumes"),),
    )
