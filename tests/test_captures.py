"""The scanner's parsing and rules on what real accounts returned (recorded captures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from generator.aws.metrics import series_from_statistics
from generator.aws.prices import bundled_prices
from generator.exclusions import Exclusions
from generator.findings import Finding, SkippedResource
from generator.rules.context import ScanContext
from generator.rules.declared_calls import detect_declared
from generator.rules.ebs_gp2_to_gp3 import EbsGp2ToGp3
from generator.rules.ebs_snapshot import SnapshotSpec
from generator.rules.ebs_snapshot_archive import EbsSnapshotArchive
from generator.rules.ebs_volume import VolumeSpec
from generator.rules.ec2_idle import Ec2Idle, Ec2IdleSettings, judge_activity
from generator.rules.ec2_instance import IncompleteInstance, InstanceSpec
from generator.state import SeenState
from tests.captures import ReplayClient, case_pages, files, load

ACCOUNT = "644160558196"  # the captures' sanitised account
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")


def run(rule: Any, clients: dict[str, Any], settings: Any = None) -> dict[str, Any]:
    ctx = ScanContext(
        account_id=ACCOUNT,
        region="us-east-1",
        as_of=AS_OF,
        client=lambda service: clients[service],
        prices=bundled_prices(),
        exclusions=Exclusions(),
        state=SeenState(None),
    )
    out: dict[str, Any] = {}
    for item in detect_declared(rule, ctx, settings or rule.settings_model()):
        assert isinstance(item, Finding | SkippedResource)
        out[item.resource_id] = item
    return out


# ---- DescribeSnapshots --------------------------------------------------------------------


def test_every_recorded_snapshot_parses() -> None:
    paths = files("ec2.DescribeSnapshots")
    parsed = [
        SnapshotSpec.from_api(item) for path in paths for item in load(path).get("Snapshots", [])
    ]
    assert len(paths) >= 30 and len(parsed) >= 50
    assert {s.state for s in parsed} >= {"completed", "pending"}
    assert any(not s.lineage_known for s in parsed)  # copies report vol-ffffffff


@pytest.mark.parametrize("path", files("ec2.DescribeSnapshots"), ids=lambda p: p.parent.name)
def test_snapshot_archive_rule_runs_on_every_capture(path: Any) -> None:
    images = case_pages(path.parent.name, "ec2.DescribeImages")
    ec2 = ReplayClient({"describe_snapshots": [load(path)], "describe_images": images or [{}]})
    results = run(EbsSnapshotArchive(), {"ec2": ec2})
    for item in results.values():
        if isinstance(item, Finding):
            assert item.cost.monthly_usd > 0 and item.resource["snapshot"]["state"] == "completed"
        else:
            assert item.reason


def test_snapshot_captures_with_a_clear_answer() -> None:
    def archive(case: str) -> dict[str, Any]:
        ec2 = ReplayClient(
            {
                "describe_snapshots": case_pages(case, "ec2.DescribeSnapshots")[:1],
                "describe_images": case_pages(case, "ec2.DescribeImages")[:1] or [{}],
            }
        )
        return run(EbsSnapshotArchive(), {"ec2": ec2})

    ami_case = archive("test_ebs_ami_snapshot_filter")
    lone = ami_case["snap-7fc4f06d"]  # 5 GiB, 2016, only snapshot of its volume, no AMI
    assert isinstance(lone, Finding)
    assert lone.cost.monthly_usd == pytest.approx(5 * (0.05 - 0.0125), abs=0.01)
    assert "backs AMI ami-0bec971c" in ami_case["snap-4090d8aa"].reason
    assert "other standard-tier snapshot" in ami_case["snap-ab987f23"].reason

    unused = archive("test_ebs_snapshot_unused")
    assert isinstance(unused["snap-0bf9e1af959fbdddf"], Finding)
    assert isinstance(unused["snap-0b818bbec5eebac4c"], Finding)
    assert "backs AMI ami-008c67c239389d171" in unused["snap-0b80955e4f7052f72"].reason

    pending = archive("test_ebs_snapshot")
    assert pending["snap-0c8b611065fed033e"].reason == "state is 'pending'"

    foreign = archive("test_encrypt_volumes")
    assert "snap-09ab186abf23129b6" not in foreign  # another account's: not a candidate at all


# ---- DescribeInstances --------------------------------------------------------------------


def test_every_recorded_instance_parses_or_is_named_incomplete() -> None:
    parsed, incomplete = [], []
    for path in files("ec2.DescribeInstances"):
        for reservation in load(path).get("Reservations", []):
            for item in reservation.get("Instances", []):
                try:
                    parsed.append(InstanceSpec.from_api(item))
                except IncompleteInstance as error:
                    incomplete.append(str(error))
    assert len(parsed) >= 250
    # Hand-trimmed fixtures in the captures lack fields AWS always sends; reclaim says which.
    assert all("DescribeInstances gave no" in message for message in incomplete)
    assert {i.root_device_type for i in parsed} == {"ebs", "instance-store"}
    assert any(i.lifecycle == "spot" for i in parsed)


@pytest.mark.parametrize("path", files("ec2.DescribeInstances"), ids=lambda p: p.parent.name)
def test_ec2_idle_never_calls_an_instance_idle_without_metrics(path: Any) -> None:
    ec2 = ReplayClient(
        {"describe_instances": [load(path)], "describe_instance_types": [{}]},
        describe_addresses={"Addresses": []},
        describe_instance_attribute={"DisableApiStop": {"Value": False}},
    )
    autoscaling = ReplayClient({"describe_auto_scaling_instances": [{}]})
    cloudwatch = ReplayClient({"get_metric_data": [{"MetricDataResults": []}]})
    results = run(Ec2Idle(), {"ec2": ec2, "autoscaling": autoscaling, "cloudwatch": cloudwatch})
    assert not [r for r in results.values() if isinstance(r, Finding)]
    for item in results.values():
        assert item.reason.startswith(("unknown:", "cannot judge:")) or any(
            word in item.reason for word in ("spot", "instance-store", "Auto Scaling")
        ), item.reason


def test_instance_captures_with_a_clear_answer() -> None:
    def reasons(case: str) -> dict[str, str]:
        ec2 = ReplayClient(
            {"describe_instances": case_pages(case, "ec2.DescribeInstances")[:1]},
            describe_addresses={"Addresses": []},
            describe_instance_attribute={"DisableApiStop": {"Value": False}},
        )
        clients = {
            "ec2": ec2,
            "autoscaling": ReplayClient({}),
            "cloudwatch": ReplayClient({"get_metric_data": [{}]}),
        }
        return {k: v.reason for k, v in run(Ec2Idle(), clients).items()}

    assert any("spot instance" in r for r in reasons("test_ec2_propagate_spot_tags").values())
    assert any(
        "instance-store root" in r
        for r in reasons("test_ec2_stop_with_protection_enabled_ephemeral").values()
    )
    assert any("Auto Scaling group" in r for r in reasons("test_asg_propagate_tag_action").values())
    metric_case = reasons("test_ec2_metric")
    assert metric_case["i-0cfbce719a3400834"].startswith("unknown: no CloudWatch")
    instance = InstanceSpec.from_api(
        case_pages("test_ec2_metric", "ec2.DescribeInstances")[0]["Reservations"][0]["Instances"][0]
    )
    assert (instance.public_ip, instance.public_ip_owner) == ("52.40.106.74", "amazon")


# ---- GetMetricStatistics ------------------------------------------------------------------


def test_every_recorded_metric_statistics_answer_parses() -> None:
    paths = files("monitoring.GetMetricStatistics")
    assert len(paths) >= 50
    total = 0
    for path in paths:
        data = load(path)
        datapoints = data.get("Datapoints", [])
        present = {stat for point in datapoints for stat in STATISTICS if stat in point}
        for stat in present:
            series = series_from_statistics(data.get("Label", path.name), data, stat)
            assert len(series.points) == sum(1 for p in datapoints if stat in p)
            assert [t for t, _ in series.points] == sorted(t for t, _ in series.points)
            total += len(series.points)
    assert total > 0


def test_one_recorded_cpu_datapoint_is_not_enough_to_call_an_instance_idle() -> None:
    data = case_pages("test_ec2_metric", "monitoring.GetMetricStatistics")[0]
    cpu = series_from_statistics("cpu", data, "Average")
    assert cpu.values == [pytest.approx(0.02857142857142857)]
    network = series_from_statistics("net", {"Datapoints": []}, "Sum")
    activity = judge_activity(cpu, network, network, Ec2IdleSettings())
    assert activity.unknown_reason and "NetworkIn/NetworkOut" in activity.unknown_reason
    busy_enough = series_from_statistics(
        "net",
        {"Datapoints": [{"Timestamp": AS_OF - timedelta(days=1), "Sum": 10.0}]},
        "Sum",
    )
    activity = judge_activity(cpu, busy_enough, busy_enough, Ec2IdleSettings())
    assert activity.unknown_reason and "only 1 of 14 days" in activity.unknown_reason


# ---- DescribeVolumes (gp2 → gp3) ------------------------------------------------------------


@pytest.mark.parametrize("path", files("ec2.DescribeVolumes"), ids=lambda p: p.parent.name)
def test_gp2_rule_runs_on_every_volume_capture(path: Any) -> None:
    volumes = [
        VolumeSpec.from_api(item)
        for item in load(path).get("Volumes", [])
        if item.get("VolumeType") == "gp2"
    ]
    ec2 = ReplayClient({"describe_volumes": [load(path)], "describe_volumes_modifications": [{}]})
    results = run(EbsGp2ToGp3(), {"ec2": ec2})
    assert set(results) == {v.volume_id for v in volumes}
    for volume in volumes:
        item = results[volume.volume_id]
        if isinstance(item, Finding):
            assert item.resource["target_iops"] >= 3000
        else:
            assert item.reason
