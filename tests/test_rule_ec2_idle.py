from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from generator.errors import PrecheckFailed
from generator.rules.ec2_idle import STOP_PROTECTION_LOOKUPS_IN_FLIGHT, Ec2IdleSettings
from generator.rules.ec2_instance import InstanceSpec
from tests.aws_calls import CallCounter
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "ec2-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
MB = 1_000_000


def launch(ec2: Any, instance_type: str = "t3.micro", **extra: Any) -> str:
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, **extra
    )["Instances"][0]
    return str(instance["InstanceId"])


def seed(
    cw: Any, instance_id: str, *, days: int = 14, cpu: float = 1.0, net_bytes: float = MB
) -> None:
    """One datapoint a day for the last ``days`` days: CPU %, and half the bytes each way."""
    for day in range(days):
        when = AS_OF - timedelta(days=day, hours=1)
        cw.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    "Timestamp": when,
                    "Value": value,
                }
                for name, value in (
                    ("CPUUtilization", cpu),
                    ("NetworkIn", net_bytes / 2),
                    ("NetworkOut", net_bytes / 2),
                )
            ],
        )


def describe(ec2: Any, instance_id: str) -> InstanceSpec:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return InstanceSpec.from_api(reservations[0]["Instances"][0])


@mock_aws
def test_detect_finds_idle_instances_and_says_why_others_are_left_alone() -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    idle = launch(
        ec2,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "forgotten"}]}
        ],
    )
    seed(cw, idle, cpu=2.0, net_bytes=3 * MB)
    busy_cpu = launch(ec2)
    seed(cw, busy_cpu, cpu=1.0)
    seed(cw, busy_cpu, days=1, cpu=40.0)  # one busy day among idle ones
    busy_net = launch(ec2)
    seed(cw, busy_net, net_bytes=50 * MB)
    no_data = launch(ec2)
    partial = launch(ec2)
    seed(cw, partial, days=5)
    spot = launch(ec2, InstanceMarketOptions={"MarketType": "spot"})
    seed(cw, spot)
    store = launch(ec2, "m5d.large")
    seed(cw, store)
    protected = launch(ec2, DisableApiStop=True)
    seed(cw, protected)
    skipped = launch(
        ec2,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "reclaim:skip", "Value": ""}]}
        ],
    )
    seed(cw, skipped)
    stopped = launch(ec2)
    ec2.stop_instances(InstanceIds=[stopped])

    result = scan(RULE, as_of=AS_OF)

    assert [f.resource_id for f in result.findings] == [idle]
    finding = result.finding(idle)
    assert finding.reversibility == "full"
    assert finding.resource["cpu_max_daily_average_percent"] == 2.0
    assert finding.resource["network_max_daily_bytes"] == 3 * MB
    assert finding.resource["days_with_data"] == 14
    # t3.micro $0.0104/h x 730 h + the public IPv4 released on stop ($0.005/h x 730 h).
    assert finding.cost.monthly_usd == pytest.approx(7.59 + 3.65, abs=0.01)
    # That day's two datapoints average to (1 + 40) / 2.
    assert "not idle: CPU reached 20.5% on a day" in result.skip_reason(busy_cpu)
    assert "not idle: network reached 50.0 MB" in result.skip_reason(busy_net)
    assert result.skip_reason(no_data).startswith("unknown: no CloudWatch CPUUtilization")
    assert result.skip_reason(partial).startswith("unknown: only 5 of 14 days")
    assert "spot instance" in result.skip_reason(spot)
    assert "instance-store volumes" in result.skip_reason(store)
    assert "stop protection" in result.skip_reason(protected)
    assert "skip tag" in result.skip_reason(skipped)
    assert stopped not in {s.resource_id for s in result.skipped}


@mock_aws
def test_thresholds_are_settings() -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    instance = launch(ec2)
    seed(cw, instance, cpu=7.0, days=7)
    assert not scan(RULE, as_of=AS_OF).findings
    relaxed = Ec2IdleSettings(cpu_max_percent=10, lookback_days=7, min_days_with_data=7)
    assert [f.resource_id for f in scan(RULE, as_of=AS_OF, settings=relaxed).findings] == [instance]


@mock_aws
def test_auto_scaling_members_are_never_stopped() -> None:
    cw, asg = client("cloudwatch"), client("autoscaling")
    asg.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="lc",
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    member = asg.describe_auto_scaling_instances()["AutoScalingInstances"][0]["InstanceId"]
    seed(cw, member)
    assert "Auto Scaling group" in scan(RULE, as_of=AS_OF).skip_reason(member)


@mock_aws
def test_1000_instances_cost_two_cpu_calls_and_network_only_for_the_cpu_idle() -> None:
    ec2 = client("ec2")
    for _ in range(4):
        ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=250, MaxCount=250, InstanceType="t3.micro"
        )
    counter = CallCounter()
    cw, counted_ec2 = counter.attach(client("cloudwatch")), counter.attach(client("ec2"))
    asked: list[str] = []
    cw.meta.events.register(
        "provide-client-params.monitoring.GetMetricData",
        lambda params, **_: asked.extend(
            q["MetricStat"]["Metric"]["MetricName"] for q in params["MetricDataQueries"]
        ),
    )
    instances = [
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    ]
    assert len(instances) == 1000
    idle, busy = instances[:3], instances[3:5]
    for instance in idle:
        seed(cw, instance)
    for instance in busy:
        seed(cw, instance, cpu=60.0)
    counter.calls.clear()
    asked.clear()

    result = scan(
        RULE,
        as_of=AS_OF,
        client_factory=lambda service: {"cloudwatch": cw, "ec2": counted_ec2}.get(
            service, client(service)
        ),
    )

    assert sorted(f.resource_id for f in result.findings) == sorted(idle)
    assert all("CPU reached 60.0%" in result.skip_reason(i) for i in busy)
    assert len(result.skipped) == 997
    # CPU for all 1,000 (500 queries a call: 2 calls), then NetworkIn and NetworkOut for the
    # 3 whose CPU is idle (1 call). The 2 busy ones and the 995 without data cost no more.
    assert asked.count("CPUUtilization") == 1000
    assert asked.count("NetworkIn") == asked.count("NetworkOut") == 3
    assert counter["GetMetricData"] == 3
    assert counter["GetMetricStatistics"] == 0
    # Stop protection is asked only about the idle ones.
    assert counter["DescribeInstanceAttribute"] == 3


@mock_aws
def test_stop_protection_is_matched_to_each_idle_instance() -> None:
    """The lookups run a few at a time; each answer must land on its own instance."""
    ec2, cw = client("ec2"), client("cloudwatch")
    instances = [launch(ec2, DisableApiStop=n in (1, 4, 5)) for n in range(9)]
    for instance in instances:
        seed(cw, instance)

    result = scan(RULE, as_of=AS_OF)

    protected = {instances[n] for n in (1, 4, 5)}
    assert {f.resource_id for f in result.findings} == set(instances) - protected
    assert {s.resource_id for s in result.skipped} == protected
    assert all("stop protection" in result.skip_reason(i) for i in protected)


@mock_aws
def test_a_failed_stop_protection_lookup_fails_the_unit_and_stops_the_others() -> None:
    """No finding without the answer: the unit fails (the scan reports it), and the lookups
    still queued are not sent."""
    ec2, cw = client("ec2"), client("cloudwatch")
    instances = [launch(ec2) for _ in range(12)]
    for instance in instances:
        seed(cw, instance)
    counter = CallCounter()
    counted_ec2 = counter.attach(client("ec2"))

    # The first one asked: the findings are asked highest savings first, equal savings by ID.
    first = min(instances)

    def refuse_one(params: dict[str, Any], **_: Any) -> None:
        if params.get("InstanceId") == first:
            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}},
                "DescribeInstanceAttribute",
            )
        time.sleep(0.5)  # the others are still in flight when the refusal arrives

    counted_ec2.meta.events.register(
        "provide-client-params.ec2.DescribeInstanceAttribute", refuse_one
    )
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        scan(
            RULE,
            as_of=AS_OF,
            client_factory=lambda service: counted_ec2 if service == "ec2" else client(service),
        )
    # Only those already in flight were sent (the refused one never reached the wire).
    assert counter["DescribeInstanceAttribute"] <= STOP_PROTECTION_LOOKUPS_IN_FLIGHT


@mock_aws
def test_stop_then_start_restores_the_instance(tmp_path: Path) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=10)["VolumeId"]
    instance = launch(
        ec2,
        "m5.large",
        Placement={"AvailabilityZone": f"{REGION}a"},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "batch"}, {"Key": "team", "Value": "data"}],
            }
        ],
    )
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    seed(cw, instance)
    original = describe(ec2, instance)

    finding = scan(RULE, as_of=AS_OF).finding(instance)
    folder = planned(finding, tmp_path)
    readme = (folder / "README.md").read_text()
    assert "is not an Elastic IP" in readme and original.public_ip in readme

    executor().apply(folder)
    assert describe(ec2, instance).state == "stopped"

    result = executor().rollback(folder)
    assert result.output("verify", "PublicIpAddress")
    restored = describe(ec2, instance)
    # Every recorded attribute, except what AWS itself changes on a start: the launch time,
    # and a public IPv4 that is not an Elastic IP (the PR says so).
    changed_by_start = {"launch_time", "public_ip", "public_ip_owner"}
    assert restored.model_dump(exclude=changed_by_start) == original.model_dump(
        exclude=changed_by_start
    )
    assert restored.state == "running" and set(original.ebs_volume_ids) >= {volume}


@mock_aws
def test_elastic_ip_is_kept_and_checked_after_rollback(tmp_path: Path) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    instance = launch(ec2)
    allocation = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=allocation["AllocationId"], InstanceId=instance)
    seed(cw, instance)
    finding = scan(RULE, as_of=AS_OF).finding(instance)
    assert finding.resource["public_ip_is_elastic"] is True
    assert finding.cost.monthly_usd == pytest.approx(7.59, abs=0.01)  # the EIP stays billed
    folder = planned(finding, tmp_path)
    executor().apply(folder)
    result = executor().rollback(folder)
    assert result.steps[-1].step_id == "verify-elastic-ip"
    address = ec2.describe_addresses(PublicIps=[allocation["PublicIp"]])["Addresses"][0]
    assert address["InstanceId"] == instance


@mock_aws
def test_apply_refuses_an_instance_that_joined_an_auto_scaling_group(tmp_path: Path) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    instance = launch(ec2)
    seed(cw, instance)
    folder = planned(scan(RULE, as_of=AS_OF).finding(instance), tmp_path)
    ec2.create_tags(
        Resources=[instance], Tags=[{"Key": "aws:autoscaling:groupName", "Value": "web"}]
    )
    with pytest.raises(PrecheckFailed, match="no Auto Scaling group tag"):
        executor().apply(folder)
    assert describe(ec2, instance).state == "running"
