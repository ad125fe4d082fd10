"""aurora-idle: Aurora clusters no member of which saw a connection for two weeks. Stop them.

Idle means: over ``lookback_days`` of CloudWatch ``DatabaseConnections`` (daily Maximum, one
query per member instance, all in the batched GetMetricData helper), no member's day exceeded
``max_daily_connections`` (0). A member without enough data makes the cluster "unknown".

Only clusters AWS can stop are judged: Aurora (provisioned or Serverless v2 members, engine
mode ``provisioned``), available, with at least one member, not in a global database, not a
cross-Region replica nor the source of one. StopDBCluster stops every member; the cluster
keeps its storage, endpoints and parameters, and its storage and backups stay billed. AWS
starts a stopped cluster again after 7 days; while the finding holds, reclaim's scheduled run
stops it again on the same pull request (generator.pipeline.restarts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.listings import Listing
from generator.aws.tags import tags_from_api
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.rules.base import BillFootprint, ManifestBody, Rule, RuleCalls, RuleDocs
from generator.rules.context import ScanContext
from generator.rules.database_idle import (
    AUTO_START_DAYS,
    CONNECTIONS,
    ConnectionIdleSettings,
    Connections,
    Restart,
    connection_query,
    fetch_daily_peaks,
    judge_all,
)
from generator.rules.rds_instance import DB_INSTANCES

DB_CLUSTER = "arn:{partition}:rds:{region}:{account}:cluster:*"
DB_INSTANCE = "arn:{partition}:rds:{region}:{account}:db:*"
STATE_POLL_SECONDS = 30
ROOT = "DBClusters[0]"
MEMBERS = f"sort({ROOT}.DBClusterMembers[].DBInstanceIdentifier || `[]`)"


class AuroraIdleSettings(ConnectionIdleSettings):
    start_timeout_minutes: int = Field(
        default=40, ge=5, description="How long rollback waits for the cluster to be available."
    )


class AuroraMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_instance_id: str
    instance_class: str
    writer: bool


class AuroraClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: str
    engine: str
    engine_version: str | None = None
    engine_mode: str = "provisioned"
    status: str
    members: tuple[AuroraMember, ...] = ()
    global_cluster: str | None = None
    replication_source: str | None = None
    read_replicas: tuple[str, ...] = ()
    endpoint: str | None = None
    reader_endpoint: str | None = None
    backup_retention_days: int = 0
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any], classes: Mapping[str, str]) -> AuroraClusterSpec:
        """``classes``: member instance ID → instance class (from DescribeDBInstances)."""
        missing = [k for k in ("DBClusterIdentifier", "Engine", "Status") if not item.get(k)]
        if missing:
            raise ValueError(
                f"{item.get('DBClusterIdentifier', 'a cluster')}: DescribeDBClusters gave no "
                + ", ".join(missing)
            )
        members = tuple(
            sorted(
                (
                    AuroraMember(
                        db_instance_id=m["DBInstanceIdentifier"],
                        instance_class=classes.get(m["DBInstanceIdentifier"], "unknown"),
                        writer=bool(m.get("IsClusterWriter")),
                    )
                    for m in item.get("DBClusterMembers") or []
                    if m.get("DBInstanceIdentifier")
                ),
                key=lambda m: m.db_instance_id,
            )
        )
        return cls(
            cluster_id=item["DBClusterIdentifier"],
            engine=item["Engine"],
            engine_version=item.get("EngineVersion"),
            engine_mode=item.get("EngineMode") or "provisioned",
            status=item["Status"],
            members=members,
            global_cluster=item.get("GlobalClusterIdentifier"),
            replication_source=item.get("ReplicationSourceIdentifier"),
            read_replicas=tuple(sorted(item.get("ReadReplicaIdentifiers") or [])),
            endpoint=item.get("Endpoint"),
            reader_endpoint=item.get("ReaderEndpoint"),
            backup_retention_days=int(item.get("BackupRetentionPeriod") or 0),
            tags=tags_from_api(item.get("TagList")),
        )

    @property
    def member_ids(self) -> list[str]:
        return [m.db_instance_id for m in self.members]

    def why_not_stoppable(self) -> str | None:
        if not self.engine.startswith("aurora"):
            return f"engine {self.engine}: not an Aurora cluster (StopDBCluster is Aurora's)"
        if self.engine_mode != "provisioned":
            return f"engine mode {self.engine_mode}: AWS cannot stop it"
        if self.global_cluster:
            return f"member of global database {self.global_cluster}: AWS cannot stop it"
        if self.replication_source:
            return f"replica of {self.replication_source}: AWS cannot stop a cross-Region replica"
        if self.read_replicas:
            return "source of cross-Region replicas: AWS cannot stop it"
        if not self.members:
            return "no DB instances: nothing to stop"
        return None

    def label(self) -> str:
        return f"{self.engine} cluster {self.cluster_id} ({len(self.members)} instance(s))"


class IdleAuroraCluster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: AuroraClusterSpec
    max_daily_connections: float
    days_with_data: int
    lookback_days: int
    skip_tag: str
    start_timeout_minutes: int


def _describe(cluster_id: str) -> AwsCall:
    return AwsCall(
        service="rds", operation="DescribeDBClusters", params={"DBClusterIdentifier": cluster_id}
    )


class AuroraIdle(Rule[AuroraIdleSettings, IdleAuroraCluster]):
    name: ClassVar[str] = "aurora-idle"
    summary: ClassVar[str] = "Aurora clusters no member of which saw a connection for two weeks"
    resource_type: ClassVar[str] = "AWS::RDS::DBCluster"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "available Aurora clusters where every member's daily peak `DatabaseConnections` "
            "stayed at or under `max_daily_connections` (0) for `lookback_days` (14); not in a "
            'global database, not a cross-Region replica; partial metrics = "unknown"'
        ),
        change=(
            "StopDBCluster (storage and backups stay billed; AWS starts it again after 7 days "
            "and reclaim's scheduled run stops it again on the same PR)"
        ),
        undo="StartDBCluster, wait available (same endpoints)",
    )
    settings_model = AuroraIdleSettings
    record_model = IdleAuroraCluster
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"InstanceUsage", moved=r"Aurora:StorageUsage|RDS:ChargedBackupUsage"
    )
    listings: ClassVar[tuple[Listing, ...]] = (
        DB_INSTANCES.read_whole("a cluster's members are looked up by name in the listing"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("rds", "DescribeDBClusters"),
                ("rds", "DescribeDBInstances"),
                ("rds", "DescribeEvents"),  # the scheduled re-stop's check (restarts)
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset({("rds", "DescribeDBClusters"), ("rds", "StopDBCluster")}),
        rollback=frozenset({("rds", "DescribeDBClusters"), ("rds", "StartDBCluster")}),
        scopes={
            "rds:StopDBCluster": ActionScope(
                grants=(
                    Grant(
                        (DB_CLUSTER,), (NOT_SKIPPED,), "DB clusters, never one with the skip tag"
                    ),
                ),
            ),
            "rds:StartDBCluster": only(DB_CLUSTER, why="to undo a stop: DB clusters"),
            "rds:DescribeDBClusters": only(DB_CLUSTER, why="DB clusters"),
            "rds:DescribeDBInstances": only(DB_INSTANCE, why="the clusters' member instances"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: AuroraIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        rds = ctx.client("rds")
        clusters = [
            item
            for page in rds.get_paginator("describe_db_clusters").paginate()
            for item in page.get("DBClusters", [])
        ]
        if not clusters:
            return  # the DB instances are not read: the other readers do not wait for it
        classes = {
            item["DBInstanceIdentifier"]: item.get("DBInstanceClass", "unknown")
            for page in ctx.listing(DB_INSTANCES)  # the listing rds-idle reads too
            for item in page.get("DBInstances", [])
            if item.get("DBInstanceIdentifier")
        }
        candidates: list[AuroraClusterSpec] = []
        for item in clusters:
            try:
                cluster = AuroraClusterSpec.from_api(item, classes)
            except ValueError as error:
                resource = str(item.get("DBClusterIdentifier", "unknown"))
                yield self.skipped(ctx, resource, f"cannot judge: {error}")
                continue
            reason = self.skip_reason(ctx, cluster)
            if reason is not None:
                if reason:
                    yield self.skipped(ctx, cluster.cluster_id, reason)
                continue
            candidates.append(cluster)
        if not candidates:
            return
        series = fetch_daily_peaks(
            ctx.client("cloudwatch"),
            ctx.as_of,
            settings.lookback_days,
            [
                connection_query(
                    f"{member}/{c.cluster_id}", "AWS/RDS", "DBInstanceIdentifier", member
                )
                for c in candidates
                for member in c.member_ids
            ],
        )
        for cluster in candidates:
            keys = [f"{member}/{cluster.cluster_id}" for member in cluster.member_ids]
            judged = judge_all(series, keys, settings)
            if isinstance(judged, str):
                yield self.skipped(ctx, cluster.cluster_id, judged)
            else:
                yield self._finding(ctx, settings, cluster, judged)

    @staticmethod
    def skip_reason(ctx: ScanContext, cluster: AuroraClusterSpec) -> str | None:
        if not cluster.engine.startswith("aurora"):
            return ""  # Neptune, DocumentDB, Multi-AZ DB clusters: not this rule's
        if cluster.status in ("stopped", "stopping"):
            return ""
        refused = cluster.why_not_stoppable()
        if refused:
            return refused
        if cluster.status != "available":
            return f"status {cluster.status}: judged once it is available"
        return ctx.exclusions.reason_to_skip(cluster.cluster_id, cluster.tags)

    def _finding(
        self,
        ctx: ScanContext,
        settings: AuroraIdleSettings,
        cluster: AuroraClusterSpec,
        connections: Connections,
    ) -> Finding:
        record = IdleAuroraCluster(
            cluster=cluster,
            max_daily_connections=connections.peak,
            days_with_data=connections.days_with_data,
            lookback_days=settings.lookback_days,
            skip_tag=ctx.exclusions.skip_tag,
            start_timeout_minutes=settings.start_timeout_minutes,
        )
        rates = [
            ctx.prices.rds.hourly(cluster.engine, m.instance_class, multi_az=False)
            for m in cluster.members
        ]
        hours = ctx.prices.ec2.hours_per_month
        if any(rate is None for rate in rates):
            unpriced = sorted(
                {m.instance_class for m, r in zip(cluster.members, rates, strict=True) if r is None}
            )
            cost = ctx.prices.unknown(
                f"no bundled price for {cluster.engine} {', '.join(unpriced)} (Serverless v2 "
                "members are billed by capacity used); savings unknown"
            )
        else:
            total = sum(rate for rate in rates if rate is not None)
            cost = ctx.prices.cost(
                total * hours,
                ctx.region,
                f"{len(rates)} {cluster.engine} instance(s) "
                f"({', '.join(m.instance_class for m in cluster.members)}) On-Demand "
                f"${total:g}/h x {hours} h; compute only: {STILL_BILLED}",
            )
        window = f"{settings.lookback_days} days to {ctx.as_of:%Y-%m-%d}"
        return self.new_finding(
            ctx,
            title=f"Stop idle Aurora {cluster.label()}",
            cost=cost,
            risk="low",
            risk_reasons=(
                "stopped, not deleted: storage, endpoints, parameters and backups are kept",
                f"AWS starts it again after {AUTO_START_DAYS} days; reclaim stops it again "
                "while it stays idle",
            ),
            evidence=(
                Evidence(label="Status", value="available", source="DescribeDBClusters"),
                Evidence(
                    label="Members",
                    value=", ".join(
                        f"{m.db_instance_id} ({m.instance_class})" for m in cluster.members
                    ),
                    source="DescribeDBClusters, DescribeDBInstances",
                ),
                Evidence(
                    label="Busiest member-day's connections",
                    value=f"{connections.peak:g} ({window})",
                    source=f"CloudWatch {CONNECTIONS} per member, daily Maximum (GetMetricData)",
                ),
                Evidence(
                    label="Days with data",
                    value=f"{connections.days_with_data} of {settings.lookback_days} "
                    "(fewest of any member)",
                    source="GetMetricData",
                ),
            ),
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleAuroraCluster) -> str:
        return record.cluster.cluster_id

    def tags_of(self, record: IdleAuroraCluster) -> Mapping[str, str]:
        return record.cluster.tags

    def plan(self, finding: Finding, record: IdleAuroraCluster) -> ManifestBody:
        cluster = record.cluster
        name = cluster.cluster_id
        describe = _describe(name)
        status = f"{ROOT}.Status"
        precheck = steps.precheck(
            "precheck",
            f"Read {name} and confirm it is still available with the same members and tags, "
            "outside any global database, neither a cross-Region replica nor the source of "
            "one, and without the skip tag (AWS refuses to stop the others).",
            describe,
            Expectation(path=status, equals="available", what="status"),
            steps.skip_tag_absent(record.skip_tag, tags_at=f"{ROOT}.TagList"),
            Expectation(
                path=f"{ROOT}.EngineMode || 'provisioned'",
                equals="provisioned",
                what="engine mode",
            ),
            Expectation(
                path=f"{ROOT}.GlobalClusterIdentifier", equals=None, what="in no global database"
            ),
            Expectation(
                path=f"{ROOT}.ReplicationSourceIdentifier", equals=None, what="not a replica"
            ),
            Expectation(
                path=f"length({ROOT}.ReadReplicaIdentifiers || `[]`)",
                equals=0,
                what="no cross-Region replicas",
            ),
            *_identity(cluster),
        )
        record_state = steps.record(
            "record-state",
            f"Record {name}'s status, members and endpoints in the journal (nothing is deleted).",
            describe,
            outputs={
                "Status": status,
                "Members": MEMBERS,
                "Endpoint": f"{ROOT}.Endpoint",
                "ReaderEndpoint": f"{ROOT}.ReaderEndpoint",
            },
        )
        stop = steps.change(
            "stop",
            f"Stop {name} and its {len(cluster.members)} instance(s) (AWS takes a few minutes).",
            AwsCall(service="rds", operation="StopDBCluster", params={"DBClusterIdentifier": name}),
            already_done=Lookup(
                call=describe, found_when=f'contains(`["stopping", "stopped"]`, {status})'
            ),
        )
        verify = steps.verify(
            "verify",
            f"Confirm {name} is stopping or stopped, unchanged otherwise.",
            describe,
            Expectation(
                path=f'contains(`["stopping", "stopped"]`, {status})',
                equals=True,
                what="status stopping or stopped",
            ),
            *_identity(cluster),
        )
        return ManifestBody(
            steps=(precheck, record_state, stop, verify),
            notes=(
                f"The saving is compute only: {STILL_BILLED} (automated backups within the "
                f"{cluster.backup_retention_days}-day retention, and any manual snapshots).",
                f"AWS starts a stopped Aurora cluster automatically after {AUTO_START_DAYS} "
                "days. While this finding still holds (no connections on any member since, "
                "skip tag absent), reclaim's scheduled run stops it again and comments here; "
                "add the skip tag to keep it running, or comment /rollback.",
                "Anything connecting to it fails while it is stopped; the endpoints stay the same.",
                f"Idle evidence: at most {record.max_daily_connections:g} connections on any "
                f"member's day, {record.days_with_data} of {record.lookback_days} days with data.",
            ),
        )

    def rollback(self, finding: Finding, record: IdleAuroraCluster) -> ManifestBody:
        cluster = record.cluster
        name = cluster.cluster_id
        return Restart(
            name=name,
            kind="cluster",
            describe=_describe(name),
            status=f"{ROOT}.Status",
            identity=_identity(cluster),
            call=AwsCall(
                service="rds", operation="StartDBCluster", params={"DBClusterIdentifier": name}
            ),
            waiter="db_cluster_available",
            waiter_params={"DBClusterIdentifier": name},
            timeout_minutes=record.start_timeout_minutes,
            endpoint=f"{ROOT}.Endpoint",
            keeps="identifier, endpoints, storage and parameters",
        ).rollback()


STILL_BILLED = "cluster storage (per GB used) and backup storage stay billed while stopped"


def _identity(cluster: AuroraClusterSpec) -> list[Expectation]:
    return [
        Expectation(path=f"{ROOT}.Engine", equals=cluster.engine, what="engine"),
        Expectation(path=MEMBERS, equals=cluster.member_ids, what="member instances"),
        steps.tags_unchanged(f"{ROOT}.TagList", cluster.tags),
    ]
