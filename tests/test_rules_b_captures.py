"""Real AWS responses (Cloud Custodian's recorded captures) through the scanners' parsing and
decisions of eip-unassociated, logs-retention and cloudfront-price-class.

The captures are vendored under tests/data (see its README).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from generator.aws.cost_explorer import unavailable
from generator.findings import Finding, SkippedResource
from generator.manifest.refs import resolve
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.cloudfront_price_class import (
    CloudFrontPriceClass,
    CloudFrontPriceClassSettings,
    DistributionRecord,
)
from generator.rules.eip_unassociated import EipUnassociated, EipUnassociatedSettings, ElasticIp
from generator.rules.logs_retention import LogsRetention, LogsRetentionSettings
from tests.captures import placebo_responses
from tests.rule_harness import MOTO_ACCOUNT, context

AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


def _split(found: list[Finding | SkippedResource]) -> tuple[list[Finding], list[SkippedResource]]:
    return (
        [f for f in found if isinstance(f, Finding)],
        [s for s in found if isinstance(s, SkippedResource)],
    )


def _valid_manifests(rule: Any, finding: Finding) -> None:
    validate_pair(rule.build_plan(finding), rule.build_rollback(finding), RULES)


# ---- eip-unassociated: DescribeAddresses ---------------------------------------------------


class _NoPtr:
    """DescribeAddressesAttribute answering 'no reverse DNS' (it is not in the captures)."""

    class _Pages:
        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return [{"Addresses": []}]

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_addresses_attribute"
        return self._Pages()


def _eip_findings(case: str) -> tuple[list[Finding], list[SkippedResource]]:
    response = dict(placebo_responses("ec2.DescribeAddresses"))[case]
    addresses = [ElasticIp.from_api(item) for item in response["Addresses"]]
    settings = EipUnassociatedSettings(min_unassociated_days=0)
    return _split(
        list(EipUnassociated().evaluate(context(as_of=AS_OF), settings, addresses, _NoPtr()))
    )


def test_every_describe_addresses_capture_parses_and_only_free_addresses_are_proposed() -> None:
    captures = list(placebo_responses("ec2.DescribeAddresses"))
    assert len(captures) >= 15
    for case, response in captures:
        findings, _ = _eip_findings(case)
        associated = {
            item["AllocationId"]
            for item in response["Addresses"]
            if item.get("AssociationId") or item.get("InstanceId")
        }
        assert not {f.resource_id for f in findings} & associated, case
        for finding in findings:
            _valid_manifests(EipUnassociated(), finding)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "test_release_detached_vpc/ec2.DescribeAddresses_1.json",
            {"eipalloc-38192131", "eipalloc-bbaf95b2"},
        ),
        ("test_eip_used_by/ec2.DescribeAddresses_1.json", {"eipalloc-0c2e1da5c1bb166f5"}),
        ("test_norelease_attached_nif/ec2.DescribeAddresses_2.json", {"eipalloc-c92129c0"}),
        ("test_address_disassociate/ec2.DescribeAddresses_3.json", {"eipalloc-02b147389a1522f9d"}),
        ("test_address_disassociate/ec2.DescribeAddresses_1.json", set()),
        ("test_release_attached_ec2/ec2.DescribeAddresses_2.json", set()),
    ],
)
def test_describe_addresses_findings(case: str, expected: set[str]) -> None:
    findings, _ = _eip_findings(case)
    assert {f.resource_id for f in findings} == expected


def test_the_network_border_group_a_capture_reports_is_kept_for_release_and_recovery() -> None:
    finding = _eip_findings("test_address_disassociate/ec2.DescribeAddresses_3.json")[0][0]
    rule = EipUnassociated()
    assert rule.build_plan(finding).step("release").call.params == {
        "AllocationId": "eipalloc-02b147389a1522f9d",
        "NetworkBorderGroup": "us-east-1",
    }
    allocate = rule.build_rollback(finding).step("allocate").call.params
    assert allocate == {
        "Domain": "vpc",
        "Address": "107.20.239.31",
        "NetworkBorderGroup": "us-east-1",
    }


# ---- logs-retention: DescribeLogGroups -----------------------------------------------------


class _NoTags:
    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:
        assert ":log-group:" in resourceArn and not resourceArn.endswith(":*")
        return {"tags": {}}


def _log_findings(
    case: str, settings: LogsRetentionSettings | None = None
) -> tuple[list[Finding], list[SkippedResource]]:
    """The captures' groups hold kilobytes: by default, propose whatever they save."""
    response = dict(placebo_responses("logs.DescribeLogGroups"))[case]
    settings = settings or LogsRetentionSettings(min_monthly_savings_usd=0)
    rule, ctx = LogsRetention(), context(as_of=AS_OF)
    found = list(rule.evaluate(ctx, settings, response["logGroups"], _NoTags()))
    return _split(found)


def test_every_describe_log_groups_capture_parses_and_only_never_expiring_data_is_proposed() -> (
    None
):
    captures = list(placebo_responses("logs.DescribeLogGroups"))
    assert len(captures) >= 30
    for case, response in captures:
        findings, _ = _log_findings(case)
        eligible = {
            g["logGroupName"]
            for g in response["logGroups"]
            if "retentionInDays" not in g and g.get("storedBytes", 0) > 0
        }
        assert {f.resource_id for f in findings} <= eligible, case
        for finding in findings:
            _valid_manifests(LogsRetention(), finding)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "test_log_group_retention/logs.DescribeLogGroups_1.json",
            {"/aws/lambda/ec2-instance-type", "/aws/lambda/process_resources"},
        ),
        ("test_log_group_retention/logs.DescribeLogGroups_2.json", set()),  # 14 days set
        ("test_log_group_rename_tag/logs.DescribeLogGroups_1.json", set()),  # all expire
        ("test_log_group_kms_filter/logs.DescribeLogGroups_1.json", set()),  # empty
        (
            "test_policy_resource_limits/logs.DescribeLogGroups_1.json",
            {"/aws/lambda/myIOTFunction"},
        ),
    ],
)
def test_describe_log_groups_findings(case: str, expected: set[str]) -> None:
    findings, _ = _log_findings(case)
    assert {f.resource_id for f in findings} == expected


def test_saving_of_a_2016_group_assumes_steady_ingestion() -> None:
    findings, _ = _log_findings("test_log_group_retention/logs.DescribeLogGroups_1.json")
    finding = next(f for f in findings if f.resource_id == "/aws/lambda/ec2-instance-type")
    # 32,987 bytes since 2016-08-08; almost all of it older than 90 days.
    assert not finding.cost.unknown
    assert "older than 90 days" in finding.cost.basis
    assert "98%" in finding.cost.basis or "97%" in finding.cost.basis


def test_with_default_thresholds_kilobyte_groups_are_left_alone_with_the_reason() -> None:
    case = "test_log_group_retention/logs.DescribeLogGroups_1.json"
    findings, skipped = _log_findings(case, LogsRetentionSettings())
    assert findings == []
    assert {s.resource_id for s in skipped} == {
        "/aws/lambda/ec2-instance-type",
        "/aws/lambda/process_resources",
    }
    assert all("under min_monthly_savings_usd=1.0" in s.reason for s in skipped)


def test_a_creation_time_in_the_future_makes_the_saving_unknown_not_negative() -> None:
    # A sanitised capture: creationTime 6441605581965 is in the year 2174.
    findings, _ = _log_findings("test_log_group_metric/logs.DescribeLogGroups_1.json")
    (finding,) = findings
    assert finding.resource_id == "/aws/lambda/myIOTFunction"
    assert finding.cost.unknown
    assert finding.cost.monthly_usd == 0


# ---- cloudfront-price-class: GetDistributionConfig -----------------------------------------


def _cloudfront(case: str, response: dict[str, Any]) -> tuple[list[Finding], list[SkippedResource]]:
    distribution_id = "E" + case.split("/")[0].upper().replace("_", "")[-12:]
    summary = {
        "Id": distribution_id,
        "ARN": f"arn:aws:cloudfront::{MOTO_ACCOUNT}:distribution/{distribution_id}",
    }
    record = DistributionRecord.from_config(distribution_id, response, summary)
    found = CloudFrontPriceClass().evaluate(
        context(as_of=AS_OF),
        CloudFrontPriceClassSettings(),
        [record],
        lambda: unavailable(AS_OF, 30, "not in the captures"),
        lambda _distribution: {},
    )
    return _split(list(found))


CLOUDFRONT_EXPECTED = {
    # PriceClass_All and enabled: proposed (savings unknown without Cost Explorer).
    "test_distrbution_disable/cloudfront.GetDistributionConfig_1.json": "finding",
    "test_distribution_waf/cloudfront.GetDistributionConfig_1.json": "finding",
    "test_distribution_wafv2_regex/cloudfront.GetDistributionConfig_1.json": "finding",
    # Disabled distributions serve nothing.
    "test_distrbution_custom_origin/cloudfront.GetDistributionConfig_1.json": "disabled",
    "test_distrbution_set_ssl/cloudfront.GetDistributionConfig_1.json": "disabled",
    # Already cheaper.
    "test_distribution_post_finding/cloudfront.GetDistributionConfig_1.json": "nothing",
    "test_distribution_update_deep_attribute/cloudfront.GetDistributionConfig_1.json": "nothing",
    # Trimmed captures without a PriceClass: never guessed.
    "test_distribution_check_logging_enabled/cloudfront.GetDistributionConfig_1.json": (
        "does not report a PriceClass"
    ),
}


def test_every_get_distribution_config_capture_parses_and_decides() -> None:
    captures = dict(placebo_responses("cloudfront.GetDistributionConfig"))
    assert len(captures) >= 16
    for case, response in captures.items():
        findings, skipped = _cloudfront(case, response)
        expected = CLOUDFRONT_EXPECTED.get(case)
        if expected == "finding":
            assert len(findings) == 1 and findings[0].cost.unknown, case
        elif expected == "nothing":
            assert findings == [] and skipped == [], case
        elif expected is not None:
            assert findings == [] and expected in skipped[0].reason, case
        for finding in findings:
            _valid_manifests(CloudFrontPriceClass(), finding)
            _merged_config_is_a_valid_update(finding, response)


def _merged_config_is_a_valid_update(finding: Finding, response: dict[str, Any]) -> None:
    """The apply's UpdateDistribution, resolved against the real configuration, is accepted
    by botocore and changes nothing but PriceClass."""
    update = CloudFrontPriceClass().build_plan(finding).step("update").call
    params = resolve(
        update.params,
        {"steps": {"read-config": {"ETag": response["ETag"], **response}}},
    )
    shape = get_session().get_service_model("cloudfront").operation_model("UpdateDistribution")
    report = ParamValidator().validate(params, shape.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert params["IfMatch"] == response["ETag"]
    assert {**params["DistributionConfig"], "PriceClass": "PriceClass_All"} == response[
        "DistributionConfig"
    ]
