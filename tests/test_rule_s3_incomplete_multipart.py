"""s3-incomplete-multipart: detect on moto, apply (one lifecycle rule added), roll back (the
recorded configuration written back, or deleted), and compare with the original.

moto dates every multipart upload 2010-11-10, so every upload is stale to a scan today.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from generator.aws.prices import bundled_prices
from generator.errors import PrecheckFailed
from generator.rules.s3_incomplete_multipart import RULE_ID
from tests.rule_harness import context, detect, executor, journal, moto_client, planned

RULE = "s3-incomplete-multipart"
PART = 64 * 1024  # moto does not hold an unfinished upload to the 5 MiB minimum
EXISTING_RULES: list[dict[str, Any]] = [
    {
        "ID": "expire-logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    },
    {
        "ID": "archive",
        "Status": "Disabled",
        "Filter": {"And": {"Prefix": "old/", "Tags": [{"Key": "tier", "Value": "cold"}]}},
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
    },
]


def _detect(region: str = "us-east-1", **settings: Any) -> Any:
    """moto's parts are megabytes: price them, but propose whatever they save."""
    ctx = context(as_of=datetime.now(UTC), region=region)
    return detect(RULE, ctx, **{"enabled": True, "min_monthly_savings_usd": 0, **settings})


def _bucket(
    name: str,
    *,
    region: str = "us-east-1",
    uploads: tuple[str, ...] = ("data/big.bin",),
    parts: int = 1,
    tags: dict[str, str] | None = None,
    rules: list[dict[str, Any]] | None = None,
) -> Any:
    s3 = moto_client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    for key in uploads:
        upload = s3.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
        for number in range(1, parts + 1):
            s3.upload_part(
                Bucket=name, Key=key, UploadId=upload, PartNumber=number, Body=b"x" * PART
            )
    if tags:
        s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )
    if rules is not None:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return s3


def _lifecycle(name: str, region: str = "us-east-1") -> dict[str, Any] | None:
    """The whole configuration as S3 answers it; None when there is none."""
    try:
        answer = moto_client("s3", region).get_bucket_lifecycle_configuration(Bucket=name)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return None
    answer.pop("ResponseMetadata")
    return answer  # type: ignore[no-any-return]


def test_finds_buckets_whose_stale_uploads_no_rule_aborts(aws: None) -> None:
    _bucket("no-lifecycle", parts=2)
    _bucket("other-rules", rules=EXISTING_RULES)
    _bucket(
        "aborts-tmp-only",
        uploads=("data/x",),
        rules=[
            {
                "ID": "abort-tmp",
                "Status": "Enabled",
                "Filter": {"Prefix": "tmp/"},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
            }
        ],
    )
    _bucket(
        "aborts-all",
        rules=[
            {
                "ID": "abort",
                "Status": "Enabled",
                "Filter": {},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
            }
        ],
    )
    _bucket("kept", tags={"reclaim:skip": "yes"})
    _bucket("nothing-pending", uploads=())

    result = _detect()

    assert sorted(f.resource_id for f in result.findings) == [
        "aborts-tmp-only",
        "no-lifecycle",
        "other-rules",
    ]
    assert "already aborts" in result.skip_reason("aborts-all")
    assert "skip tag" in result.skip_reason("kept")
    assert not any(s.resource_id == "nothing-pending" for s in result.skipped)
    finding = result.finding("no-lifecycle")
    assert finding.id == "s3-incomplete-multipart-123456789012-us-east-1-no-lifecycle"
    expected = 2 * PART / 1024**3 * bundled_prices().s3.standard_gb_month  # type: ignore[union-attr]
    assert finding.cost.monthly_usd == round(expected, 2)
    assert "parts of 1 stale upload(s)" in finding.cost.basis
    assert "S3 Standard" in finding.cost.basis


def test_each_bucket_is_judged_once_by_the_region_it_lives_in(aws: None) -> None:
    _bucket("in-virginia")
    _bucket("in-ireland", region="eu-west-1")

    virginia, ireland = _detect("us-east-1"), _detect("eu-west-1")

    assert [f.resource_id for f in virginia.findings] == ["in-virginia"]
    assert [f.resource_id for f in ireland.findings] == ["in-ireland"]
    assert ireland.only().region == "eu-west-1"


def test_young_uploads_and_cheap_buckets_are_left_alone(aws: None) -> None:
    _bucket("young")
    assert _detect(min_upload_age_days=100_000).findings == []  # moto's uploads are from 2010
    result = _detect(min_monthly_savings_usd=1.0)
    assert result.findings == []
    assert "under min_monthly_savings_usd=1.0" in result.skip_reason("young")


def test_pricing_beyond_the_sized_uploads_is_a_lower_bound(aws: None) -> None:
    _bucket("many", uploads=("a", "b", "c"))
    finding = _detect(max_uploads_sized=1).only()
    assert finding.cost.estimated
    assert "1 of 3 stale uploads" in finding.cost.basis


def test_apply_then_rollback_restores_the_exact_configuration(aws: None, tmp_path: Path) -> None:
    _bucket("with-rules", rules=EXISTING_RULES, tags={"team": "data"})
    original = _lifecycle("with-rules")
    folder = planned(_detect().only(), tmp_path)

    executor().apply(folder)
    applied = _lifecycle("with-rules")
    assert applied is not None and original is not None
    ours = [r for r in applied["Rules"] if r.get("ID") == RULE_ID]
    assert ours and ours[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert [r for r in applied["Rules"] if r.get("ID") != RULE_ID] == original["Rules"]
    recorded = next(s for s in journal(folder)["apply"]["steps"] if s["step_id"] == "record")
    assert recorded["outputs"]["Rules"] == original["Rules"]

    executor().rollback(folder)
    assert _lifecycle("with-rules") == original  # every rule, and the transition default
    assert journal(folder)["rollback"]["status"] == "completed"


def test_without_a_configuration_the_rollback_deletes_the_one_apply_made(
    aws: None, tmp_path: Path
) -> None:
    _bucket("bare")
    folder = planned(_detect().only(), tmp_path)

    executor().apply(folder)
    applied = _lifecycle("bare")
    assert applied is not None and [r["ID"] for r in applied["Rules"]] == [RULE_ID]

    executor().rollback(folder)
    assert _lifecycle("bare") is None


def test_apply_refuses_a_configuration_changed_since_the_scan(aws: None, tmp_path: Path) -> None:
    s3 = _bucket("changing", rules=EXISTING_RULES[:1])
    folder = planned(_detect().only(), tmp_path)
    changed = [*EXISTING_RULES[:1], {**EXISTING_RULES[0], "ID": "new", "Filter": {"Prefix": "n/"}}]
    s3.put_bucket_lifecycle_configuration(
        Bucket="changing", LifecycleConfiguration={"Rules": changed}
    )
    before = _lifecycle("changing")

    with pytest.raises(PrecheckFailed):
        executor().apply(folder)
    assert _lifecycle("changing") == before  # the other person's rule is still there


def test_apply_refuses_a_bucket_given_a_configuration_since_the_scan(
    aws: None, tmp_path: Path
) -> None:
    s3 = _bucket("bare")
    folder = planned(_detect().only(), tmp_path)
    s3.put_bucket_lifecycle_configuration(
        Bucket="bare", LifecycleConfiguration={"Rules": EXISTING_RULES[:1]}
    )
    with pytest.raises(PrecheckFailed):
        executor().apply(folder)
    after = _lifecycle("bare")
    assert after is not None and [r["ID"] for r in after["Rules"]] == ["expire-logs"]


def test_rollback_never_overwrites_a_change_made_after_the_apply(aws: None, tmp_path: Path) -> None:
    s3 = _bucket("busy", rules=EXISTING_RULES[:1])
    folder = planned(_detect().only(), tmp_path)
    executor().apply(folder)
    applied = _lifecycle("busy")
    assert applied is not None
    extra = {
        "ID": "later",
        "Status": "Enabled",
        "Filter": {"Prefix": "x/"},
        "Expiration": {"Days": 5},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="busy", LifecycleConfiguration={"Rules": [*applied["Rules"], extra]}
    )
    before = _lifecycle("busy")

    with pytest.raises(PrecheckFailed, match="lifecycle rules"):
        executor().rollback(folder)
    assert _lifecycle("busy") == before


def test_apply_refuses_when_the_skip_tag_appeared(aws: None, tmp_path: Path) -> None:
    s3 = _bucket("tagged-later", tags={"team": "data"})
    folder = planned(_detect().only(), tmp_path)
    s3.put_bucket_tagging(
        Bucket="tagged-later",
        Tagging={
            "TagSet": [{"Key": "team", "Value": "data"}, {"Key": "reclaim:skip", "Value": ""}]
        },
    )
    with pytest.raises(PrecheckFailed, match="skip tag"):
        executor().apply(folder)
    assert _lifecycle("tagged-later") is None


def test_legacy_prefix_rules_get_a_rule_in_the_same_form(aws: None, tmp_path: Path) -> None:
    from generator.rules import RULES

    _bucket("legacy", rules=EXISTING_RULES[:1])
    finding = _detect().only()
    resource = dict(finding.resource)
    resource["lifecycle"] = {
        "rules": [{"ID": "old", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 1}}],
        "transition_default_minimum_object_size": None,
    }
    legacy = finding.model_copy(update={"resource": resource})
    put = RULES[RULE].build_plan(legacy).step("add-rule").call.params
    written = put["LifecycleConfiguration"]["Rules"]  # type: ignore[index,call-overload]
    assert written[-1]["Prefix"] == "" and "Filter" not in written[-1]


def test_the_rule_is_off_unless_turned_on() -> None:
    """Its write grant (s3:PutLifecycleConfiguration) can also write an expiring rule:
    nobody gets it by upgrading reclaim."""
    from generator.rules import RULES

    assert RULES[RULE].settings_model().enabled is False
