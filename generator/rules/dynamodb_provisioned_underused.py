"""dynamodb-provisioned-underused: provisioned tables that use a fraction of what they pay for.

Underused means, over ``lookback_days`` of CloudWatch data in hourly buckets: on the table
and on every global secondary index, the busiest hour's average consumed read and write
capacity (ConsumedReadCapacityUnits / ConsumedWriteCapacityUnits, hourly Sum / 3600) stays
under ``max_utilization_percent`` of the provisioned capacity, and on-demand would have cost
less for the traffic observed. The saving is honest arithmetic: provisioned capacity x the
hourly rates x 730 h, minus every consumed unit of the window (table and indexes) priced
per on-demand request unit and scaled to a 730-hour month (a consumed capacity unit is one
request unit: eventually consistent reads count half in both modes).

The change is UpdateTable to PAY_PER_REQUEST; the table's scalable targets and target-
tracking policies (table and indexes) are recorded and then removed (a scaling policy cannot
act on an on-demand table). The undo is UpdateTable back to PROVISIONED with the recorded
capacities of the table and every index, then the scalable targets registered again and the
policies put again as recorded.

AWS's limits on switching: a table can be switched from provisioned to on-demand up to four
times in a rolling 24 hours, and from on-demand back to provisioned at any time (DynamoDB
Developer Guide, "Considerations when switching capacity modes"). So the undo can run as soon
as the apply finished (and the table is ACTIVE again: UpdateTable is refused while it is
UPDATING, which is what the steps wait out). The apply's switch is never one of four: a table
that was on-demand at any time in the lookback window is not judged (DescribeTable's
LastUpdateToPayPerRequestDateTime), and apply re-observes the table through this rule first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.metrics import MetricQuery, MetricSeries, MetricWindow, fetch_metrics
from generator.aws.tags import tags_from_api
from generator.findings import Cost, Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step, WaitFor
from generator.manifest.paths import json_literal
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.dynamodb_table import (
    NAMESPACE,
    ON_DEMAND,
    PROVISIONED,
    AutoScaling,
    NotJudged,
    ScalableTarget,
    ScalingPolicy,
    TableCapacity,
)

HOUR_SECONDS = 3600
UPDATE_POLL_SECONDS = 20
TABLE = "arn:{partition}:dynamodb:{region}:{account}:table/*"
SCALABLE_TARGET = "arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/*"


class DynamoDbUnderusedSettings(RuleSettings):
    lookback_days: int = Field(
        default=14, ge=1, le=63, description="Days of consumed-capacity metrics judged."
    )
    max_utilization_percent: float = Field(
        default=20.0,
        gt=0,
        le=100,
        description="Underused when the busiest hour's consumed read and write capacity of "
        "the table and of every index stays below this share of the provisioned capacity.",
    )
    min_monthly_savings_usd: float = Field(
        default=1.0,
        ge=0,
        description="Propose only when on-demand saves more than this per month for the "
        "traffic observed.",
    )
    update_timeout_minutes: int = Field(
        default=30, ge=1, description="How long apply and rollback wait for the table to be ACTIVE."
    )


class UnderusedTable(BaseModel):
    """What the finding records: the capacities and auto scaling the undo restores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: TableCapacity
    auto_scaling: AutoScaling
    tags: dict[str, str]
    lookback_days: int
    skip_tag: str
    update_timeout_minutes: int


class Usage(BaseModel):
    """The window's consumption: busiest-hour utilization and total units, table + indexes."""

    model_config = ConfigDict(frozen=True)

    peak_read_percent: float
    peak_write_percent: float
    read_units: float
    write_units: float
    hours_with_data: int


def _queries(table: TableCapacity) -> list[MetricQuery]:
    parts: list[tuple[str, tuple[tuple[str, str], ...]]] = [
        (table.table_name, (("TableName", table.table_name),))
    ]
    parts += [
        (
            f"{table.table_name}/{index.index_name}",
            (("TableName", table.table_name), ("GlobalSecondaryIndexName", index.index_name)),
        )
        for index in table.indexes
    ]
    return [
        MetricQuery(f"{key}/{kind}", "AWS/DynamoDB", f"Consumed{kind}CapacityUnits", dims, "Sum")
        for key, dims in parts
        for kind in ("Read", "Write")
    ]


def usage_of(table: TableCapacity, series: Mapping[str, MetricSeries]) -> Usage:
    """Busiest hour against provisioned capacity, for the table and each index; no
    datapoints in an hour means nothing was consumed (DynamoDB reports consumption only)."""
    parts = [(table.table_name, table.read_capacity_units, table.write_capacity_units)] + [
        (f"{table.table_name}/{i.index_name}", i.read_capacity_units, i.write_capacity_units)
        for i in table.indexes
    ]
    peaks = {"Read": 0.0, "Write": 0.0}
    totals = {"Read": 0.0, "Write": 0.0}
    hours: set[datetime] = set()
    for key, read, write in parts:
        for kind, provisioned in (("Read", read), ("Write", write)):
            one = series[f"{key}/{kind}"]
            hours.update(when for when, _ in one.points)
            totals[kind] += sum(one.values)
            peak = (one.maximum() or 0.0) / HOUR_SECONDS / provisioned * 100
            peaks[kind] = max(peaks[kind], peak)
    return Usage(
        peak_read_percent=peaks["Read"],
        peak_write_percent=peaks["Write"],
        read_units=totals["Read"],
        write_units=totals["Write"],
        hours_with_data=len(hours),
    )


def costs(ctx: ScanContext, table: TableCapacity, usage: Usage, days: int) -> tuple[float, float]:
    """Provisioned $/month of the table's capacity, and on-demand $/month of its traffic."""
    prices, hours = ctx.prices.dynamodb, ctx.prices.ec2.hours_per_month
    provisioned = (
        table.total_read * prices.provisioned_rcu_hourly
        + table.total_write * prices.provisioned_wcu_hourly
    ) * hours
    per_month = hours / (days * 24)
    on_demand = (
        usage.read_units * prices.on_demand_read_per_million
        + usage.write_units * prices.on_demand_write_per_million
    ) / 1e6
    return provisioned, on_demand * per_month


class DynamoDbProvisionedUnderused(Rule[DynamoDbUnderusedSettings, UnderusedTable]):
    name: ClassVar[str] = "dynamodb-provisioned-underused"
    summary: ClassVar[str] = "Provisioned DynamoDB tables that on-demand would serve for less"
    resource_type: ClassVar[str] = "AWS::DynamoDB::Table"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "provisioned tables whose busiest hour consumed < `max_utilization_percent` (20 %) of "
            "the read and write capacity of the table and every index over `lookback_days` (14), "
            "and whose observed traffic costs less on-demand; a table on-demand in that window is "
            "not judged"
        ),
        change=(
            "record capacities and Application Auto Scaling targets and target-tracking policies; "
            "UpdateTable to PAY_PER_REQUEST, then remove the policies and targets"
        ),
        undo=(
            "UpdateTable back to PROVISIONED with the recorded capacities (table and indexes), "
            "register the targets and put the policies again; AWS allows it at any time"
        ),
    )
    settings_model = DynamoDbUnderusedSettings
    record_model = UnderusedTable
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("dynamodb", "ListTables"),
                ("dynamodb", "DescribeTable"),
                ("dynamodb", "ListTagsOfResource"),
                ("application-autoscaling", "DescribeScalableTargets"),
                ("application-autoscaling", "DescribeScalingPolicies"),
                ("application-autoscaling", "DescribeScheduledActions"),
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset(
            {
                ("dynamodb", "ListTagsOfResource"),
                ("dynamodb", "DescribeTable"),
                ("application-autoscaling", "DescribeScalableTargets"),
                ("application-autoscaling", "DescribeScalingPolicies"),
                ("application-autoscaling", "DescribeScheduledActions"),
                ("dynamodb", "UpdateTable"),
                ("application-autoscaling", "DeleteScalingPolicy"),
                ("application-autoscaling", "DeregisterScalableTarget"),
            }
        ),
        rollback=frozenset(
            {
                ("dynamodb", "DescribeTable"),
                ("dynamodb", "UpdateTable"),
                ("application-autoscaling", "DescribeScalableTargets"),
                ("application-autoscaling", "DescribeScalingPolicies"),
                ("application-autoscaling", "RegisterScalableTarget"),
                ("application-autoscaling", "PutScalingPolicy"),
            }
        ),
        scopes={
            "dynamodb:UpdateTable": ActionScope(
                grants=(Grant((TABLE,), (NOT_SKIPPED,), "never a table carrying the skip tag"),)
            ),
            "application-autoscaling:DeleteScalingPolicy": only(
                SCALABLE_TARGET, why="policies of the switched table's scalable targets"
            ),
            "application-autoscaling:DeregisterScalableTarget": only(
                SCALABLE_TARGET, why="the switched table's scalable targets"
            ),
            "application-autoscaling:RegisterScalableTarget": only(
                SCALABLE_TARGET, why="to undo: the recorded scalable targets"
            ),
            "application-autoscaling:PutScalingPolicy": only(
                SCALABLE_TARGET, why="to undo: the recorded target-tracking policies"
            ),
            # reads IAM can narrow too
            "dynamodb:DescribeTable": only(TABLE, why="tables"),
            "dynamodb:ListTagsOfResource": only(TABLE, why="tables"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: DynamoDbUnderusedSettings
    ) -> Iterator[Finding | SkippedResource]:
        dynamodb = ctx.client("dynamodb")
        window = MetricWindow.days_before(ctx.as_of, settings.lookback_days, HOUR_SECONDS)
        tables: list[TableCapacity] = []
        for page in dynamodb.get_paginator("list_tables").paginate():
            for name in page.get("TableNames", []):
                described = dynamodb.describe_table(TableName=name)["Table"]
                try:
                    table = TableCapacity.from_api(described)
                except NotJudged as error:
                    if not str(error).startswith("billing mode"):  # on-demand already: no news
                        yield self.skipped(ctx, name, str(error))
                    continue
                reason = _too_recent(table, window.start, settings.lookback_days)
                if reason:
                    yield self.skipped(ctx, name, reason)
                else:
                    tables.append(table)
        if not tables:
            return
        scaling = _namespace(ctx)
        candidates: list[tuple[TableCapacity, AutoScaling]] = []
        for table in tables:
            try:
                candidates.append((table, AutoScaling.of(table, *scaling)))
            except NotJudged as error:
                yield self.skipped(ctx, table.table_name, str(error))
        if not candidates:
            return
        series = fetch_metrics(
            ctx.client("cloudwatch"),
            window,
            [query for table, _ in candidates for query in _queries(table)],
        )
        for table, auto_scaling in candidates:
            usage = usage_of(table, series)
            limit = settings.max_utilization_percent
            if max(usage.peak_read_percent, usage.peak_write_percent) >= limit:
                yield self.skipped(
                    ctx,
                    table.table_name,
                    f"not underused: the busiest hour used {usage.peak_read_percent:.1f}% of "
                    f"read and {usage.peak_write_percent:.1f}% of write capacity "
                    f"(max_utilization_percent={limit:g})",
                )
                continue
            provisioned, on_demand = costs(ctx, table, usage, settings.lookback_days)
            savings = provisioned - on_demand
            if savings <= settings.min_monthly_savings_usd:
                yield self.skipped(
                    ctx,
                    table.table_name,
                    f"on-demand would cost ${on_demand:,.2f}/month for the traffic observed "
                    f"against ${provisioned:,.2f} provisioned: saves ${savings:,.2f}, not over "
                    f"min_monthly_savings_usd={settings.min_monthly_savings_usd:g}",
                )
                continue
            # DynamoDB answers tags one table at a time: asked only for the would-be
            # findings (the record keeps them, and the plan checks them unchanged).
            tags = tags_from_api(
                item
                for page in dynamodb.get_paginator("list_tags_of_resource").paginate(
                    ResourceArn=table.table_arn
                )
                for item in page.get("Tags", [])
            )
            reason = ctx.exclusions.reason_to_skip(table.table_name, tags)
            if reason:
                yield self.skipped(ctx, table.table_name, reason)
                continue
            record = UnderusedTable(
                table=table,
                auto_scaling=auto_scaling,
                tags=tags,
                lookback_days=settings.lookback_days,
                skip_tag=ctx.exclusions.skip_tag,
                update_timeout_minutes=settings.update_timeout_minutes,
            )
            yield self._finding(ctx, settings, record, usage, provisioned, on_demand)

    def _finding(
        self,
        ctx: ScanContext,
        settings: DynamoDbUnderusedSettings,
        record: UnderusedTable,
        usage: Usage,
        provisioned: float,
        on_demand: float,
    ) -> Finding:
        table, prices = record.table, ctx.prices.dynamodb
        hours = ctx.prices.ec2.hours_per_month
        basis = (
            f"provisioned {table.total_read} RCU x ${prices.provisioned_rcu_hourly}/h + "
            f"{table.total_write} WCU x ${prices.provisioned_wcu_hourly}/h x {hours} h "
            f"(${provisioned:,.2f}), minus on-demand for the traffic of the last "
            f"{settings.lookback_days} days scaled to {hours} h: {usage.read_units:,.0f} read "
            f"units x ${prices.on_demand_read_per_million}/M + {usage.write_units:,.0f} write "
            f"units x ${prices.on_demand_write_per_million}/M (${on_demand:,.2f}); table and "
            "indexes; free tier and reserved capacity not counted"
        )
        cost: Cost = ctx.prices.cost(provisioned - on_demand, ctx.region, basis)
        window = f"{settings.lookback_days} days to {ctx.as_of:%Y-%m-%d}"
        capacity = f"{table.read_capacity_units} RCU / {table.write_capacity_units} WCU" + "".join(
            f"; index {i.index_name}: {i.read_capacity_units} RCU / {i.write_capacity_units} WCU"
            for i in table.indexes
        )
        evidence = (
            Evidence(label="Provisioned capacity", value=capacity, source="DescribeTable"),
            Evidence(
                label="Busiest hour",
                value=f"{usage.peak_read_percent:.2f}% of read, {usage.peak_write_percent:.2f}% "
                f"of write capacity, table and indexes ({window})",
                source="CloudWatch ConsumedRead/WriteCapacityUnits, hourly Sum (GetMetricData)",
            ),
            Evidence(
                label="Consumed",
                value=f"{usage.read_units:,.0f} read and {usage.write_units:,.0f} write units "
                f"in {usage.hours_with_data} hour(s) with traffic ({window})",
                source="GetMetricData",
            ),
            Evidence(
                label="Auto scaling",
                value=f"{len(record.auto_scaling.targets)} scalable target(s), "
                f"{len(record.auto_scaling.policies)} target-tracking policy(ies)",
                source="DescribeScalableTargets, DescribeScalingPolicies",
            ),
        )
        return self.new_finding(
            ctx,
            title=f"Switch underused DynamoDB table {table.table_name} to on-demand",
            cost=cost,
            risk="low",
            risk_reasons=(
                "online change: the table serves reads and writes throughout the switch",
                "on-demand bills per request: a traffic surge costs more than it did provisioned",
            ),
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: UnderusedTable) -> str:
        return record.table.table_name

    def tags_of(self, record: UnderusedTable) -> Mapping[str, str]:
        return record.tags

    def plan(self, finding: Finding, record: UnderusedTable) -> ManifestBody:
        table, scaling = record.table, record.auto_scaling
        name = table.table_name
        prechecks: list[Step] = [
            steps.precheck(
                "precheck-tags",
                f"Confirm {name} does not carry the skip tag {record.skip_tag!r} and its tags "
                "are the recorded ones.",
                AwsCall(
                    service="dynamodb",
                    operation="ListTagsOfResource",
                    params={"ResourceArn": table.table_arn},
                ),
                steps.skip_tag_absent(record.skip_tag, tags_at="Tags"),
                steps.tags_unchanged("Tags", record.tags),
            ),
            steps.precheck(
                "precheck",
                f"Read {name} and confirm it is ACTIVE, provisioned, Standard class, not a "
                "global table, with the recorded capacities of the table and every index.",
                _describe(name),
                Expectation(path="Table.TableStatus", equals="ACTIVE", what="status"),
                Expectation(path=_MODE, equals=PROVISIONED, what="billing mode"),
                Expectation(
                    path="Table.TableClassSummary.TableClass || 'STANDARD'",
                    equals="STANDARD",
                    what="table class",
                ),
                Expectation(path="length(Table.Replicas || `[]`)", equals=0, what="no replicas"),
                *_capacity_expectations(table),
            ),
            _targets_check(
                "precheck-scaling-targets", record, scaling.targets, "are the recorded ones"
            ),
            *_policies_checks("precheck-scaling-policies", record, phase="precheck"),
            *(
                steps.precheck(
                    f"precheck-scheduled-actions-{index}",
                    f"Confirm {resource} has no scheduled scaling actions (deregistering "
                    "its scalable target would delete them).",
                    AwsCall(
                        service="application-autoscaling",
                        operation="DescribeScheduledActions",
                        params={"ServiceNamespace": NAMESPACE, "ResourceId": resource},
                    ),
                    Expectation(
                        path="length(ScheduledActions)", equals=0, what="scheduled actions"
                    ),
                )
                for index, resource in enumerate(scaling.scaled_resource_ids, start=1)
            ),
        ]
        changes: list[Step] = [
            steps.record(
                "record-capacity",
                f"Record {name}'s billing mode and capacities (table and indexes) in the "
                "journal: nothing is deleted, and the rollback provisions these again.",
                _describe(name),
                outputs={
                    "BillingMode": _MODE,
                    "ReadCapacityUnits": "Table.ProvisionedThroughput.ReadCapacityUnits",
                    "WriteCapacityUnits": "Table.ProvisionedThroughput.WriteCapacityUnits",
                    "Indexes": _INDEXES,
                },
            ),
        ]
        if scaling.targets:
            changes.append(
                steps.record(
                    "record-scaling",
                    f"Record {name}'s scalable targets in the journal.",
                    _describe_targets(table),
                    outputs={"ScalableTargets": _TARGETS},
                )
            )
        changes.append(
            steps.change(
                "switch",
                f"Switch {name} to on-demand (PAY_PER_REQUEST) and wait until it is ACTIVE.",
                AwsCall(
                    service="dynamodb",
                    operation="UpdateTable",
                    params={"TableName": name, "BillingMode": ON_DEMAND},
                ),
                already_done=Lookup(
                    call=_describe(name), found_when=f"{_MODE} == {json_literal(ON_DEMAND)}"
                ),
                wait=_until_active(record),
                failure_hint="AWS allows up to four switches to on-demand per table in a "
                "rolling 24 hours; LimitExceededException means it was switched more often.",
            )
        )
        for index, policy in enumerate(scaling.policies, start=1):
            changes.append(
                steps.change(
                    f"delete-policy-{index}",
                    f"Delete scaling policy {policy.policy_name} of {policy.resource_id} "
                    f"({policy.scalable_dimension}): it cannot act on an on-demand table.",
                    AwsCall(
                        service="application-autoscaling",
                        operation="DeleteScalingPolicy",
                        params={
                            "PolicyName": policy.policy_name,
                            "ServiceNamespace": NAMESPACE,
                            "ResourceId": policy.resource_id,
                            "ScalableDimension": policy.scalable_dimension,
                        },
                    ),
                    already_done=Lookup(
                        call=_describe_policy(policy),
                        found_when=f"length({_policy_match(policy)}) == `0`",
                    ),
                )
            )
        for index, target in enumerate(scaling.targets, start=1):
            changes.append(
                steps.change(
                    f"deregister-target-{index}",
                    f"Deregister scalable target {target.resource_id} "
                    f"({target.scalable_dimension}).",
                    AwsCall(
                        service="application-autoscaling",
                        operation="DeregisterScalableTarget",
                        params=_target_key(target),
                    ),
                    already_done=Lookup(
                        call=_describe_target(target), found_when="length(ScalableTargets) == `0`"
                    ),
                )
            )
        verifies = [
            steps.verify(
                "verify",
                f"Confirm {name} is on-demand and ACTIVE.",
                _describe(name),
                Expectation(path="Table.TableStatus", equals="ACTIVE", what="status"),
                Expectation(path=_MODE, equals=ON_DEMAND, what="billing mode"),
            )
        ]
        if scaling.targets:
            verifies.append(
                _targets_check("verify-scaling-removed", record, (), "are removed", verify=True)
            )
        return ManifestBody(
            steps=(*prechecks, *changes, *verifies),
            notes=(
                "Online change: the table keeps serving reads and writes; the switch takes "
                "minutes. On-demand bills per request: a traffic surge now costs per request "
                "instead of being throttled at the provisioned capacity.",
                f"Recorded for the undo: {_capacity_words(table)}"
                + (
                    f"; {len(scaling.targets)} scalable target(s) and "
                    f"{len(scaling.policies)} target-tracking policy(ies), removed after the "
                    "switch (a policy cannot act on an on-demand table)."
                    if scaling.targets
                    else "; no auto scaling."
                ),
                "When the rollback can run: at once. AWS allows switching a table from "
                "on-demand back to provisioned at any time (and from provisioned to on-demand "
                "up to four times in a rolling 24 hours); the rollback only waits for the table "
                "to be ACTIVE, as UpdateTable is refused while it is UPDATING.",
                "A rollback re-creates the target-tracking policies as recorded: AWS gives "
                "them new ARNs and new CloudWatch alarms.",
            ),
        )

    def rollback(self, finding: Finding, record: UnderusedTable) -> ManifestBody:
        table, scaling = record.table, record.auto_scaling
        name = table.table_name
        index_updates = [
            {
                "Update": {
                    "IndexName": index.index_name,
                    "ProvisionedThroughput": {
                        "ReadCapacityUnits": index.read_capacity_units,
                        "WriteCapacityUnits": index.write_capacity_units,
                    },
                }
            }
            for index in table.indexes
        ]
        switch_back = steps.change(
            "switch-back",
            f"Switch {name} back to provisioned with {_capacity_words(table)}, and wait until "
            "it is ACTIVE. AWS allows this at any time after the switch to on-demand.",
            AwsCall(
                service="dynamodb",
                operation="UpdateTable",
                params={
                    "TableName": name,
                    "BillingMode": PROVISIONED,
                    "ProvisionedThroughput": {
                        "ReadCapacityUnits": table.read_capacity_units,
                        "WriteCapacityUnits": table.write_capacity_units,
                    },
                    **({"GlobalSecondaryIndexUpdates": index_updates} if index_updates else {}),
                },
            ),
            already_done=Lookup(
                call=_describe(name), found_when=f"{_MODE} == {json_literal(PROVISIONED)}"
            ),
            wait=_until_active(record),
        )
        registers = [
            steps.change(
                f"register-target-{index}",
                f"Register scalable target {target.resource_id} ({target.scalable_dimension}) "
                f"again, {target.min_capacity} to {target.max_capacity}.",
                AwsCall(
                    service="application-autoscaling",
                    operation="RegisterScalableTarget",
                    params={
                        **_target_key(target),
                        "MinCapacity": target.min_capacity,
                        "MaxCapacity": target.max_capacity,
                        **(
                            {"SuspendedState": dict(target.suspended_state)}
                            if target.suspended_state
                            else {}
                        ),
                    },
                ),
                already_done=Lookup(
                    call=_describe_target(target),
                    found_when=(
                        f"length(ScalableTargets[?MinCapacity == `{target.min_capacity}` "
                        f"&& MaxCapacity == `{target.max_capacity}`]) > `0`"
                    ),
                ),
            )
            for index, target in enumerate(scaling.targets, start=1)
        ]
        puts = [
            steps.change(
                f"put-policy-{index}",
                f"Put target-tracking policy {policy.policy_name} on {policy.resource_id} "
                f"({policy.scalable_dimension}) again, as recorded.",
                AwsCall(
                    service="application-autoscaling",
                    operation="PutScalingPolicy",
                    params={
                        "PolicyName": policy.policy_name,
                        "ServiceNamespace": NAMESPACE,
                        "ResourceId": policy.resource_id,
                        "ScalableDimension": policy.scalable_dimension,
                        "PolicyType": "TargetTrackingScaling",
                        "TargetTrackingScalingPolicyConfiguration": policy.target_tracking,
                    },
                ),
                already_done=Lookup(
                    call=_describe_policy(policy),
                    found_when=f"length({_policy_match(policy)}) > `0`",
                ),
            )
            for index, policy in enumerate(scaling.policies, start=1)
        ]
        verifies: list[Step] = [
            steps.verify(
                "verify",
                f"Confirm {name} is provisioned and ACTIVE with {_capacity_words(table)}.",
                _describe(name),
                Expectation(path="Table.TableStatus", equals="ACTIVE", what="status"),
                Expectation(path=_MODE, equals=PROVISIONED, what="billing mode"),
                *_capacity_expectations(table),
            )
        ]
        if scaling.targets:
            verifies.append(
                _targets_check(
                    "verify-scaling-targets", record, scaling.targets, "are back", verify=True
                )
            )
            verifies.extend(_policies_checks("verify-scaling-policies", record, phase="verify"))
        return ManifestBody(
            steps=(
                steps.precheck(
                    "precheck",
                    f"Confirm {name} is the on-demand table the apply made, ACTIVE, with the "
                    "same indexes.",
                    _describe(name),
                    Expectation(path="Table.TableStatus", equals="ACTIVE", what="status"),
                    Expectation(path=_MODE, equals=ON_DEMAND, what="billing mode"),
                    Expectation(
                        path="sort(Table.GlobalSecondaryIndexes[].IndexName || `[]`)",
                        equals=[i.index_name for i in table.indexes],
                        what="global secondary indexes",
                    ),
                ),
                switch_back,
                *registers,
                *puts,
                *verifies,
            ),
            notes=(
                "Can run at once: AWS allows switching from on-demand back to provisioned at "
                "any time; the steps wait for the table to be ACTIVE.",
                f"Provisions {_capacity_words(table)} again"
                + (
                    ", then registers the recorded scalable targets and puts the recorded "
                    "target-tracking policies again (new policy ARNs and alarms)."
                    if scaling.targets
                    else "."
                ),
            ),
        )


_MODE = "(Table.BillingModeSummary.BillingMode || 'PROVISIONED')"
"""Tables created before billing modes existed carry no BillingModeSummary: provisioned."""
_INDEXES = (
    "sort_by(Table.GlobalSecondaryIndexes || `[]`, &IndexName)[].{IndexName: IndexName, "
    "ReadCapacityUnits: ProvisionedThroughput.ReadCapacityUnits, "
    "WriteCapacityUnits: ProvisionedThroughput.WriteCapacityUnits}"
)
_TARGETS = (
    "sort_by(ScalableTargets, &join('/', [ResourceId, ScalableDimension]))[]."
    "{ResourceId: ResourceId, ScalableDimension: ScalableDimension, MinCapacity: MinCapacity, "
    "MaxCapacity: MaxCapacity}"
)
_POLICIES = (
    "sort_by(ScalingPolicies[?ResourceId == {resource}], "
    "&join('/', [ScalableDimension, PolicyName]))[]."
    "{PolicyName: PolicyName, ScalableDimension: ScalableDimension, PolicyType: PolicyType, "
    "TargetTrackingScalingPolicyConfiguration: TargetTrackingScalingPolicyConfiguration}"
)


def _describe(name: str) -> AwsCall:
    return AwsCall(service="dynamodb", operation="DescribeTable", params={"TableName": name})


def _describe_targets(table: TableCapacity) -> AwsCall:
    return AwsCall(
        service="application-autoscaling",
        operation="DescribeScalableTargets",
        params={"ServiceNamespace": NAMESPACE, "ResourceIds": table.resource_ids},
    )


def _target_key(target: ScalableTarget) -> dict[str, Any]:
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": target.resource_id,
        "ScalableDimension": target.scalable_dimension,
    }


def _describe_target(target: ScalableTarget) -> AwsCall:
    return AwsCall(
        service="application-autoscaling",
        operation="DescribeScalableTargets",
        params={
            "ServiceNamespace": NAMESPACE,
            "ResourceIds": [target.resource_id],
            "ScalableDimension": target.scalable_dimension,
        },
    )


def _describe_policy(policy: ScalingPolicy) -> AwsCall:
    return AwsCall(
        service="application-autoscaling",
        operation="DescribeScalingPolicies",
        params={
            "ServiceNamespace": NAMESPACE,
            "ResourceId": policy.resource_id,
            "PolicyNames": [policy.policy_name],
        },
    )


def _policy_match(policy: ScalingPolicy) -> str:
    # Every key is matched in the answer, not only asked for: moto ignores the filters.
    return (
        f"ScalingPolicies[?ResourceId == {json_literal(policy.resource_id)} "
        f"&& ScalableDimension == {json_literal(policy.scalable_dimension)} "
        f"&& PolicyName == {json_literal(policy.policy_name)}]"
    )


def _until_active(record: UnderusedTable) -> WaitFor:
    return WaitFor(
        waiter="table_exists",
        params={"TableName": record.table.table_name},
        delay_seconds=UPDATE_POLL_SECONDS,
        max_attempts=max(1, record.update_timeout_minutes * 60 // UPDATE_POLL_SECONDS),
    )


def _capacity_expectations(table: TableCapacity) -> tuple[Expectation, ...]:
    return (
        Expectation(
            path="Table.ProvisionedThroughput.ReadCapacityUnits",
            equals=table.read_capacity_units,
            what="read capacity units",
        ),
        Expectation(
            path="Table.ProvisionedThroughput.WriteCapacityUnits",
            equals=table.write_capacity_units,
            what="write capacity units",
        ),
        Expectation(
            path=_INDEXES,
            equals=[
                {
                    "IndexName": i.index_name,
                    "ReadCapacityUnits": i.read_capacity_units,
                    "WriteCapacityUnits": i.write_capacity_units,
                }
                for i in table.indexes
            ],
            what="indexes and their capacity units",
        ),
    )


def _capacity_words(table: TableCapacity) -> str:
    words = f"{table.read_capacity_units} RCU / {table.write_capacity_units} WCU"
    for index in table.indexes:
        words += (
            f", index {index.index_name} {index.read_capacity_units} RCU / "
            f"{index.write_capacity_units} WCU"
        )
    return words


def _targets_check(
    step_id: str,
    record: UnderusedTable,
    expected: tuple[ScalableTarget, ...],
    what: str,
    *,
    verify: bool = False,
) -> Step:
    build = steps.verify if verify else steps.precheck
    return build(
        step_id,
        f"Confirm the scalable targets of {record.table.table_name} and its indexes {what}.",
        _describe_targets(record.table),
        Expectation(path=_TARGETS, equals=[t.as_api() for t in expected], what="scalable targets"),
    )


def _policies_checks(prefix: str, record: UnderusedTable, *, phase: str) -> list[Step]:
    build = steps.verify if phase == "verify" else steps.precheck
    checks = []
    for index, resource in enumerate(record.auto_scaling.scaled_resource_ids, start=1):
        expected = record.auto_scaling.policies_of(resource)
        checks.append(
            build(
                f"{prefix}-{index}",
                f"Confirm the scaling policies of {resource} are the recorded target-tracking "
                "ones.",
                AwsCall(
                    service="application-autoscaling",
                    operation="DescribeScalingPolicies",
                    params={"ServiceNamespace": NAMESPACE, "ResourceId": resource},
                ),
                Expectation(
                    # filtered here too: moto ignores DescribeScalingPolicies' ResourceId
                    path=_POLICIES.replace("{resource}", json_literal(resource)),
                    equals=[
                        p.as_api()
                        for p in sorted(
                            expected, key=lambda p: (p.scalable_dimension, p.policy_name)
                        )
                    ],
                    what="scaling policies",
                ),
            )
        )
    return checks


def _namespace(ctx: ScanContext) -> tuple[list[Any], list[Any], list[Any]]:
    """Every DynamoDB scalable target, scaling policy and scheduled action of the region."""
    aas = ctx.client("application-autoscaling")

    def every(operation: str, key: str) -> list[Any]:
        pages = aas.get_paginator(operation).paginate(ServiceNamespace=NAMESPACE)
        return [item for page in pages for item in page.get(key, [])]

    return (
        every("describe_scalable_targets", "ScalableTargets"),
        every("describe_scaling_policies", "ScalingPolicies"),
        every("describe_scheduled_actions", "ScheduledActions"),
    )


def _too_recent(table: TableCapacity, window_start: datetime, days: int) -> str | None:
    if table.created is not None and table.created > window_start:
        return f"unknown: created within the last {days} days"
    if table.last_on_demand is not None and table.last_on_demand > window_start:
        return (
            f"was switched to on-demand at {table.last_on_demand:%Y-%m-%d %H:%M} UTC, within "
            f"the last {days} days: its consumption is not {days} days of provisioned "
            "evidence, and AWS limits switches to on-demand to four per rolling 24 hours"
        )
    return None
