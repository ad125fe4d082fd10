"""Clients of reclaim's sessions share one class per service (generator.aws.client_classes):
the class, a method per API operation, is what most of a client's creation costs."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from generator.aws.session import new_session


def test_clients_of_reclaims_sessions_share_one_class_per_service(aws: Any) -> None:
    first, second = new_session(), new_session()

    ec2_here = first.client("ec2", region_name="us-east-1")
    ec2_there = second.client("ec2", region_name="eu-west-1")
    sts = first.client("sts", region_name="us-east-1")

    assert type(ec2_here) is type(ec2_there)
    assert type(sts) is not type(ec2_here)
    # The instance keeps its own region, endpoint and credentials: only the class is shared.
    assert (ec2_here.meta.region_name, ec2_there.meta.region_name) == ("us-east-1", "eu-west-1")
    assert ec2_here.meta.endpoint_url != ec2_there.meta.endpoint_url


def test_a_shared_class_client_calls_aws_in_its_own_region(aws: Any) -> None:
    with mock_aws():
        here = new_session().client("ec2", region_name="us-east-1")
        there = new_session().client("ec2", region_name="eu-west-1")
        volume = here.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]

        assert [v["VolumeId"] for v in here.describe_volumes()["Volumes"]] == [volume]
        assert there.describe_volumes()["Volumes"] == []


def test_the_class_keeps_what_boto3_adds_to_it_and_others_sessions_are_left_alone(
    aws: Any,
) -> None:
    ours = new_session().client("s3", region_name="us-east-1")
    plain = boto3.client("s3", region_name="us-east-1")

    assert callable(getattr(ours, "upload_file", None))  # boto3's creating-client-class handler
    assert type(plain) is not type(ours)
    assert type(boto3.client("s3", region_name="us-east-1")) is not type(plain)
