"""redshift-idle: provisioned Redshift clusters nobody connected to for two weeks. Pause them.

Idle means: over ``lookback_days`` of CloudWatch ``DatabaseConnections`` (daily Maximum, by
ClusterIdentifier), no day exceeded ``max_daily_connections`` (0). Only ``available``
clusters of node types AWS can pause (RA3, DC2, DS2) are judged. AWS pauses only an
available cluster and resumes only a paused one; moto does either in any state, so the
plan's pre-checks hold AWS's rule.

A paused cluster stops billing node-hours; RA3 managed storage and snapshot (backup) storage
stay billed. AWS does not resume a paused cluster by itself (unlike a stopped RDS instance),
but a scheduled resume action someone else created would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generator.aws.tags import tags_from_api
from generator.findings import Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
from generator.rules.base import BillFootprint, ManifestBody, Rule, RuleCalls, RuleDocs
from generator.rules.context import ScanContext
from generator.rules.database_idle import (
    ConnectionIdleSettings,
    Connections,
    Restart,
    connection_evidence,
    connection_query,
    fetch_daily_peaks,
    judge,
)

CLUSTER = "arn:{partition}:redshift:{region}:{account}:cluster:*"
PAUSABLE_NODE_FAMILIES = ("ra3.", "dc2.", "ds2.")
STATE_POLL_SECONDS = 30
ROOT = "Clusters[0]"


class RedshiftIdleSettings(ConnectionIdleSettings):
    resume_timeout_minutes: int = Field(
        default=60, ge=5, description="How long rollback waits for the cluster to be available."
    )


class RedshiftClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: str
    status: str
    node_type: str
    number_of_nodes: int
    cluster_version: str | None = None
    endpoint: str | None = None
    snapshot_retention_days: int | None = None
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RedshiftClusterSpec:
        missing = [k for k in ("ClusterIdentifier", "ClusterStatus", "NodeType") if not item.get(k)]
        if missing:
            raise ValueError(
                f"{item.get('ClusterIdentifier', 'a cluster')}: DescribeClusters gave no "
                + ", ".join(missing)
            )
        return cls(
            cluster_id=item["ClusterIdentifier"],
            status=item["ClusterStatus"],
            node_type=item["NodeType"],
            number_of_nodes=int(item.get("NumberOfNodes") or 1),
            cluster_version=item.get("ClusterVersion"),
            endpoint=(item.get("Endpoint") or {}).get("Address"),
            snapshot_retention_days=item.get("AutomatedSnapshotRetentionPeriod"),
            tags=tags_from_api(item.get("Tags")),
        )

    def label(self) -> str:
        return f"{self.number_of_nodes}-node {self.node_type} Redshift cluster {self.cluster_id}"


class IdleCluster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: RedshiftClusterSpec
    max_daily_connections: float
    days_with_data: int
    lookback_days: int
    skip_tag: str
    resume_timeout_minutes: int


def _describe(cluster_id: str) -> AwsCall:
    return AwsCall(
        service="redshift", operation="DescribeClusters", params={"ClusterIdentifier": cluster_id}
    )


class RedshiftIdle(Rule[RedshiftIdleSettings, IdleCluster]):
    name: ClassVar[str] = "redshift-idle"
    summary: ClassVar[str] = "Provisioned Redshift clusters nobody connected to for two weeks"
    resource_type: ClassVar[str] = "AWS::Redshift::Cluster"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "available provisioned clusters (RA3, DC2, DS2) whose daily peak "
            "`DatabaseConnections` stayed at or under `max_daily_connections` (0) for "
            '`lookback_days` (14); partial metrics = "unknown", never idle'
        ),
        change="PauseCluster (managed storage and snapshots stay billed)",
        undo="ResumeCluster, wait available (same endpoint)",
    )
    settings_model = RedshiftIdleSettings
    record_model = IdleCluster
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(own=r"Node:")
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("redshift", "DescribeClusters"), ("cloudwatch", "GetMetricData")}),
        apply=frozenset({("redshift", "DescribeClusters"), ("redshift", "PauseCluster")}),
        rollback=frozenset({("redshift", "DescribeClusters"), ("redshift", "ResumeCluster")}),
        scopes={
            "redshift:PauseCluster": ActionScope(
                grants=(
                    Grant((CLUSTER,), (NOT_SKIPPED,), "clusters, never one carrying the skip tag"),
                ),
            ),
            "redshift:ResumeCluster": only(CLUSTER, why="to undo a pause: clusters"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: RedshiftIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        candidates: list[RedshiftClusterSpec] = []
        for page in ctx.client("redshift").get_paginator("describe_clusters").paginate():
            for item in page.get("Clusters", []):
                try:
                    cluster = RedshiftClusterSpec.from_api(item)
                except ValueError as error:
                    resource = str(item.get("ClusterIdentifier", "unknown"))
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
                connection_query(c.cluster_id, "AWS/Redshift", "ClusterIdentifier", c.cluster_id)
                for c in candidates
            ],
        )
        for cluster in candidates:
            judged = judge(series[cluster.cluster_id], settings)
            if isinstance(judged, str):
                yield self.skipped(ctx, cluster.cluster_id, judged)
            else:
                yield self._finding(ctx, settings, cluster, judged)

    @staticmethod
    def skip_reason(ctx: ScanContext, cluster: RedshiftClusterSpec) -> str | None:
        """Why this cluster is not judged ("" when already paused), or None when it is."""
        if cluster.status in ("paused", "pausing"):
            return ""
        if not cluster.node_type.startswith(PAUSABLE_NODE_FAMILIES):
            return f"node type {cluster.node_type}: AWS pauses only RA3, DC2 and DS2 clusters"
        if cluster.status != "available":
            return f"status {cluster.status}: judged once it is available"
        return ctx.exclusions.reason_to_skip(cluster.cluster_id, cluster.tags)

    def _finding(
        self,
        ctx: ScanContext,
        settings: RedshiftIdleSettings,
        cluster: RedshiftClusterSpec,
        connections: Connections,
    ) -> Finding:
        record = IdleCluster(
            cluster=cluster,
            max_daily_connections=connections.peak,
            days_with_data=connections.days_with_data,
            lookback_days=settings.lookback_days,
            skip_tag=ctx.exclusions.skip_tag,
            resume_timeout_minutes=settings.resume_timeout_minutes,
        )
        hourly = ctx.prices.redshift.node_hourly.get(cluster.node_type)
        hours = ctx.prices.ec2.hours_per_month
        if hourly is None:
            cost = ctx.prices.unknown(
                f"no bundled price for node type {cluster.node_type}; savings unknown"
            )
        else:
            cost = ctx.prices.cost(
                hourly * cluster.number_of_nodes * hours,
                ctx.region,
                f"{cluster.number_of_nodes} x {cluster.node_type} On-Demand ${hourly:g}/node-h x "
                f"{hours} h; compute only: {STILL_BILLED}",
            )
        return self.new_finding(
            ctx,
            title=f"Pause idle {cluster.label()}",
            cost=cost,
            risk="low",
            risk_reasons=("paused, not deleted: data, endpoint and snapshots are kept",),
            evidence=connection_evidence(
                "DescribeClusters", connections, settings.lookback_days, ctx.as_of
            ),
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleCluster) -> str:
        return record.cluster.cluster_id

    def tags_of(self, record: IdleCluster) -> Mapping[str, str]:
        return record.cluster.tags

    def plan(self, finding: Finding, record: IdleCluster) -> ManifestBody:
        cluster = record.cluster
        name = cluster.cluster_id
        describe = _describe(name)
        precheck = steps.precheck(
            "precheck",
            f"Read {name} and confirm it is still available (AWS pauses nothing else) with "
            f"{cluster.number_of_nodes} {cluster.node_type} nodes and the same tags, without "
            "the skip tag.",
            describe,
            Expectation(path=f"{ROOT}.ClusterStatus", equals="available", what="status"),
            steps.skip_tag_absent(record.skip_tag, tags_at=f"{ROOT}.Tags"),
            *_identity(cluster),
        )
        record_state = steps.record(
            "record-state",
            f"Record {name}'s status, nodes and endpoint in the journal (nothing is deleted).",
            describe,
            outputs={
                "ClusterStatus": f"{ROOT}.ClusterStatus",
                "NodeType": f"{ROOT}.NodeType",
                "NumberOfNodes": f"{ROOT}.NumberOfNodes",
                "Endpoint": f"{ROOT}.Endpoint.Address",
            },
        )
        pause = steps.change(
            "pause",
            f"Pause {name} (AWS takes a few minutes to finish pausing it).",
            AwsCall(
                service="redshift", operation="PauseCluster", params={"ClusterIdentifier": name}
            ),
            already_done=Lookup(
                call=describe,
                found_when=f'contains(`["pausing", "paused"]`, {ROOT}.ClusterStatus)',
            ),
        )
        verify = steps.verify(
            "verify",
            f"Confirm {name} is pausing or paused, unchanged otherwise.",
            describe,
            Expectation(
                path=f'contains(`["pausing", "paused"]`, {ROOT}.ClusterStatus)',
                equals=True,
                what="status pausing or paused",
            ),
            *_identity(cluster),
        )
        return ManifestBody(
            steps=(precheck, record_state, pause, verify),
            notes=(
                f"The saving is compute only: {STILL_BILLED}.",
                "Queries and connections fail while it is paused; the endpoint stays the same. "
                "AWS does not resume a paused cluster by itself, but a scheduled resume action "
                "would (and would show up as a new finding once idle again).",
                f"Idle evidence: at most {record.max_daily_connections:g} connections on any "
                f"day, {record.days_with_data} of {record.lookback_days} days with data.",
            ),
        )

    def rollback(self, finding: Finding, record: IdleCluster) -> ManifestBody:
        cluster = record.cluster
        name = cluster.cluster_id
        return Restart(
            name=name,
            kind="cluster",
            describe=_describe(name),
            status=f"{ROOT}.ClusterStatus",
            identity=_identity(cluster),
            call=AwsCall(
                service="redshift", operation="ResumeCluster", params={"ClusterIdentifier": name}
            ),
            waiter="cluster_available",
            waiter_params={"ClusterIdentifier": name},
            timeout_minutes=record.resume_timeout_minutes,
            endpoint=f"{ROOT}.Endpoint.Address",
            keeps="identifier, endpoint, data and snapshots",
            stopped="paused",
            starting="resuming",
            stopping="pausing",
            verb="resume",
        ).rollback()


STILL_BILLED = "RA3 managed storage and snapshot (backup) storage stay billed while paused"


def _identity(cluster: RedshiftClusterSpec) -> list[Expectation]:
    return [
        Expectation(path=f"{ROOT}.NodeType", equals=cluster.node_type, what="node type"),
        Expectation(
            path=f"{ROOT}.NumberOfNodes", equals=cluster.number_of_nodes, what="number of nodes"
        ),
        steps.tags_unchanged(f"{ROOT}.Tags", cluster.tags),
    ]
