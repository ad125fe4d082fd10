"""Every recorded DescribeVolumes response from real accounts goes through the scanner's parser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from generator.rules.declared_calls import detect_declared
from generator.rules.ebs_volume import VolumeSpec
from tests.captures import files, is_error, load

CAPTURES = files("ec2.DescribeVolumes")


@pytest.mark.parametrize(
    "capture", [c for c in CAPTURES if not is_error(c)], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_real_describe_volumes_responses_parse(capture: Path):
    volumes = load(capture).get("Volumes", [])
    for item in volumes:
        spec = VolumeSpec.from_api(item)
        assert spec.volume_id == item["VolumeId"]
        assert spec.size_gib == item["Size"]
        assert spec.attachment_count == len(item.get("Attachments") or [])
        if spec.volume_type in ("io1", "io2"):
            assert spec.explicit_iops == item["Iops"]


def test_captures_cover_attached_and_available_volumes():
    states = {VolumeSpec.from_api(v).state for c in CAPTURES for v in load(c).get("Volumes", [])}
    assert {"in-use", "available"} <= states


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_detection_runs_on_real_responses(capture: Path, tmp_path: Path):
    """The whole detection path on a recorded page: available volumes become findings (they
    are far past the threshold as of 2030), everything else is never proposed."""
    from datetime import UTC

    import boto3
    from botocore.stub import Stubber

    from generator.aws.prices import bundled_prices
    from generator.exclusions import Exclusions
    from generator.findings import Finding
    from generator.rules.context import ScanContext
    from generator.rules.ebs_unattached import EbsUnattached, EbsUnattachedSettings
    from generator.state import SeenState

    data = load(capture)
    data.pop("ResponseMetadata", None)
    if is_error(capture):
        from botocore.exceptions import ClientError

        ec2 = boto3.client("ec2", region_name="us-east-1")
        with Stubber(ec2) as stub, pytest.raises(ClientError):
            stub.add_client_error("describe_volumes", data["Error"]["Code"])
            ctx = ScanContext(
                account_id="123456789012",
                region="us-east-1",
                as_of=datetime(2030, 1, 1, tzinfo=UTC),
                client={"ec2": ec2}.__getitem__,
                prices=bundled_prices(),
                exclusions=Exclusions(),
                state=SeenState(None),
            )
            list(
                detect_declared(
                    EbsUnattached(),
                    ctx,
                    EbsUnattachedSettings(use_cloudtrail=False, use_recycle_bin=False),
                )
            )
        return
    volumes = [VolumeSpec.from_api(v) for v in data.get("Volumes", [])]
    data.pop("NextToken", None)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    state = SeenState(tmp_path / "state.json")
    for volume in volumes:  # an earlier scan saw them all
        state.first_seen(
            "ebs-unattached",
            f"123456789012/us-east-1/{volume.volume_id}",
            datetime(2020, 1, 1, tzinfo=UTC),
        )
    ctx = ScanContext(
        account_id="123456789012",
        region="us-east-1",
        as_of=as_of,
        client={"ec2": ec2}.__getitem__,
        prices=bundled_prices(),
        exclusions=Exclusions(),
        state=state,
    )
    with Stubber(ec2) as stub:
        stub.add_response("describe_volumes", data, {"MaxResults": 500})
        items = list(
            detect_declared(
                EbsUnattached(),
                ctx,
                EbsUnattachedSettings(use_cloudtrail=False, use_recycle_bin=False),
            )
        )
    found = {i.resource_id for i in items if isinstance(i, Finding)}
    expected = {
        v.volume_id
        for v in volumes
        if v.state == "available"
        and not v.attachment_count
        and not v.multi_attach
        and "reclaim:skip" not in v.tags
    }
    assert found == expected
    for item in items:
        if isinstance(item, Finding):
            assert item.cost.monthly_usd > 0 or item.cost.estimated
