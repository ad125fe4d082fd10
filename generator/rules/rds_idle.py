"""rds-idle: DB instances nobody connected to for two weeks. Stop them.

Idle means: over ``lookback_days`` of CloudWatch ``DatabaseConnections`` (daily Maximum), no
day exceeded ``max_daily_connections`` (0). Only instances AWS can stop are judged: not in a
cluster (aurora-idle judges Aurora clusters), not a read replica nor the source of one, not
SQL Server Multi-AZ, not RDS Custom. The plan's pre-checks hold AWS's limits even where moto
does not (moto stops cluster members and sources of replicas).

A stopped instance keeps its storage, endpoint, parameters and backups; the saving is the
instance-hours only: storage and backup storage stay billed. AWS starts a stopped instance
again after 7 days; while the finding holds, reclaim's scheduled run stops it again and says
so on the pull request (generator.pipeline.restarts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.aws.metrics import MetricQuery
from generator.findings import Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.rules.base import BillFootprint, ManifestBody, Rule, RuleCalls, RuleDocs
from generator.rules.context import ScanContext
from generator.rules.database_idle import (
    AUTO_START_DAYS,
    ConnectionIdleSettings,
    Connections,
    Restart,
    connection_evidence,
    connection_query,
    fetch_daily_peaks,
    judge,
)
from generator.rules.rds_instance import DB_INSTANCES, DbInstanceSpec, IncompleteDbInstance

DB_INSTANCE = "arn:{partition}:rds:{region}:{account}:db:*"
STATE_POLL_SECONDS = 30
ROOT = "DBInstances[0]"
STOPPED_OR_STOPPING = '`["stopping", "stopped"]`'
STARTED_OR_STARTING = '`["starting", "available"]`'


class RdsIdleSettings(ConnectionIdleSettings):
    start_timeout_minutes: int = Field(
        default=40, ge=5, description="How long rollback waits for the instance to be available."
    )


class IdleDbInstance(BaseModel):
    """What the finding records: the instance as it was, and the evidence of idleness."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance: DbInstanceSpec
    max_daily_connections: float
    days_with_data: int
    lookback_days: int
    storage_monthly_usd: float | None = Field(
        description="What its storage costs a month, stopped or not (bundled prices)."
    )
    skip_tag: str
    start_timeout_minutes: int


def _describe(db_instance_id: str) -> AwsCall:
    return AwsCall(
        service="rds",
        operation="DescribeDBInstances",
        params={"DBInstanceIdentifier": db_instance_id},
    )


def _in(states: str, path: str) -> str:
    return f"contains({states}, {path})"


class RdsIdle(Rule[RdsIdleSettings, IdleDbInstance]):
    name: ClassVar[str] = "rds-idle"
    summary: ClassVar[str] = "RDS DB instances nobody connected to for two weeks"
    resource_type: ClassVar[str] = "AWS::RDS::DBInstance"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "available DB instances whose daily peak `DatabaseConnections` stayed at or under "
            "`max_daily_connections` (0) for `lookback_days` (14); not in a cluster, not a read "
            'replica or a replica\'s source; partial metrics = "unknown", never idle'
        ),
        change=(
            "StopDBInstance (storage and backups stay billed; AWS starts it again after 7 days "
            "and reclaim's scheduled run stops it again on the same PR)"
        ),
        undo="StartDBInstance, wait available (same endpoint)",
    )
    settings_model = RdsIdleSettings
    record_model = IdleDbInstance
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"InstanceUsage|Multi-AZUsage", moved=r"RDS:ChargedBackupUsage"
    )
    listings: ClassVar[tuple[Listing, ...]] = (
        DB_INSTANCES.read_whole("the candidates' connections are asked in batched GetMetricData"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        # DescribeEvents: the scheduled re-stop's check that AWS itself started a stopped
        # instance again (generator.pipeline.restarts), in the read policy with the rest.
        scan=frozenset(
            {
                ("rds", "DescribeDBInstances"),
                ("rds", "DescribeEvents"),
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset({("rds", "DescribeDBInstances"), ("rds", "StopDBInstance")}),
        rollback=frozenset({("rds", "DescribeDBInstances"), ("rds", "StartDBInstance")}),
        scopes={
            "rds:StopDBInstance": ActionScope(
                grants=(
                    Grant(
                        (DB_INSTANCE,),
                        (NOT_SKIPPED,),
                        "DB instances, never one carrying the skip tag",
                    ),
                ),
            ),
            "rds:StartDBInstance": ActionScope(
                grants=(Grant((DB_INSTANCE,), (), "to undo a stop: DB instances"),),
            ),
            # a read IAM can narrow too (listing every instance is granted on db:*)
            "rds:DescribeDBInstances": only(DB_INSTANCE, why="DB instances"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: RdsIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        candidates: list[DbInstanceSpec] = []
        for page in ctx.listing(DB_INSTANCES):  # aurora-idle and extended-support read it too
            for item in page.get("DBInstances", []):
                try:
                    instance = DbInstanceSpec.from_api(item)
                except IncompleteDbInstance as error:
                    resource = str(item.get("DBInstanceIdentifier", "unknown"))
                    yield self.skipped(ctx, resource, f"cannot judge: {error}")
                    continue
                reason = self.skip_reason(ctx, instance)
                if reason is not None:
                    if reason:  # an already stopped instance is not news
                        yield self.skipped(ctx, instance.db_instance_id, reason)
                    continue
                candidates.append(instance)
        if not candidates:
            return
        series = fetch_daily_peaks(
            ctx.client("cloudwatch"),
            ctx.as_of,
            settings.lookback_days,
            [self.query(instance.db_instance_id) for instance in candidates],
        )
        for instance in candidates:
            judged = judge(series[instance.db_instance_id], settings)
            if isinstance(judged, str):
                yield self.skipped(ctx, instance.db_instance_id, judged)
            else:
                yield self._finding(ctx, settings, instance, judged)

    @staticmethod
    def query(db_instance_id: str) -> MetricQuery:
        return connection_query(db_instance_id, "AWS/RDS", "DBInstanceIdentifier", db_instance_id)

    @staticmethod
    def skip_reason(ctx: ScanContext, instance: DbInstanceSpec) -> str | None:
        """Why this instance is not judged ("" when that is not worth reporting: it is
        already stopped), or None when it is."""
        if instance.status in ("stopped", "stopping"):
            return ""
        refused = instance.why_not_stoppable()
        if refused:
            return refused
        if instance.status != "available":
            return f"status {instance.status}: judged once it is available"
        return ctx.exclusions.reason_to_skip(instance.db_instance_id, instance.tags)

    def _finding(
        self,
        ctx: ScanContext,
        settings: RdsIdleSettings,
        instance: DbInstanceSpec,
        connections: Connections,
    ) -> Finding:
        rds = ctx.prices.rds
        storage = (
            rds.storage_monthly(
                instance.storage_type,
                instance.allocated_storage_gib,
                instance.iops,
                instance.multi_az,
            )
            if instance.storage_type
            else None
        )
        record = IdleDbInstance(
            instance=instance,
            max_daily_connections=connections.peak,
            days_with_data=connections.days_with_data,
            lookback_days=settings.lookback_days,
            storage_monthly_usd=None if storage is None else round(storage, 2),
            skip_tag=ctx.exclusions.skip_tag,
            start_timeout_minutes=settings.start_timeout_minutes,
        )
        hourly = rds.hourly(instance.engine, instance.instance_class, instance.multi_az)
        hours = ctx.prices.ec2.hours_per_month
        if hourly is None:
            cost = ctx.prices.unknown(
                f"no bundled price for {instance.engine} {instance.instance_class}; savings unknown"
            )
        else:
            placement = f"Multi-AZ (x{rds.multi_az_factor:g})" if instance.multi_az else "Single-AZ"
            cost = ctx.prices.cost(
                hourly * hours,
                ctx.region,
                f"{instance.engine} {instance.instance_class} {placement} On-Demand "
                f"${hourly:g}/h x {hours} h; compute only: {still_billed(record)}",
            )
        return self.new_finding(
            ctx,
            title=f"Stop idle {instance.label()}",
            cost=cost,
            risk="low",
            risk_reasons=(
                "stopped, not deleted: storage, endpoint, parameters and backups are kept",
                f"AWS starts it again after {AUTO_START_DAYS} days; reclaim stops it again "
                "while it stays idle",
            ),
            evidence=connection_evidence(
                "DescribeDBInstances", connections, settings.lookback_days, ctx.as_of
            ),
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleDbInstance) -> str:
        return record.instance.db_instance_id

    def tags_of(self, record: IdleDbInstance) -> Mapping[str, str]:
        return record.instance.tags

    def plan(self, finding: Finding, record: IdleDbInstance) -> ManifestBody:
        instance = record.instance
        name = instance.db_instance_id
        describe = _describe(name)
        precheck = steps.precheck(
            "precheck",
            f"Read {name} and confirm it is still available as a {instance.engine} "
            f"{instance.instance_class}, in no cluster, neither a read replica nor the source "
            "of one, with the same tags and without the skip tag (AWS refuses to stop the "
            "others).",
            describe,
            Expectation(path=f"{ROOT}.DBInstanceStatus", equals="available", what="status"),
            steps.skip_tag_absent(record.skip_tag, tags_at=f"{ROOT}.TagList"),
            *stoppable_expectations(),
            *identity_expectations(instance),
        )
        record_state = steps.record(
            "record-state",
            f"Record {name}'s status, class and endpoint in the journal (nothing is deleted: "
            "a stopped instance keeps its storage and backups).",
            describe,
            outputs={
                "DBInstanceStatus": f"{ROOT}.DBInstanceStatus",
                "DBInstanceClass": f"{ROOT}.DBInstanceClass",
                "Endpoint": f"{ROOT}.Endpoint.Address",
            },
        )
        stop = steps.change(
            "stop",
            f"Stop {name} (AWS takes a few minutes to finish stopping it).",
            AwsCall(
                service="rds", operation="StopDBInstance", params={"DBInstanceIdentifier": name}
            ),
            already_done=Lookup(
                call=describe, found_when=_in(STOPPED_OR_STOPPING, f"{ROOT}.DBInstanceStatus")
            ),
        )
        verify = steps.verify(
            "verify",
            f"Confirm {name} is stopping or stopped, unchanged otherwise.",
            describe,
            Expectation(
                path=_in(STOPPED_OR_STOPPING, f"{ROOT}.DBInstanceStatus"),
                equals=True,
                what="status stopping or stopped",
            ),
            *identity_expectations(instance),
        )
        return ManifestBody(steps=(precheck, record_state, stop, verify), notes=notes(record))

    def rollback(self, finding: Finding, record: IdleDbInstance) -> ManifestBody:
        instance = record.instance
        name = instance.db_instance_id
        return Restart(
            name=name,
            kind="instance",
            describe=_describe(name),
            status=f"{ROOT}.DBInstanceStatus",
            identity=identity_expectations(instance),
            call=AwsCall(
                service="rds", operation="StartDBInstance", params={"DBInstanceIdentifier": name}
            ),
            waiter="db_instance_available",
            waiter_params={"DBInstanceIdentifier": name},
            timeout_minutes=record.start_timeout_minutes,
            endpoint=f"{ROOT}.Endpoint.Address",
            keeps="identifier, endpoint, storage and parameters",
        ).rollback(notes=("Connections succeed again once it is available (usually minutes).",))


def stoppable_expectations() -> list[Expectation]:
    """What AWS requires of an instance StopDBInstance stops, checked before asking."""
    return [
        Expectation(path=f"{ROOT}.DBClusterIdentifier", equals=None, what="in no cluster"),
        Expectation(
            path=f"{ROOT}.ReadReplicaSourceDBInstanceIdentifier || "
            f"{ROOT}.ReadReplicaSourceDBClusterIdentifier",
            equals=None,
            what="not a read replica",
        ),
        Expectation(
            path=f"length([{ROOT}.ReadReplicaDBInstanceIdentifiers || `[]`, "
            f"{ROOT}.ReadReplicaDBClusterIdentifiers || `[]`][])",
            equals=0,
            what="no read replicas",
        ),
    ]


def identity_expectations(instance: DbInstanceSpec) -> list[Expectation]:
    return [
        Expectation(path=f"{ROOT}.Engine", equals=instance.engine, what="engine"),
        Expectation(
            path=f"{ROOT}.DBInstanceClass", equals=instance.instance_class, what="instance class"
        ),
        Expectation(path=f"{ROOT}.MultiAZ", equals=instance.multi_az, what="Multi-AZ"),
        Expectation(
            path=f"{ROOT}.AllocatedStorage",
            equals=instance.allocated_storage_gib,
            what="allocated storage (GiB)",
        ),
        steps.tags_unchanged(f"{ROOT}.TagList", instance.tags),
    ]


def still_billed(record: IdleDbInstance) -> str:
    instance = record.instance
    storage = (
        f"{instance.allocated_storage_gib} GiB {instance.storage_type} storage "
        f"(${record.storage_monthly_usd:.2f}/month)"
        if record.storage_monthly_usd is not None
        else f"{instance.allocated_storage_gib} GiB of storage (price unknown)"
    )
    return f"{storage} and backup storage stay billed while stopped"


def notes(record: IdleDbInstance) -> tuple[str, ...]:
    instance = record.instance
    return (
        f"The saving is compute only: {still_billed(record)} (automated backups within the "
        f"{instance.backup_retention_days}-day retention and any manual snapshots).",
        f"AWS starts a stopped DB instance automatically after {AUTO_START_DAYS} days. While "
        "this finding still holds (no connections since, skip tag absent), reclaim's "
        "scheduled run stops it again and comments here; add the skip tag to keep it "
        "running, or comment /rollback.",
        "Anything connecting to it fails while it is stopped; the endpoint stays the same.",
        f"Idle evidence: at most {record.max_daily_connections:g} connections on any day, "
        f"{record.days_with_data} of {record.lookback_days} days with data.",
    )
