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
    assert ec2_here.meta.service_model is ec2_there.meta.service_model
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


def test_threads_creating_their_first_clients_at_once_read_each_model_once(aws: Any) -> None:
    """botocore's loader caches what it has read, not what it is reading: 16 threads asking
    at once each listed every service's data directory (generator.service_models)."""
    from concurrent.futures import ThreadPoolExecutor

    from generator.service_models import shared_loader

    loader = shared_loader()
    listed: list[str] = []
    original = type(loader).__mro__[1].list_available_services

    def counting(self: Any, type_name: str) -> Any:
        listed.append(type_name)
        return original(self, type_name)

    loader._cache.clear()  # botocore's own per-loader cache: start cold
    import botocore.loaders

    previous = botocore.loaders.Loader.list_available_services
    botocore.loaders.Loader.list_available_services = counting  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda _: loader.load_service_model("rbin", "service-2"), range(16)))
    finally:
        botocore.loaders.Loader.list_available_services = previous  # type: ignore[method-assign]

    assert listed == ["service-2"]
