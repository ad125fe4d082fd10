"""What a scan costs the account's API: O(pages) calls per account-region and rule, plus at
most one confirmation per finding propose can open, never one call per scanned resource.

Counted on moto through the whole scan (fleet, shared listings, guard), for 1,000 resources.
moto's CloudWatch answers GetMetricData by scanning every stored datapoint per query, so the
ec2-idle cases answer it from a stand-in that gives every instance the same idle days: the
calls counted are reclaim's, whatever moto's CloudWatch would cost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.errors import PrecheckFailed
from generator.rules import RULES
from generator.scan import scan
from tests import trusted
from tests.conftest import REGION, CallLog, RecordingSession, config_for
from tests.rule_harness import executor, planned

AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def only(**rules: dict[str, Any]) -> dict[str, Any]:
    return {name: rules.get(name.replace("-", "_"), {"enabled": False}) for name in RULES}


def run_scan(tmp_path: Path, rules: dict[str, Any], **config: Any) -> tuple[Any, CallLog]:
    log = CallLog()
    session = RecordingSession(log)
    reclaim_config = config_for(tmp_path, rules=rules, **config)
    trusted.remember(reclaim_config, AS_OF)  # what an apply after this scan trusts
    report = scan(
        reclaim_config,
        as_of=AS_OF,
        session_for=lambda account: session,
        workers=4,
    )
    assert report.errors == ()
    return report, log


@pytest.fixture
def idle_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GetMetricData query answers 14 idle days (CPU 1 %, 1,000 bytes a day)."""
    from moto.cloudwatch.models import CloudWatchBackend

    def answer(self: Any, queries: list[dict[str, Any]], *_: Any, **__: Any) -> list[Any]:
        days = [AS_OF - timedelta(days=d, hours=12) for d in range(14)]
        return [
            {
                "id": q["Id"],
                "label": q["Id"],
                "values": [1.0] * 14,
                "timestamps": days,
                "status_code": "Complete",
            }
            for q in queries
        ]

    monkeypatch.setattr(CloudWatchBackend, "get_metric_data", answer)


RULES_ON_VOLUMES = ("ebs-unattached", "ebs-gp2-to-gp3")


def judged(report: Any) -> dict[tuple[str, str], int]:
    """How many resources each (rule, region) reported on, as findings or left alone."""
    counts: dict[tuple[str, str], int] = {}
    for item in (*report.findings, *report.skipped):
        counts[(item.rule, item.region)] = counts.get((item.rule, item.region), 0) + 1
    return counts


def launch(ec2: Any, count: int, instance_type: str = "t3.micro", **extra: Any) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        batch = min(500, count - len(ids))
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=batch,
            MaxCount=batch,
            InstanceType=instance_type,
            **extra,
        )
        ids += [i["InstanceId"] for i in reservation["Instances"]]
    return ids


# ---- ec2-idle ---------------------------------------------------------------------------


def test_1000_idle_instances_cost_a_few_ec2_calls_not_one_per_instance(
    ec2: Any, idle_metrics: None, tmp_path: Path
) -> None:
    launch(ec2, 1000)
    report, log = run_scan(tmp_path, only(ec2_idle={}))

    assert len(report.findings) == 1000
    ec2_calls = [
        name
        for name in log.operations()
        if name.startswith("Describe") and name != "DescribeAutoScalingInstances"
    ]
    # DescribeInstances (one page here), DescribeInstanceTypes, DescribeAddresses, and stop
    # protection for the 5 findings propose can open (forge.max_new_prs_per_run): 8.
    assert log.count("DescribeInstanceAttribute") == 5
    assert len(ec2_calls) <= 10, ec2_calls
    # CPU for 1,000 (2 calls of 500 queries), network for the CPU-idle 1,000 (4 calls).
    assert log.count("GetMetricData") == 6


def test_stop_protection_is_asked_for_the_proposable_findings_highest_savings_first(
    ec2: Any, idle_metrics: None, tmp_path: Path
) -> None:
    small = launch(ec2, 20)
    large = launch(ec2, 3, instance_type="m5.xlarge")
    protected_large = launch(ec2, 1, instance_type="m5.2xlarge", DisableApiStop=True)
    protected_small = launch(ec2, 1, instance_type="t3.nano", DisableApiStop=True)

    report, log = run_scan(
        tmp_path, only(ec2_idle={}), forge={"max_open_prs": 10, "max_new_prs_per_run": 4}
    )

    asked = {
        params["InstanceId"] for name, params in log.calls if name == "DescribeInstanceAttribute"
    }
    # The 4 costliest: the protected m5.2xlarge and the three m5.xlarge; the protected one
    # frees its slot for the next costliest, the first t3.micro by ID.
    assert asked == set(protected_large + large + sorted(small)[:1])
    skipped = {s.resource_id: s.reason for s in report.skipped}
    assert "stop protection" in skipped[protected_large[0]]
    # Beyond the budget nothing was asked: a finding still, which the apply refuses (below).
    found = {f.resource_id for f in report.findings}
    assert found == set(small + large + protected_small)


def test_a_finding_that_was_not_confirmed_is_refused_at_apply_and_the_instance_keeps_running(
    ec2: Any, idle_metrics: None, tmp_path: Path
) -> None:
    """The apply re-confirms stop protection (its observation and the plan's pre-check):
    a finding the scan did not confirm never stops a protected instance."""
    launch(ec2, 2, instance_type="m5.xlarge")
    (protected,) = launch(ec2, 1, DisableApiStop=True)
    report, _ = run_scan(
        tmp_path, only(ec2_idle={}), forge={"max_open_prs": 10, "max_new_prs_per_run": 2}
    )
    finding = next(f for f in report.findings if f.resource_id == protected)
    folder = planned(finding, tmp_path / "plans")
    plan = (folder / "plan.json").read_text()
    assert "precheck-stop-protection" in plan

    with pytest.raises(PrecheckFailed):
        executor().apply(folder)
    state = ec2.describe_instances(InstanceIds=[protected])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


# ---- the other rules: one listing's pages, whatever the number of resources --------------


def test_1000_unattached_and_gp2_volumes_cost_one_shared_listing(ec2: Any, tmp_path: Path) -> None:
    for _ in range(1000):
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, VolumeType="gp2")
    rules = only(ebs_unattached={"use_cloudtrail": False}, ebs_gp2_to_gp3={})
    report, log = run_scan(tmp_path, rules)

    assert judged(report) == {("ebs-unattached", REGION): 1000, ("ebs-gp2-to-gp3", REGION): 1000}
    # 1,000 volumes in pages of 500 (moto answers them in one): for both rules together.
    assert log.count("DescribeVolumes") in (1, 2)
    assert log.count("DescribeVolumesModifications") <= 2
    assert len(log.operations()) <= 4, log.operations()


def test_addresses_are_listed_once_for_ec2_idle_and_eip_unassociated(
    ec2: Any, idle_metrics: None, tmp_path: Path
) -> None:
    launch(ec2, 3)
    for _ in range(30):
        ec2.allocate_address(Domain="vpc")
    _, log = run_scan(tmp_path, only(ec2_idle={}, eip_unassociated={}))
    assert log.count("DescribeAddresses") == 1


def test_1000_snapshots_cost_their_pages(ec2: Any, tmp_path: Path) -> None:
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    for _ in range(1000):
        ec2.create_snapshot(VolumeId=volume)
    _, log = run_scan(tmp_path, only(ebs_snapshot_archive={}))
    assert log.count("DescribeSnapshots") <= 2
    assert len(log.operations()) <= 4, log.operations()


def test_1000_unassociated_addresses_cost_one_listing_and_batched_ptr_lookups(
    ec2: Any, tmp_path: Path
) -> None:
    for _ in range(1000):
        ec2.allocate_address(Domain="vpc")
    _, log = run_scan(tmp_path, only(eip_unassociated={}))
    assert log.count("DescribeAddresses") == 1
    # The reverse-DNS records of the candidates, in batches: not one call per address.
    assert log.count("DescribeAddressesAttribute") <= 20


def test_the_listing_store_is_dropped_when_the_account_region_is_done(
    ec2: Any, tmp_path: Path
) -> None:
    """Two regions, two rules each: each region's volumes are listed once, and nothing is
    served from one region's store to the other."""
    boto3.client("ec2", region_name="eu-west-1").create_volume(
        AvailabilityZone="eu-west-1a", Size=8, VolumeType="gp2"
    )
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, VolumeType="gp2")
    rules = only(ebs_unattached={"use_cloudtrail": False}, ebs_gp2_to_gp3={})
    report, log = run_scan(tmp_path, rules, regions=[REGION, "eu-west-1"])
    assert log.count("DescribeVolumes") == 2
    assert judged(report) == {
        (rule, region): 1 for region in (REGION, "eu-west-1") for rule in RULES_ON_VOLUMES
    }


# ---- logs-retention: the listing's pages, and tags only for the proposable findings -------

GIB = 1024**3


def log_groups(count: int, *, gib: float = 100.0, named: str = "/aws/lambda/app") -> list[str]:
    """Never-expiring groups a year old storing ``gib`` each (moto's storedBytes count what
    put_log_events sent, so the backend's figures are set directly)."""
    from moto.logs.models import logs_backends

    logs = boto3.client("logs", region_name=REGION)
    backend = logs_backends["123456789012"][REGION]
    year_ago_at = (AS_OF - timedelta(days=365)).astimezone(UTC).replace(tzinfo=None)
    year_ago = int(year_ago_at.replace(tzinfo=UTC).timestamp() * 1000)
    names = [f"{named}-{i:04d}" for i in range(count)]
    for name in names:
        logs.create_log_group(logGroupName=name)
        logs.create_log_stream(logGroupName=name, logStreamName="s")
        backend.groups[name].streams["s"].stored_bytes = int(gib * GIB)
        group = backend.groups[name]
        # moto keeps it as epoch milliseconds before 5.2.5, as a naive UTC datetime since
        group.creation_time = year_ago_at if isinstance(group.creation_time, datetime) else year_ago
    return names


def test_1000_log_groups_cost_their_pages_and_tags_for_the_proposable_only(
    aws: None, tmp_path: Path
) -> None:
    log_groups(1000)
    report, log = run_scan(tmp_path, only(logs_retention={}))

    assert judged(report) == {("logs-retention", REGION): 1000}
    assert len(report.findings) == 1000
    # DescribeLogGroups answers 50 groups a page: 20 pages. Tags for the 5 findings propose
    # can open (forge.max_new_prs_per_run), not for the 1,000.
    assert log.count("DescribeLogGroups") <= 21
    assert log.count("ListTagsForResource") == 5
    assert len(log.operations()) <= 26, sorted(set(log.operations()))


def test_log_group_tags_are_asked_for_the_costliest_first_and_the_skip_tag_still_holds(
    aws: None, tmp_path: Path
) -> None:
    small = log_groups(20, gib=100, named="/small")
    large = log_groups(3, gib=2000, named="/large")
    (kept,) = log_groups(1, gib=4000, named="/kept")
    logs = boto3.client("logs", region_name=REGION)
    arn = logs.describe_log_groups(logGroupNamePrefix=kept)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn.removesuffix(":*"), tags={"reclaim:skip": "yes"})

    report, log = run_scan(
        tmp_path, only(logs_retention={}), forge={"max_open_prs": 10, "max_new_prs_per_run": 4}
    )

    asked = {
        p["resourceArn"].rsplit(":", 1)[-1] for n, p in log.calls if n == "ListTagsForResource"
    }
    # The 4 costliest; the skip-tagged one frees its slot for the next, the first small one.
    assert asked == {kept, *large, small[0]}
    assert "skip tag" in {s.resource_id: s.reason for s in report.skipped}[kept]
    assert {f.resource_id for f in report.findings} == {*small, *large}


def test_a_skip_tagged_log_group_beyond_the_budget_is_refused_at_apply_and_keeps_events(
    aws: None, tmp_path: Path
) -> None:
    """Its tags were not asked (not proposable in this run), so it is a finding; the plan's
    own pre-check reads them before any change."""
    log_groups(2, gib=2000, named="/large")
    (kept,) = log_groups(1, gib=100, named="/kept")
    logs = boto3.client("logs", region_name=REGION)
    arn = logs.describe_log_groups(logGroupNamePrefix=kept)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"reclaim:skip": "yes"})
    report, _ = run_scan(
        tmp_path, only(logs_retention={}), forge={"max_open_prs": 10, "max_new_prs_per_run": 2}
    )
    finding = next(f for f in report.findings if f.resource_id == kept)
    folder = planned(finding, tmp_path / "plans")

    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)
    (group,) = logs.describe_log_groups(logGroupNamePrefix=kept)["logGroups"]
    assert "retentionInDays" not in group
