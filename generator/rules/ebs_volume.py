"""An EBS volume as reclaim records it: parsed from DescribeVolumes, compared at apply time.

Shared by every rule that touches volumes. Parsing is forgiving of what real accounts return
(old `standard` volumes without Iops, missing Tags, gp2 reporting baseline Iops) and strict
about what a restore must reproduce.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from generator.aws.listings import Listing
from generator.aws.tags import restorable_tags, tags_from_api
from generator.manifest.models import Expectation
from generator.manifest.steps import tags_unchanged

if TYPE_CHECKING:
    from generator.rules.context import ScanContext

VOLUME_PAGE_SIZE = 500
"""DescribeVolumes' largest page. Paginated, the listing draws on EC2's non-mutating token
bucket (100 burst, 20/s), not the smaller one of unfiltered, unpaginated describes (50, 10/s)."""


VOLUMES = Listing("ec2", "describe_volumes", {"PaginationConfig": {"PageSize": VOLUME_PAGE_SIZE}})
"""The region's volumes, listed once for the rules that declare it (ebs-unattached and
ebs-gp2-to-gp3 read the same pages)."""


def region_volumes(ctx: ScanContext) -> Iterator[dict[str, Any]]:
    """Every volume of the context's region, page by page from the shared listing
    (``VOLUMES``, which a rule calling this declares): nothing of a page is held here once
    its volumes are handed out, so the page can go when its other readers are done too."""
    for page in ctx.listing(VOLUMES):
        volumes = page.get("Volumes", [])
        del page
        yield from volumes
        del volumes


# Only these types take an explicit Iops / Throughput in CreateVolume and ModifyVolume;
# gp2 reports a baseline Iops that is derived from its size.
PROVISIONED_IOPS_TYPES = frozenset({"io1", "io2", "gp3"})
PROVISIONED_THROUGHPUT_TYPES = frozenset({"gp3"})


class VolumeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    volume_id: str
    availability_zone: str
    state: str
    volume_type: str
    size_gib: int
    iops: int | None = None
    throughput_mibps: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    multi_attach: bool = False
    attachment_count: int = 0
    source_snapshot_id: str | None = None
    create_time: datetime
    tags: dict[str, str] = {}

    @field_validator("create_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # boto3 always returns aware datetimes; recorded or hand-made responses may not.
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> VolumeSpec:
        return cls(
            volume_id=item["VolumeId"],
            availability_zone=item["AvailabilityZone"],
            state=item["State"],
            volume_type=item.get("VolumeType", "standard"),
            size_gib=int(item["Size"]),
            iops=item.get("Iops"),
            throughput_mibps=item.get("Throughput"),
            encrypted=bool(item.get("Encrypted", False)),
            kms_key_id=item.get("KmsKeyId"),
            multi_attach=bool(item.get("MultiAttachEnabled", False)),
            attachment_count=len(item.get("Attachments") or []),
            source_snapshot_id=item.get("SnapshotId") or None,
            create_time=item["CreateTime"],
            tags=tags_from_api(item.get("Tags")),
        )

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")

    @property
    def restorable_tags(self) -> dict[str, str]:
        """Tags a restore can set again: AWS refuses user-set `aws:` tags."""
        return restorable_tags(self.tags)

    @property
    def explicit_iops(self) -> int | None:
        return self.iops if self.volume_type in PROVISIONED_IOPS_TYPES else None

    @property
    def explicit_throughput(self) -> int | None:
        return self.throughput_mibps if self.volume_type in PROVISIONED_THROUGHPUT_TYPES else None

    def label(self) -> str:
        name = f" ({self.name})" if self.name else ""
        return f"{self.size_gib} GiB {self.volume_type} volume {self.volume_id}{name}"


def spec_expectations(
    spec: VolumeSpec, root: str, *, include_az: bool = False
) -> list[Expectation]:
    """Expectations that the volume at ``root`` still has the recorded specification."""
    checks: list[Expectation] = [
        Expectation(path=f"{root}.VolumeType", equals=spec.volume_type, what="volume type"),
        Expectation(path=f"{root}.Size", equals=spec.size_gib, what="size (GiB)"),
        Expectation(path=f"{root}.Encrypted || `false`", equals=spec.encrypted, what="encryption"),
        Expectation(path=f"{root}.KmsKeyId", equals=spec.kms_key_id, what="KMS key"),
        tags_unchanged(f"{root}.Tags", spec.tags),
    ]
    if spec.explicit_iops is not None:
        checks.append(Expectation(path=f"{root}.Iops", equals=spec.iops, what="provisioned IOPS"))
    if spec.explicit_throughput is not None:
        checks.append(
            Expectation(
                path=f"{root}.Throughput", equals=spec.throughput_mibps, what="throughput (MiB/s)"
            )
        )
    if include_az:
        checks.append(
            Expectation(
                path=f"{root}.AvailabilityZone",
                equals=spec.availability_zone,
                what="availability zone",
            )
        )
    return checks
