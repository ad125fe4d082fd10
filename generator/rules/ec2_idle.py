"""ec2-idle: running instances that did nothing for two weeks. Stop them.

Idle means, over ``lookback_days`` of CloudWatch data in daily buckets: the highest daily
average CPU is under ``cpu_max_percent`` and the busiest day moved less than
``network_mb_per_day`` (in + out). An instance without enough data is "unknown", never idle:
no metrics is no evidence. All metrics come from one batched GetMetricData helper: CPU for
every running instance, network only for those whose CPU looks idle.

Stopping keeps EBS volumes, so the undo is StartInstances. Pre-checks refuse what a stop
would break or lose: instance-store roots and volumes (wiped on stop), Spot instances,
Auto Scaling members (the group would replace them), stop protection, and the skip tag.
A public IPv4 that is not an Elastic IP is released on stop; start gives a new one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import ADDRESSES, Listing
from generator.aws.metrics import (
    MetricQuery,
    MetricSeries,
    MetricWindow,
    daily_totals,
    fetch_metrics,
)
from generator.aws.pool import bounded_map
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import INSTANCE, NOT_SKIPPED, ActionScope, Condition, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, WaitFor
from generator.manifest.paths import json_literal
from generator.rules.base import (
    BillFootprint,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.rules.ec2_instance import ASG_TAG, INSTANCES, IncompleteInstance, InstanceSpec

MB = 1_000_000
DAY_SECONDS = 86400
STATE_POLL_SECONDS = 15
STOP_PROTECTION_LOOKUPS_IN_FLIGHT = 4
"""A few at once cut the wait about 4x. More would not help against AWS: EC2 rate-limits
each API per account and Region (for a Describe call, a burst of about 100 requests, then
about 20 a second), and adaptive retries slow down when it throttles."""


# ec2-idle stops (and so starts again) only EBS-backed instances outside any Auto Scaling
# group; its pre-checks refuse the others, and IAM refuses them too.
_EBS_BACKED = Condition("StringEquals", "ec2:RootDeviceType", ("ebs",))
_OUTSIDE_ASG = Condition("Null", "aws:ResourceTag/aws:autoscaling:groupName", ("true",))


class Ec2IdleSettings(RuleSettings):
    lookback_days: int = Field(default=14, ge=2, le=63, description="Days of metrics judged.")
    cpu_max_percent: float = Field(
        default=5.0, gt=0, le=100, description="Idle when every daily average CPU is below."
    )
    network_mb_per_day: float = Field(
        default=5.0, gt=0, description="Idle when every day's NetworkIn + NetworkOut is below."
    )
    min_days_with_data: int = Field(
        default=14,
        ge=1,
        description="Days with CPU and network data needed to judge; fewer is 'unknown'.",
    )
    stop_timeout_minutes: int = Field(default=15, ge=1, description="Wait for stopped/running.")


class IdleInstance(BaseModel):
    """What the finding records: the instance as it was, and the evidence of idleness."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance: InstanceSpec
    public_ip_is_elastic: bool = Field(description="Per DescribeAddresses at scan time.")
    cpu_max_daily_average_percent: float
    network_max_daily_bytes: float
    days_with_data: int
    lookback_days: int
    skip_tag: str
    stop_timeout_minutes: int

    @property
    def ephemeral_public_ip(self) -> str | None:
        """A public IPv4 that is not an Elastic IP: released on stop, replaced on start."""
        return None if self.public_ip_is_elastic else self.instance.public_ip


def _cpu_query(instance_id: str) -> MetricQuery:
    dimensions = (("InstanceId", instance_id),)
    return MetricQuery(f"{instance_id}/cpu", "AWS/EC2", "CPUUtilization", dimensions, "Average")


def _network_queries(instance_id: str) -> list[MetricQuery]:
    dimensions = (("InstanceId", instance_id),)
    return [
        MetricQuery(f"{instance_id}/in", "AWS/EC2", "NetworkIn", dimensions, "Sum"),
        MetricQuery(f"{instance_id}/out", "AWS/EC2", "NetworkOut", dimensions, "Sum"),
    ]


class Activity(BaseModel):
    """An instance's judged activity over the window; ``unknown_reason`` when not judgeable."""

    model_config = ConfigDict(frozen=True)

    cpu_max: float | None
    network_max: float | None
    days_with_data: int
    unknown_reason: str | None = None


def _no_data(metric: str, settings: Ec2IdleSettings) -> str:
    return (
        f"unknown: no CloudWatch {metric} data in {settings.lookback_days} days; "
        "no metrics is no evidence of idleness"
    )


def judge_cpu(cpu: MetricSeries, settings: Ec2IdleSettings) -> str | None:
    """Why CPU alone already leaves an instance alone (too little data, or busy), or None
    when its CPU looks idle and its network decides."""
    needed = min(settings.min_days_with_data, settings.lookback_days)
    peak = cpu.maximum()
    if peak is None:
        return _no_data("CPUUtilization", settings)
    if len(cpu.points) < needed:
        return (
            f"unknown: only {len(cpu.points)} of {settings.lookback_days} days have CPU "
            f"data (min_days_with_data={needed})"
        )
    if peak >= settings.cpu_max_percent:
        return f"not idle: CPU reached {peak:.1f}% on a day"
    return None


def judge_activity(
    cpu: MetricSeries, net_in: MetricSeries, net_out: MetricSeries, settings: Ec2IdleSettings
) -> Activity:
    network = daily_totals(net_in, net_out)
    days = min(len(cpu.points), len(network))
    needed = min(settings.min_days_with_data, settings.lookback_days)
    activity = Activity(
        cpu_max=cpu.maximum(),
        network_max=max((total for _, total in network), default=None),
        days_with_data=days,
    )
    if not cpu.has_data or not network:
        missing = "CPUUtilization" if not cpu.has_data else "NetworkIn/NetworkOut"
        return activity.model_copy(update={"unknown_reason": _no_data(missing, settings)})
    if days < needed:
        return activity.model_copy(
            update={
                "unknown_reason": f"unknown: only {days} of {settings.lookback_days} days "
                f"have CPU and network data (min_days_with_data={needed})"
            }
        )
    return activity


class Ec2Idle(Rule[Ec2IdleSettings, IdleInstance]):
    name: ClassVar[str] = "ec2-idle"
    summary: ClassVar[str] = "Running instances with almost no CPU or network for two weeks"
    resource_type: ClassVar[str] = "AWS::EC2::Instance"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "running instances whose highest daily average CPU < `cpu_max_percent` (5) and busiest "
            "day's network < `network_mb_per_day` (5 MB) over `lookback_days` (14); no or partial "
            'metrics = "unknown", never idle'
        ),
        change=(
            "StopInstances after pre-checks: EBS root, On-Demand, no Auto Scaling group, no "
            "instance store, no stop protection, no skip tag"
        ),
        undo=(
            "StartInstances, wait running (a public IP that is not an Elastic IP changes: the PR "
            "says so)"
        ),
    )
    settings_model = Ec2IdleSettings
    record_model = IdleInstance
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"BoxUsage", moved=r"EBS:VolumeUsage", resource_level=True
    )
    listings: ClassVar[tuple[Listing, ...]] = (
        INSTANCES.read_whole("the Auto Scaling and instance-type lookups ask for all at once"),
        ADDRESSES.read_whole("a public IP is an Elastic IP if it is anywhere in the listing"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("ec2", "DescribeInstances"),
                ("ec2", "DescribeInstanceTypes"),
                ("ec2", "DescribeInstanceAttribute"),
                ("ec2", "DescribeAddresses"),
                ("autoscaling", "DescribeAutoScalingInstances"),
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset(
            {
                ("ec2", "DescribeInstances"),
                ("ec2", "DescribeInstanceTypes"),
                ("ec2", "DescribeInstanceAttribute"),
                ("autoscaling", "DescribeAutoScalingInstances"),
                ("ec2", "StopInstances"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeInstances"),
                ("ec2", "DescribeAddresses"),
                ("ec2", "StartInstances"),
            }
        ),
        scopes={
            "ec2:StopInstances": ActionScope(
                grants=(
                    Grant(
                        (INSTANCE,),
                        (NOT_SKIPPED, _EBS_BACKED, _OUTSIDE_ASG),
                        "EBS-backed instances outside Auto Scaling groups, never one carrying "
                        "the skip tag",
                    ),
                ),
            ),
            "ec2:StartInstances": ActionScope(
                grants=(
                    Grant(
                        (INSTANCE,),
                        (_EBS_BACKED, _OUTSIDE_ASG),
                        "to undo a stop: only instances ec2-idle may stop (EBS-backed, outside "
                        "Auto Scaling groups)",
                    ),
                ),
            ),
            # a read IAM can narrow too
            "ec2:DescribeInstanceAttribute": only(INSTANCE, why="instances"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: Ec2IdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        running: list[InstanceSpec] = []
        for page in ctx.listing(INSTANCES):  # the listing ec2-previous-generation reads too
            for reservation in page.get("Reservations", []):
                for item in reservation.get("Instances", []):
                    try:
                        instance = InstanceSpec.from_api(item)
                    except IncompleteInstance as error:
                        yield self.skipped(
                            ctx, str(item.get("InstanceId", "unknown")), f"cannot judge: {error}"
                        )
                        continue
                    if instance.state == "running":
                        running.append(instance)
        if not running:
            return
        in_groups = self._auto_scaling_members(ctx)
        storage = self._instance_store_types(ec2, {i.instance_type for i in running})
        candidates: list[InstanceSpec] = []
        for instance in running:
            reason = self._skip_reason(ctx, instance, in_groups, storage)
            if reason:
                yield self.skipped(ctx, instance.instance_id, reason)
            else:
                candidates.append(instance)
        if not candidates:
            return
        elastic_ips = {  # the listing eip-unassociated reads too
            address["PublicIp"]
            for page in ctx.listing(ADDRESSES)
            for address in page.get("Addresses", [])
            if address.get("PublicIp")
        }
        window = MetricWindow.days_before(ctx.as_of, settings.lookback_days, DAY_SECONDS)
        cloudwatch = ctx.client("cloudwatch")
        # CPU first, for every candidate; network (two metrics) only for the CPU-idle ones,
        # which in most accounts are few: 1,000 instances cost 2 GetMetricData calls plus 1
        # per 250 CPU-idle ones (500 queries a call), 6 only when all 1,000 are CPU-idle.
        cpu = fetch_metrics(cloudwatch, window, [_cpu_query(i.instance_id) for i in candidates])
        cpu_idle: list[InstanceSpec] = []
        for instance in candidates:
            reason = judge_cpu(cpu[f"{instance.instance_id}/cpu"], settings)
            if reason:
                yield self.skipped(ctx, instance.instance_id, reason)
            else:
                cpu_idle.append(instance)
        if not cpu_idle:
            return
        network = fetch_metrics(
            cloudwatch,
            window,
            [query for instance in cpu_idle for query in _network_queries(instance.instance_id)],
        )
        idle: list[tuple[InstanceSpec, Activity]] = []
        for instance in cpu_idle:
            iid = instance.instance_id
            activity = judge_activity(
                cpu[f"{iid}/cpu"], network[f"{iid}/in"], network[f"{iid}/out"], settings
            )
            if activity.unknown_reason:
                yield self.skipped(ctx, instance.instance_id, activity.unknown_reason)
                continue
            assert activity.network_max is not None
            if activity.network_max >= settings.network_mb_per_day * MB:
                reason = f"not idle: network reached {activity.network_max / MB:.1f} MB on a day"
                yield self.skipped(ctx, instance.instance_id, reason)
                continue
            idle.append((instance, activity))
        # Stop protection is checked here, not only by the plan's pre-check, so that a PR
        # does not propose a stop the owner has forbidden and the apply would refuse. EC2
        # answers it one instance at a time, so it is asked for the findings propose can
        # open (ctx.confirmed: the budget, highest savings first), never for every idle instance:
        # the rest stay findings, and the apply's pre-check confirms the one it stops.
        findings = sorted(
            (
                self._finding(ctx, settings, instance, activity, elastic_ips)
                for instance, activity in idle
            ),
            key=lambda finding: (-finding.cost.monthly_usd, finding.resource_id),
        )

        def confirm(batch: list[Finding]) -> dict[str, Finding | SkippedResource]:
            protected = self._stop_protected(ec2, [f.resource_id for f in batch])
            return {
                f.resource_id: self.skipped(
                    ctx, f.resource_id, "stop protection (DisableApiStop) is on"
                )
                if f.resource_id in protected
                else f
                for f in batch
            }

        yield from ctx.confirmed(findings, confirm)

    def _auto_scaling_members(self, ctx: ScanContext) -> set[str]:
        pages = ctx.client("autoscaling").get_paginator("describe_auto_scaling_instances")
        return {
            item["InstanceId"]
            for page in pages.paginate()
            for item in page.get("AutoScalingInstances", [])
        }

    def _instance_store_types(self, ec2: Any, types: set[str]) -> set[str]:
        """Instance types that come with instance-store volumes (wiped by a stop)."""
        found: set[str] = set()
        ordered = sorted(types)
        for offset in range(0, len(ordered), 100):
            pages = ec2.get_paginator("describe_instance_types").paginate(
                InstanceTypes=ordered[offset : offset + 100]
            )
            for page in pages:
                for item in page.get("InstanceTypes", []):
                    if item.get("InstanceStorageSupported"):
                        found.add(item["InstanceType"])
        return found

    def _stop_protected(self, ec2: Any, instance_ids: list[str]) -> set[str]:
        """The instances whose stop protection (DisableApiStop) is on.

        EC2 answers this one instance at a time (DescribeInstances does not carry the
        attribute), so they are asked on a small pool sharing the client (boto3 clients are
        thread-safe; adaptive retries back off if EC2 throttles). A failed lookup fails the
        unit; the lookups still queued are cancelled."""

        def protected(instance_id: str) -> bool:
            answer = ec2.describe_instance_attribute(
                InstanceId=instance_id, Attribute="disableApiStop"
            )
            return bool((answer.get("DisableApiStop") or {}).get("Value"))

        answers = bounded_map(
            protected,
            instance_ids,
            workers=STOP_PROTECTION_LOOKUPS_IN_FLIGHT,
            name="reclaim-stop-protection",
        )
        return {iid for iid, on in zip(instance_ids, answers, strict=True) if on}

    def _skip_reason(
        self,
        ctx: ScanContext,
        instance: InstanceSpec,
        in_groups: set[str],
        instance_store_types: set[str],
    ) -> str | None:
        if instance.root_device_type != "ebs":
            return "instance-store root device: stopping is not possible"
        if instance.lifecycle:
            return f"{instance.lifecycle} instance: stopping is left to its owner"
        if instance.in_auto_scaling_group or instance.instance_id in in_groups:
            return "member of an Auto Scaling group: the group would replace a stopped instance"
        if instance.instance_type in instance_store_types:
            return f"{instance.instance_type} has instance-store volumes, whose data a stop erases"
        return ctx.exclusions.reason_to_skip(instance.instance_id, instance.tags)

    def _finding(
        self,
        ctx: ScanContext,
        settings: Ec2IdleSettings,
        instance: InstanceSpec,
        activity: Activity,
        elastic_ips: set[str],
    ) -> Finding:
        assert activity.cpu_max is not None and activity.network_max is not None
        record = IdleInstance(
            instance=instance,
            public_ip_is_elastic=instance.public_ip in elastic_ips,
            cpu_max_daily_average_percent=round(activity.cpu_max, 3),
            network_max_daily_bytes=activity.network_max,
            days_with_data=activity.days_with_data,
            lookback_days=settings.lookback_days,
            skip_tag=ctx.exclusions.skip_tag,
            stop_timeout_minutes=settings.stop_timeout_minutes,
        )
        hourly = ctx.prices.instance_hourly(instance.instance_type)
        hours = ctx.prices.ec2.hours_per_month
        if hourly is None:
            cost = ctx.prices.unknown(
                f"no bundled On-Demand price for {instance.instance_type}; savings unknown"
            )
        else:
            total = hourly * hours
            basis = f"{instance.instance_type} On-Demand ${hourly}/h x {hours} h"
            if record.ephemeral_public_ip:
                total += ctx.prices.public_ipv4_monthly()
                basis += f" + public IPv4 ${ctx.prices.vpc.public_ipv4_hourly}/h x {hours} h"
            if instance.platform_details and instance.platform_details != "Linux/UNIX":
                basis += f" (Linux rate; {instance.platform_details} licence not included)"
            basis += "; attached EBS volumes keep costing while stopped"
            cost = ctx.prices.cost(total, ctx.region, basis)
        window = f"{settings.lookback_days} days to {ctx.as_of:%Y-%m-%d}"
        evidence = [
            Evidence(label="State", value="running", source="DescribeInstances"),
            Evidence(
                label="Highest daily average CPU",
                value=f"{activity.cpu_max:.2f}% ({window})",
                source="CloudWatch CPUUtilization, daily Average (GetMetricData)",
            ),
            Evidence(
                label="Busiest day's network",
                value=f"{activity.network_max / MB:.3f} MB in + out ({window})",
                source="CloudWatch NetworkIn + NetworkOut, daily Sum (GetMetricData)",
            ),
            Evidence(
                label="Days with data",
                value=f"{activity.days_with_data} of {settings.lookback_days}",
                source="GetMetricData",
            ),
        ]
        if instance.public_ip:
            kind = "not an Elastic IP" if record.ephemeral_public_ip else "Elastic IP"
            evidence.append(
                Evidence(
                    label="Public IP",
                    value=f"{instance.public_ip} ({kind})",
                    source="DescribeInstances, DescribeAddresses",
                )
            )
        risk_reasons = ["stopped, not terminated: EBS volumes and the instance are kept"]
        if record.ephemeral_public_ip:
            risk_reasons.append(f"public IP {instance.public_ip} changes when started again")
        return self.new_finding(
            ctx,
            title=f"Stop idle {instance.label()}",
            cost=cost,
            risk="medium" if record.ephemeral_public_ip else "low",
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleInstance) -> str:
        return record.instance.instance_id

    def tags_of(self, record: IdleInstance) -> Mapping[str, str]:
        return record.instance.tags

    def plan(self, finding: Finding, record: IdleInstance) -> ManifestBody:
        instance = record.instance
        iid = instance.instance_id
        root = _ROOT
        prechecks = (
            steps.precheck(
                "precheck",
                f"Read {iid} and confirm it is still running as a {instance.instance_type}, "
                "EBS-backed, On-Demand, outside any Auto Scaling group, with the same "
                "volumes and tags and without the skip tag.",
                _describe(iid),
                Expectation(path=f"{root}.State.Name", equals="running", what="state"),
                Expectation(path=f"{root}.RootDeviceType", equals="ebs", what="root device type"),
                Expectation(
                    path=f"{root}.InstanceLifecycle", equals=None, what="On-Demand (not spot)"
                ),
                steps.skip_tag_absent(record.skip_tag, tags_at=f"{root}.Tags"),
                Expectation(
                    path=f"length({root}.Tags[?Key == {json_literal(ASG_TAG)}] || `[]`)",
                    equals=0,
                    what="no Auto Scaling group tag",
                ),
                *_identity_expectations(instance, root),
            ),
            steps.precheck(
                "precheck-auto-scaling",
                f"Confirm no Auto Scaling group manages {iid}.",
                AwsCall(
                    service="autoscaling",
                    operation="DescribeAutoScalingInstances",
                    params={"InstanceIds": [iid]},
                ),
                Expectation(
                    path="length(AutoScalingInstances)", equals=0, what="Auto Scaling membership"
                ),
            ),
            steps.precheck(
                "precheck-instance-store",
                f"Confirm {instance.instance_type} has no instance-store volumes, whose "
                "data a stop would erase.",
                AwsCall(
                    service="ec2",
                    operation="DescribeInstanceTypes",
                    params={"InstanceTypes": [instance.instance_type]},
                ),
                Expectation(
                    path="InstanceTypes[0].InstanceStorageSupported || `false`",
                    equals=False,
                    what="instance storage",
                ),
            ),
            steps.precheck(
                "precheck-stop-protection",
                f"Confirm stop protection is off for {iid}.",
                AwsCall(
                    service="ec2",
                    operation="DescribeInstanceAttribute",
                    params={"InstanceId": iid, "Attribute": "disableApiStop"},
                ),
                Expectation(
                    path="DisableApiStop.Value || `false`", equals=False, what="stop protection"
                ),
            ),
        )
        notes = [
            "Stopping keeps the instance, its EBS volumes (still billed) and its private IP.",
            f"Idle evidence: highest daily average CPU {record.cpu_max_daily_average_percent}% "
            f"and busiest day {record.network_max_daily_bytes / MB:.3f} MB of network over "
            f"{record.lookback_days} days.",
        ]
        if record.ephemeral_public_ip:
            notes.append(
                f"Public IP {instance.public_ip} is not an Elastic IP: AWS releases it on stop "
                "and assigns a different one on start. Anything pointing at this address "
                "(DNS records, allow-lists) will need the new one after a rollback."
            )
        elif instance.public_ip:
            notes.append(f"Public IP {instance.public_ip} is an Elastic IP and stays with it.")
        return ManifestBody(
            steps=_stop_and_start(record).apply_steps(prechecks),
            notes=tuple(notes),
        )

    def rollback(self, finding: Finding, record: IdleInstance) -> ManifestBody:
        instance = record.instance
        iid = instance.instance_id
        prechecks = (
            steps.precheck(
                "precheck",
                f"Confirm {iid} is stopped and unchanged (type, volumes, tags).",
                _describe(iid),
                Expectation(path=f"{_ROOT}.State.Name", equals="stopped", what="state"),
                *_identity_expectations(instance, _ROOT),
            ),
        )
        notes = ["The instance keeps its ID, volumes and private IP."]
        if record.ephemeral_public_ip:
            notes.append(
                f"It gets a new public IP (it had {instance.public_ip}); the journal records "
                "the new one."
            )
        return ManifestBody(
            steps=_stop_and_start(record).rollback_steps(prechecks),
            notes=tuple(notes),
        )


_ROOT = "Reservations[0].Instances[0]"


def _describe(instance_id: str) -> AwsCall:
    return AwsCall(
        service="ec2", operation="DescribeInstances", params={"InstanceIds": [instance_id]}
    )


def _stop_and_start(record: IdleInstance) -> steps.SetAndSetBack:
    """running → stopped, and started again; the record is the state, type and addresses."""
    instance = record.instance
    iid = instance.instance_id
    root = _ROOT
    describe = _describe(iid)
    attempts = record.stop_timeout_minutes * 60 // STATE_POLL_SECONDS
    stop = AwsCall(service="ec2", operation="StopInstances", params={"InstanceIds": [iid]})
    verify_started = [
        steps.verify(
            "verify",
            f"Confirm {iid} is running with its type, volumes and tags.",
            describe,
            Expectation(path=f"{root}.State.Name", equals="running", what="state"),
            *_identity_expectations(instance, root),
            outputs={"PublicIpAddress": f"{root}.PublicIpAddress"},
        )
    ]
    if instance.public_ip and record.public_ip_is_elastic:
        verify_started.append(
            steps.verify(
                "verify-elastic-ip",
                f"Confirm Elastic IP {instance.public_ip} is still on {iid}.",
                AwsCall(
                    service="ec2",
                    operation="DescribeAddresses",
                    params={"PublicIps": [instance.public_ip]},
                ),
                Expectation(path="Addresses[0].InstanceId", equals=iid, what="Elastic IP holder"),
            )
        )
    return steps.SetAndSetBack(
        record=steps.record(
            "record-state",
            f"Record {iid}'s state, type and IP addresses in the journal (nothing is "
            "deleted: a stopped instance keeps its EBS volumes).",
            describe,
            outputs={
                "State": f"{root}.State.Name",
                "InstanceType": f"{root}.InstanceType",
                "PublicIpAddress": f"{root}.PublicIpAddress",
                "PrivateIpAddress": f"{root}.PrivateIpAddress",
            },
        ),
        dry_run=f"Ask EC2 whether StopInstances {iid} would be permitted (DryRun).",
        set=steps.change(
            "stop",
            f"Stop {iid} and wait until it is stopped.",
            stop,
            already_done=Lookup(
                call=describe,
                found_when=f'contains(`["stopping", "stopped"]`, {root}.State.Name)',
            ),
            wait=WaitFor(
                waiter="instance_stopped",
                params={"InstanceIds": [iid]},
                delay_seconds=STATE_POLL_SECONDS,
                max_attempts=attempts,
            ),
        ),
        verify_set=steps.verify(
            "verify",
            f"Confirm {iid} is stopped with its volumes still attached.",
            describe,
            Expectation(path=f"{root}.State.Name", equals="stopped", what="state"),
            *_identity_expectations(instance, root),
        ),
        set_back=steps.change(
            "start",
            f"Start {iid} and wait until it is running.",
            AwsCall(service="ec2", operation="StartInstances", params={"InstanceIds": [iid]}),
            already_done=Lookup(
                call=describe,
                found_when=f'contains(`["pending", "running"]`, {root}.State.Name)',
            ),
            wait=WaitFor(
                waiter="instance_running",
                params={"InstanceIds": [iid]},
                delay_seconds=STATE_POLL_SECONDS,
                max_attempts=attempts,
            ),
        ),
        verify_set_back=tuple(verify_started),
    )


def _identity_expectations(instance: InstanceSpec, root: str) -> list[Expectation]:
    return [
        Expectation(
            path=f"{root}.InstanceType", equals=instance.instance_type, what="instance type"
        ),
        Expectation(
            path=f"sort({root}.BlockDeviceMappings[].Ebs.VolumeId || `[]`)",
            equals=list(instance.ebs_volume_ids),
            what="attached EBS volumes",
        ),
        steps.tags_unchanged(f"{root}.Tags", instance.tags),
    ]
