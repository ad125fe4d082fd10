"""Findings, reports and a fake clock for the GitHub forge tests (no AWS needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from generator.aws.prices import bundled_prices
from generator.findings import Evidence, Finding, FindingsReport, ScanUnit, SkippedResource
from generator.rules.ebs_unattached import UnattachedVolume
from generator.rules.ebs_volume import VolumeSpec
from tests.factories import finding_of

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
RULE = "ebs-unattached"
SCAN_1 = datetime(2026, 3, 1, tzinfo=UTC)


def finding(
    n: int,
    *,
    size_gib: int = 100,
    account: str = ACCOUNT,
    as_of: datetime = SCAN_1,
    evidence_text: str = "available, no attachments",
    reversibility: str = "full",
) -> Finding:
    volume = VolumeSpec(
        volume_id=f"vol-{n:017x}",
        availability_zone=f"{REGION}a",
        state="available",
        volume_type="gp3",
        size_gib=size_gib,
        create_time=datetime(2025, 6, 1, tzinfo=UTC),
        tags={"Name": f"scratch-{n}"},
    )
    since = datetime(2026, 1, 10, tzinfo=UTC)
    record = UnattachedVolume(
        volume=volume,
        unattached_since=since,
        unattached_source="cloudtrail",
        skip_tag="reclaim:skip",
        snapshot_timeout_minutes=120,
        backup_retention_days=30,
    )
    idle = (as_of - since).days
    built = finding_of(
        RULE,
        record,
        title=f"Delete unattached {volume.label()}, idle {idle} days",
        account=account,
        region=REGION,
        as_of=as_of,
        cost=bundled_prices().volume_cost(
            region=REGION, volume_type="gp3", size_gib=size_gib, iops=None, throughput_mibps=None
        ),
        evidence=(
            Evidence(label="State", value=evidence_text, source="DescribeVolumes"),
            Evidence(
                label="Unattached since",
                value=f"{since.isoformat()} ({idle} days)",
                source="DetachVolume event in CloudTrail",
            ),
        ),
    )
    # a report-only finding of a rule that remediates: what the forge must never propose
    return built.model_copy(update={"reversibility": reversibility})


def report(
    *findings: Finding,
    as_of: datetime = SCAN_1,
    accounts: tuple[str, ...] = (ACCOUNT,),
    skipped: tuple[SkippedResource, ...] = (),
    errors: Any = (),
) -> FindingsReport:
    failed = {(e.account, e.region, e.rule) for e in errors}
    return FindingsReport(
        as_of=as_of,
        findings=tuple(sorted(findings, key=lambda f: (-f.cost.monthly_usd, f.id))),
        skipped=skipped,
        errors=tuple(errors),
        completed=tuple(
            ScanUnit(account=a, region=REGION, rule=RULE)
            for a in accounts
            if (a, REGION, RULE) not in failed
        ),
    )


def after_scan_1(days: int) -> datetime:
    """``days`` after the first scan of the forge tests (conftest's ``later`` counts from now)."""
    return SCAN_1 + timedelta(days=days)


@dataclass
class FakeTime:
    """Clock and sleeper in one: sleeping advances the clock, so tests never wait."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
