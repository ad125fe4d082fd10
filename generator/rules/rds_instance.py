"""An RDS DB instance as reclaim records it: parsed from DescribeDBInstances, compared later.

Forgiving of what real accounts return (no tags, no storage type, instances still being
created without an endpoint, Neptune and DocumentDB instances that DescribeDBInstances lists
too) and explicit about what AWS refuses to stop: read replicas, sources of read replicas,
members of a cluster, SQL Server in Multi-AZ, RDS Custom.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.aws.listings import Listing
from generator.aws.tags import tags_from_api

DB_INSTANCES = Listing("rds", "describe_db_instances")
"""The region's DB instances, listed once for the rules that declare it (rds-idle,
aurora-idle and extended-support read the same pages)."""

_REQUIRED = ("DBInstanceIdentifier", "DBInstanceClass", "Engine", "DBInstanceStatus")


class IncompleteDbInstance(ValueError):
    """A DescribeDBInstances item without the fields reclaim needs to judge it."""


class DbInstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_instance_id: str
    db_instance_arn: str | None = None
    engine: str
    engine_version: str | None = None
    instance_class: str
    status: str
    multi_az: bool = False
    storage_type: str | None = None
    allocated_storage_gib: int = 0
    iops: int | None = None
    cluster_id: str | None = None
    replica_source: str | None = None
    """The instance (or cluster) this one is a read replica of."""
    read_replicas: tuple[str, ...] = ()
    endpoint: str | None = None
    backup_retention_days: int = 0
    deletion_protection: bool = False
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> DbInstanceSpec:
        missing = [key for key in _REQUIRED if not item.get(key)]
        if missing:
            raise IncompleteDbInstance(
                f"{item.get('DBInstanceIdentifier', 'a DB instance')}: DescribeDBInstances "
                "gave no " + ", ".join(missing)
            )
        endpoint = item.get("Endpoint") or {}
        return cls(
            db_instance_id=item["DBInstanceIdentifier"],
            db_instance_arn=item.get("DBInstanceArn"),
            engine=item["Engine"],
            engine_version=item.get("EngineVersion"),
            instance_class=item["DBInstanceClass"],
            status=item["DBInstanceStatus"],
            multi_az=bool(item.get("MultiAZ")),
            storage_type=item.get("StorageType"),
            allocated_storage_gib=int(item.get("AllocatedStorage") or 0),
            iops=item.get("Iops"),
            cluster_id=item.get("DBClusterIdentifier"),
            replica_source=item.get("ReadReplicaSourceDBInstanceIdentifier")
            or item.get("ReadReplicaSourceDBClusterIdentifier"),
            read_replicas=tuple(
                sorted(
                    [
                        *(item.get("ReadReplicaDBInstanceIdentifiers") or []),
                        *(item.get("ReadReplicaDBClusterIdentifiers") or []),
                    ]
                )
            ),
            endpoint=endpoint.get("Address"),
            backup_retention_days=int(item.get("BackupRetentionPeriod") or 0),
            deletion_protection=bool(item.get("DeletionProtection")),
            tags=tags_from_api(item.get("TagList")),
        )

    def why_not_stoppable(self) -> str | None:
        """Why AWS refuses StopDBInstance on this instance whatever its activity (moto
        accepts some of these; reclaim does not ask)."""
        if self.cluster_id:
            return (
                f"member of cluster {self.cluster_id}: an instance in a cluster is stopped "
                "with its cluster (aurora-idle judges Aurora clusters)"
            )
        if self.replica_source:
            return f"read replica of {self.replica_source}: AWS cannot stop a read replica"
        if self.read_replicas:
            return (
                f"source of read replicas {', '.join(self.read_replicas)}: AWS cannot stop an "
                "instance that has read replicas"
            )
        if self.engine.startswith("sqlserver") and self.multi_az:
            return "SQL Server in a Multi-AZ deployment: AWS cannot stop it"
        if self.engine.startswith("custom-"):
            return "RDS Custom instance: left to its owner (stopping pauses its automation)"
        return None

    def label(self) -> str:
        placement = "Multi-AZ" if self.multi_az else "Single-AZ"
        kind = f"{self.engine} {self.instance_class} ({placement})"
        return f"{kind} DB instance {self.db_instance_id}"
