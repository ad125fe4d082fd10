"""reclaim's response timestamp parser reads the same instants as botocore's, faster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from generator.aws.session import AccountSession
from generator.aws.timestamps import parse_timestamp

REGION = "us-east-1"

instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(instants, offsets)
def test_iso_8601_strings_give_botocore_s_instant(instant: datetime, zone: timezone) -> None:
    for text in (
        instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # EC2's and S3's form
        instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        instant.astimezone(zone).isoformat(),
    ):
        ours = parse_timestamp(text)
        assert ours.tzinfo is not None
        assert ours == botocore_parse_timestamp(text), text


@given(instants)
def test_epoch_numbers_give_botocore_s_instant(instant: datetime) -> None:
    seconds = instant.timestamp()
    for value in (seconds, int(seconds)):
        ours = parse_timestamp(value)
        assert ours.tzinfo is not None
        assert ours == botocore_parse_timestamp(value)


@pytest.mark.parametrize(
    "value",
    [
        "Thu, 28 Nov 2024 16:50:05 GMT",  # RFC 822, as in HTTP headers
        "1732812605",  # epoch seconds as a string
        "1732812605.25",
        "2024-11-28",  # a date alone: botocore's reading, not fromisoformat's
        "2024-11-28T16:50:05",  # no zone: botocore decides what it means
    ],
)
def test_other_forms_are_botocore_s_answer_exactly(value: str) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
    assert (ours, ours.utcoffset()) == (theirs, theirs.utcoffset())


def test_nonsense_fails_as_botocore_fails() -> None:
    with pytest.raises(ValueError):
        botocore_parse_timestamp("not a time")
    with pytest.raises(ValueError):
        parse_timestamp("not a time")


@mock_aws
def test_reclaim_s_clients_parse_with_it() -> None:
    """EC2 (XML, ISO strings) and CloudWatch (CBOR, epoch numbers) both come back in UTC
    objects, which only reclaim's parser makes (botocore's uses the local zone)."""
    session = AccountSession()
    ec2 = session.client("ec2", REGION)
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    created = ec2.describe_volumes()["Volumes"][0]["CreateTime"]
    assert created.tzinfo is UTC
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)

    cloudwatch = session.client("cloudwatch", REGION)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    cloudwatch.put_metric_data(
        Namespace="Test", MetricData=[{"MetricName": "m", "Timestamp": when, "Value": 1.0}]
    )
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "Test", "MetricName": "m"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=when - timedelta(hours=1),
        EndTime=when + timedelta(hours=1),
    )["MetricDataResults"][0]
    assert result["Timestamps"] == [when]
    assert result["Timestamps"][0].tzinfo is UTC
