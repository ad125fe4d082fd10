"""A Recycle Bin beside moto, which has none: rbin and EC2's Recycle Bin operations answered
through botocore's Stubber (so every request and response is checked against the botocore
service models), with moto's own snapshots moved into and out of the bin.

`RecycleBin.client_for` gives the executor's (service, region) clients; `client` the scan
context's. DeleteSnapshot and DeleteVolume go to moto; a snapshot or volume that carries the
tag of one of the bin's rules for its resource type is kept in the bin (the moto object
itself, ID and tags included: moto keeps a deleted resource's tags), any other is gone, as
AWS does. RestoreSnapshotFromRecycleBin and RestoreVolumeFromRecycleBin put the same object
back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber
from moto.ec2.models import ec2_backends

ACCOUNT = "123456789012"


@dataclass
class BinRule:
    identifier: str
    tag: tuple[str, str]
    days: int
    status: str = "available"
    resource_type: str = "EBS_SNAPSHOT"


@dataclass
class RecycleBin:
    region: str = "us-east-1"
    rules: list[BinRule] = field(default_factory=list)
    readable: bool = True
    kept: dict[str, tuple[Any, datetime, int]] = field(default_factory=dict)
    """Snapshot ID → (moto's snapshot object, entered, retention days)."""
    kept_volumes: dict[str, tuple[Any, datetime, int]] = field(default_factory=dict)
    """Volume ID → (moto's volume object, entered, retention days)."""
    calls: list[str] = field(default_factory=list)

    def _backend(self) -> Any:
        return ec2_backends[ACCOUNT][self.region]

    def _stubbed(self, service: str) -> tuple[Any, Stubber]:
        client = boto3.client(service, region_name=self.region)
        return client, Stubber(client)

    # ---- rbin --------------------------------------------------------------------------

    def _answer(
        self, service: str, operation: str, params: dict[str, Any], response: dict[str, Any]
    ) -> dict[str, Any]:
        client, stubber = self._stubbed(service)
        stubber.add_response(operation, response, params)
        self.calls.append(operation)
        with stubber:
            result: dict[str, Any] = getattr(client, operation)(**params)
        return result

    def _refuse(self, service: str, operation: str, params: dict[str, Any], code: str) -> Any:
        client, stubber = self._stubbed(service)
        stubber.add_client_error(operation, service_error_code=code, expected_params=params)
        self.calls.append(operation)
        with stubber:
            return getattr(client, operation)(**params)

    def list_rules(self, **params: Any) -> dict[str, Any]:
        if not self.readable:
            return self._refuse("rbin", "list_rules", params, "AccessDeniedException")  # type: ignore[no-any-return]
        wanted = {(t["ResourceTagKey"], t["ResourceTagValue"]) for t in params["ResourceTags"]}
        rules = [
            {
                "Identifier": rule.identifier,
                "RetentionPeriod": {
                    "RetentionPeriodValue": rule.days,
                    "RetentionPeriodUnit": "DAYS",
                },
                "LockState": "unlocked",
                "RuleArn": f"arn:aws:rbin:{self.region}:{ACCOUNT}:rule/{rule.identifier}",
            }
            for rule in self.rules
            if rule.tag in wanted
            and rule.status == "available"
            and rule.resource_type == params["ResourceType"]
        ]
        return self._answer("rbin", "list_rules", params, {"Rules": rules})

    def get_rule(self, **params: Any) -> dict[str, Any]:
        rule = next((r for r in self.rules if r.identifier == params["Identifier"]), None)
        if rule is None:
            return self._refuse("rbin", "get_rule", params, "ResourceNotFoundException")  # type: ignore[no-any-return]
        return self._answer(
            "rbin",
            "get_rule",
            params,
            {
                "Identifier": rule.identifier,
                "ResourceType": rule.resource_type,
                "RetentionPeriod": {
                    "RetentionPeriodValue": rule.days,
                    "RetentionPeriodUnit": "DAYS",
                },
                "ResourceTags": [{"ResourceTagKey": rule.tag[0], "ResourceTagValue": rule.tag[1]}],
                "Status": rule.status,
                "LockState": "unlocked",
            },
        )

    # ---- EC2's Recycle Bin operations -------------------------------------------------

    def delete_snapshot(self, moto: Any, **params: Any) -> dict[str, Any]:
        sid = params["SnapshotId"]
        if params.get("DryRun"):
            return moto.delete_snapshot(**params)  # type: ignore[no-any-return]
        snapshot = self._backend().snapshots.get(sid)
        tags = self._backend().describe_tags(filters={"resource-id": [sid]})
        response: dict[str, Any] = moto.delete_snapshot(**params)
        days = self._retention(tags, "EBS_SNAPSHOT")
        if snapshot is not None and days:
            self.kept[sid] = (snapshot, datetime.now(UTC), days)
        return response

    def _retention(self, tags: list[dict[str, str]], resource_type: str) -> int:
        """Days the bin keeps a deleted resource with ``tags``; 0 when no rule covers it."""
        held = {(t["key"], t["value"]) for t in tags}
        return max(
            (
                r.days
                for r in self.rules
                if r.status == "available" and r.resource_type == resource_type and r.tag in held
            ),
            default=0,
        )

    def delete_volume(self, moto: Any, **params: Any) -> dict[str, Any]:
        vid = params["VolumeId"]
        if params.get("DryRun"):
            return moto.delete_volume(**params)  # type: ignore[no-any-return]
        volume = self._backend().volumes.get(vid)
        tags = self._backend().describe_tags(filters={"resource-id": [vid]})
        response: dict[str, Any] = moto.delete_volume(**params)
        days = self._retention(tags, "EBS_VOLUME")
        if volume is not None and days:
            self.kept_volumes[vid] = (volume, datetime.now(UTC), days)
        return response

    def list_volumes_in_recycle_bin(self, **params: Any) -> dict[str, Any]:
        entries = []
        for vid in params.get("VolumeIds") or list(self.kept_volumes):
            if vid in self.kept_volumes:
                volume, entered, days = self.kept_volumes[vid]
                entry = {
                    "VolumeId": vid,
                    "VolumeType": volume.volume_type,
                    "Size": volume.size,
                    "AvailabilityZone": volume.zone.name,
                    "CreateTime": volume.create_time,
                    "RecycleBinEnterTime": entered,
                    "RecycleBinExitTime": entered + timedelta(days=days),
                }
                if volume.iops is not None:
                    entry["Iops"] = volume.iops
                if volume.throughput is not None:
                    entry["Throughput"] = volume.throughput
                entries.append(entry)
        return self._answer("ec2", "list_volumes_in_recycle_bin", params, {"Volumes": entries})

    def restore_volume_from_recycle_bin(self, **params: Any) -> dict[str, Any]:
        vid = params["VolumeId"]
        if vid not in self.kept_volumes:
            return self._refuse(  # type: ignore[no-any-return]
                "ec2", "restore_volume_from_recycle_bin", params, "InvalidVolume.NotFound"
            )
        if params.get("DryRun"):
            return self._refuse(  # type: ignore[no-any-return]
                "ec2", "restore_volume_from_recycle_bin", params, "DryRunOperation"
            )
        volume, _, _ = self.kept_volumes.pop(vid)
        self._backend().volumes[vid] = volume
        return self._answer("ec2", "restore_volume_from_recycle_bin", params, {"Return": True})

    def list_snapshots_in_recycle_bin(self, **params: Any) -> dict[str, Any]:
        entries = []
        for sid in params.get("SnapshotIds") or list(self.kept):
            if sid in self.kept:
                snapshot, entered, days = self.kept[sid]
                entries.append(
                    {
                        "SnapshotId": sid,
                        "RecycleBinEnterTime": entered,
                        "RecycleBinExitTime": entered + timedelta(days=days),
                        "Description": snapshot.description,
                        "VolumeId": snapshot.volume.id,
                    }
                )
        return self._answer("ec2", "list_snapshots_in_recycle_bin", params, {"Snapshots": entries})

    def restore_snapshot_from_recycle_bin(self, **params: Any) -> dict[str, Any]:
        sid = params["SnapshotId"]
        if sid not in self.kept:
            return self._refuse(  # type: ignore[no-any-return]
                "ec2", "restore_snapshot_from_recycle_bin", params, "InvalidSnapshot.NotFound"
            )
        if params.get("DryRun"):
            return self._refuse(  # type: ignore[no-any-return]
                "ec2", "restore_snapshot_from_recycle_bin", params, "DryRunOperation"
            )
        snapshot, _, _ = self.kept.pop(sid)
        self._backend().snapshots[sid] = snapshot
        return self._answer(
            "ec2",
            "restore_snapshot_from_recycle_bin",
            params,
            {"SnapshotId": sid, "State": "completed", "VolumeSize": snapshot.volume.size},
        )

    # ---- clients -----------------------------------------------------------------------

    def client(self, service: str) -> Any:
        moto = boto3.client(service, region_name=self.region)
        if service == "rbin":
            return _Rbin(self)
        if service == "ec2":
            return _Ec2(self, moto)
        return moto

    def client_for(self, service: str, region: str) -> Any:
        assert region == self.region
        return self.client(service)


class _Rbin:
    def __init__(self, rbin: RecycleBin) -> None:
        self.list_rules, self.get_rule = rbin.list_rules, rbin.get_rule
        self._client = boto3.client("rbin", region_name=rbin.region)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_rules"
        outer = self

        class _Pages:
            def paginate(self, **params: Any) -> Any:
                yield outer.list_rules(**params)

        return _Pages()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Ec2:
    def __init__(self, rbin: RecycleBin, moto: Any) -> None:
        self._rbin, self._moto = rbin, moto
        self.list_snapshots_in_recycle_bin = rbin.list_snapshots_in_recycle_bin
        self.restore_snapshot_from_recycle_bin = rbin.restore_snapshot_from_recycle_bin
        self.list_volumes_in_recycle_bin = rbin.list_volumes_in_recycle_bin
        self.restore_volume_from_recycle_bin = rbin.restore_volume_from_recycle_bin

    def delete_snapshot(self, **params: Any) -> dict[str, Any]:
        return self._rbin.delete_snapshot(self._moto, **params)

    def delete_volume(self, **params: Any) -> dict[str, Any]:
        return self._rbin.delete_volume(self._moto, **params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)
