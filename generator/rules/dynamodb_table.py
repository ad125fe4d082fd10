"""A DynamoDB table's capacity and its Application Auto Scaling setup, as reclaim records them.

DescribeTable answers in a few shapes real accounts show: tables created before billing modes
existed carry no BillingModeSummary (they are provisioned); an on-demand table reports 0
read and write capacity units; a table just switched is UPDATING. `TableCapacity.from_api`
reads all of them, or says why the table is not one reclaim judges (`NotJudged`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

PROVISIONED, ON_DEMAND = "PROVISIONED", "PAY_PER_REQUEST"
STANDARD_CLASS = "STANDARD"
NAMESPACE = "dynamodb"


class NotJudged(Exception):
    """The table is not a provisioned table this rule can switch and switch back."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndexCapacity(_Frozen):
    index_name: str
    read_capacity_units: int = Field(ge=1)
    write_capacity_units: int = Field(ge=1)


class TableCapacity(_Frozen):
    table_name: str
    table_arn: str
    read_capacity_units: int = Field(ge=1)
    write_capacity_units: int = Field(ge=1)
    indexes: tuple[IndexCapacity, ...] = ()
    created: datetime | None = Field(default=None, exclude=True)
    last_on_demand: datetime | None = Field(
        default=None,
        exclude=True,
        description="BillingModeSummary.LastUpdateToPayPerRequestDateTime: when the table "
        "was last switched to on-demand (absent if never).",
    )

    @classmethod
    def from_api(cls, table: Mapping[str, Any]) -> TableCapacity:
        name = str(table.get("TableName", ""))
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode") or PROVISIONED
        if mode != PROVISIONED:
            raise NotJudged(f"billing mode is {mode}")
        status = table.get("TableStatus")
        if status != "ACTIVE":
            raise NotJudged(f"status is {status!r}, not ACTIVE")
        table_class = (table.get("TableClassSummary") or {}).get("TableClass") or STANDARD_CLASS
        if table_class != STANDARD_CLASS:
            raise NotJudged(
                f"table class {table_class}: reclaim bundles Standard-class prices only, so the "
                "saving is unknown"
            )
        if table.get("Replicas"):
            raise NotJudged(
                "global table (has replicas): its billing mode is shared by every replica, "
                "and AWS does not keep a global table's auto scaling settings across a switch"
            )
        indexes = []
        for index in table.get("GlobalSecondaryIndexes") or []:
            if index.get("IndexStatus") != "ACTIVE":
                raise NotJudged(
                    f"index {index.get('IndexName')} is {index.get('IndexStatus')!r}, not ACTIVE"
                )
            throughput = index.get("ProvisionedThroughput") or {}
            indexes.append(
                IndexCapacity(
                    index_name=str(index["IndexName"]),
                    read_capacity_units=int(throughput.get("ReadCapacityUnits") or 0),
                    write_capacity_units=int(throughput.get("WriteCapacityUnits") or 0),
                )
            )
        throughput = table.get("ProvisionedThroughput") or {}
        return cls(
            table_name=name,
            table_arn=str(table["TableArn"]),
            read_capacity_units=int(throughput.get("ReadCapacityUnits") or 0),
            write_capacity_units=int(throughput.get("WriteCapacityUnits") or 0),
            indexes=tuple(sorted(indexes, key=lambda i: i.index_name)),
            created=table.get("CreationDateTime"),
            last_on_demand=(table.get("BillingModeSummary") or {}).get(
                "LastUpdateToPayPerRequestDateTime"
            ),
        )

    @property
    def resource_id(self) -> str:
        """Application Auto Scaling's ID of the table."""
        return f"table/{self.table_name}"

    def index_resource_id(self, index: str) -> str:
        return f"table/{self.table_name}/index/{index}"

    @property
    def resource_ids(self) -> list[str]:
        return [self.resource_id, *(self.index_resource_id(i.index_name) for i in self.indexes)]

    @property
    def total_read(self) -> int:
        return self.read_capacity_units + sum(i.read_capacity_units for i in self.indexes)

    @property
    def total_write(self) -> int:
        return self.write_capacity_units + sum(i.write_capacity_units for i in self.indexes)


class ScalableTarget(_Frozen):
    resource_id: str
    scalable_dimension: str
    min_capacity: int
    max_capacity: int
    suspended_state: dict[str, bool] | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> ScalableTarget:
        suspended = item.get("SuspendedState")
        return cls(
            resource_id=str(item["ResourceId"]),
            scalable_dimension=str(item["ScalableDimension"]),
            min_capacity=int(item["MinCapacity"]),
            max_capacity=int(item["MaxCapacity"]),
            suspended_state={k: bool(v) for k, v in suspended.items()} if suspended else None,
        )

    def as_api(self) -> dict[str, JsonValue]:
        return {
            "ResourceId": self.resource_id,
            "ScalableDimension": self.scalable_dimension,
            "MinCapacity": self.min_capacity,
            "MaxCapacity": self.max_capacity,
        }


class ScalingPolicy(_Frozen):
    """A target-tracking policy (the only kind DynamoDB auto scaling creates)."""

    policy_name: str
    resource_id: str
    scalable_dimension: str
    target_tracking: dict[str, JsonValue]

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> ScalingPolicy:
        if item.get("PolicyType") != "TargetTrackingScaling":
            raise NotJudged(
                f"scaling policy {item.get('PolicyName')} is {item.get('PolicyType')}: step "
                "scaling policies are driven by alarms that name the policy's ARN, which a "
                "re-created policy does not keep"
            )
        return cls(
            policy_name=str(item["PolicyName"]),
            resource_id=str(item["ResourceId"]),
            scalable_dimension=str(item["ScalableDimension"]),
            target_tracking=dict(item.get("TargetTrackingScalingPolicyConfiguration") or {}),
        )

    def as_api(self) -> dict[str, JsonValue]:
        return {
            "PolicyName": self.policy_name,
            "ScalableDimension": self.scalable_dimension,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": self.target_tracking,
        }


def _sorted_targets(targets: Iterable[ScalableTarget]) -> tuple[ScalableTarget, ...]:
    return tuple(sorted(targets, key=lambda t: (t.resource_id, t.scalable_dimension)))


def _sorted_policies(policies: Iterable[ScalingPolicy]) -> tuple[ScalingPolicy, ...]:
    return tuple(
        sorted(policies, key=lambda p: (p.resource_id, p.scalable_dimension, p.policy_name))
    )


class AutoScaling(_Frozen):
    """A table's scalable targets and scaling policies (table and indexes)."""

    targets: tuple[ScalableTarget, ...] = ()
    policies: tuple[ScalingPolicy, ...] = ()

    @classmethod
    def of(
        cls,
        table: TableCapacity,
        targets: Iterable[Mapping[str, Any]],
        policies: Iterable[Mapping[str, Any]],
        scheduled: Iterable[Mapping[str, Any]],
    ) -> AutoScaling:
        """The table's share of the namespace's targets, policies and scheduled actions, or
        NotJudged when re-registering could not bring them back."""
        ids = set(table.resource_ids)
        actions = [a for a in scheduled if a.get("ResourceId") in ids]
        if actions:
            raise NotJudged(
                f"{len(actions)} scheduled scaling action(s): not recorded by this rule, and "
                "deregistering the scalable target would delete them"
            )
        return cls(
            targets=_sorted_targets(
                ScalableTarget.from_api(t) for t in targets if t.get("ResourceId") in ids
            ),
            policies=_sorted_policies(
                ScalingPolicy.from_api(p) for p in policies if p.get("ResourceId") in ids
            ),
        )

    def policies_of(self, resource_id: str) -> tuple[ScalingPolicy, ...]:
        return tuple(p for p in self.policies if p.resource_id == resource_id)

    @property
    def scaled_resource_ids(self) -> list[str]:
        return sorted({t.resource_id for t in self.targets})
