"""An EC2 instance as reclaim records it: parsed from DescribeInstances, compared later.

Forgiving of what real accounts return (no public IP, no tags, previous-generation types,
instance-store roots) and explicit about what a stop changes: a public IPv4 address that is
not an Elastic IP is released on stop and a different one comes back on start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.aws.listings import Listing
from generator.aws.tags import tags_from_api

ASG_TAG = "aws:autoscaling:groupName"
INSTANCE_PAGE_SIZE = 1000
"""DescribeInstances' largest page (MaxResults): a page's memory is bounded, not the region's."""

INSTANCES = Listing(
    "ec2",
    "describe_instances",
    {
        "Filters": [{"Name": "instance-state-name", "Values": ["running"]}],
        "PaginationConfig": {"PageSize": INSTANCE_PAGE_SIZE},
    },
)
"""The region's running instances, listed once for the rules that declare it (ec2-idle and
ec2-previous-generation read the same pages)."""
_REQUIRED = ("InstanceId", "InstanceType", "State", "LaunchTime")


class IncompleteInstance(ValueError):
    """A DescribeInstances item without the fields reclaim needs to judge it."""


class InstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    instance_type: str
    state: str
    availability_zone: str
    launch_time: datetime
    root_device_type: str
    root_device_name: str | None = None
    lifecycle: str | None = None
    """None for On-Demand; 'spot' or 'scheduled' otherwise."""
    platform_details: str | None = None
    ebs_volume_ids: tuple[str, ...] = ()
    public_ip: str | None = None
    public_ip_owner: str | None = None
    """'amazon' for an address AWS assigned at launch; an account ID for an Elastic IP."""
    private_ip: str | None = None
    tags: dict[str, str] = {}

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> InstanceSpec:
        missing = [key for key in _REQUIRED if key not in item]
        if missing:
            raise IncompleteInstance(
                f"{item.get('InstanceId', 'an instance')}: DescribeInstances gave no "
                + ", ".join(missing)
            )
        volumes = sorted(
            m["Ebs"]["VolumeId"]
            for m in item.get("BlockDeviceMappings") or []
            if (m.get("Ebs") or {}).get("VolumeId")
        )
        owner = None
        for interface in item.get("NetworkInterfaces") or []:
            association = interface.get("Association") or {}
            if association.get("PublicIp") == item.get("PublicIpAddress"):
                owner = association.get("IpOwnerId")
                break
        return cls(
            instance_id=item["InstanceId"],
            instance_type=item["InstanceType"],
            state=item["State"]["Name"],
            availability_zone=(item.get("Placement") or {}).get("AvailabilityZone", ""),
            launch_time=item["LaunchTime"],
            root_device_type=item.get("RootDeviceType", "ebs"),
            root_device_name=item.get("RootDeviceName"),
            lifecycle=item.get("InstanceLifecycle"),
            platform_details=item.get("PlatformDetails"),
            ebs_volume_ids=tuple(volumes),
            public_ip=item.get("PublicIpAddress"),
            public_ip_owner=owner,
            private_ip=item.get("PrivateIpAddress"),
            tags=tags_from_api(item.get("Tags")),
        )

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")

    @property
    def in_auto_scaling_group(self) -> bool:
        return ASG_TAG in self.tags

    def label(self) -> str:
        name = f" ({self.name})" if self.name else ""
        return f"{self.instance_type} instance {self.instance_id}{name}"
