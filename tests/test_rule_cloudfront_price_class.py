"""cloudfront-price-class: detect with Cost Explorer usage, apply, roll back on moto; the
ETag (IfMatch) conflict paths that moto never exercises, on botocore's Stubber."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from generator.aws.cost_explorer import cloudfront_transfer
from generator.config import parse_config
from generator.errors import AwsCallFailed, PrecheckFailed
from generator.findings import Cost, Finding
from generator.manifest.folder import RemediationFolder
from generator.manifest.validation import validate_pair
from generator.planner import plan_finding, write_remediation
from generator.rules import RULES
from generator.rules.cloudfront_price_class import (
    CloudFrontPriceClass,
    DistributionRecord,
    PriceClassChange,
)
from generator.scan import scan
from generator.state import SeenState
from tests import trusted
from tests.factories import finding_of
from tests.rule_harness import (
    MOTO_ACCOUNT,
    context,
    detect,
    executor,
    journal,
    moto_client,
    planned,
)

RULE = "cloudfront-price-class"
NOW = datetime(2026, 11, 28, tzinfo=UTC)
CE_SEED = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


def _distribution(
    comment: str = "site", *, price_class: str = "PriceClass_All", **tags: str
) -> str:
    config: dict[str, Any] = {
        "CallerReference": comment,
        "Comment": comment,
        "Enabled": True,
        "PriceClass": price_class,
        "Aliases": {"Quantity": 1, "Items": [f"{comment}.example.com"]},
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "web",
                    "DomainName": f"{comment}-origin.example.com",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "web",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    cloudfront = moto_client("cloudfront")
    if tags:
        items = [{"Key": k, "Value": v} for k, v in tags.items()]
        created = cloudfront.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": items}}
        )
    else:
        created = cloudfront.create_distribution(DistributionConfig=config)
    return str(created["Distribution"]["Id"])


def _seed_usage(gb: dict[str, float]) -> None:
    """The next GetCostAndUsage answer: CloudFront data transfer out by region code."""
    groups = [
        {
            "Keys": [f"{region}-DataTransfer-Out-Bytes"],
            "Metrics": {"UsageQuantity": {"Amount": str(amount), "Unit": "GB"}},
        }
        for region, amount in gb.items()
    ] + [
        {
            "Keys": ["US-Requests-Tier1"],
            "Metrics": {"UsageQuantity": {"Amount": "123456", "Unit": "Requests"}},
        }
    ]
    period = {"TimePeriod": {"Start": "2026-10-29", "End": "2026-11-28"}, "Total": {}}
    result = {"ResultsByTime": [{**period, "Groups": groups, "Estimated": False}]}
    assert requests.post(CE_SEED, json={"results": [result]}, timeout=5).status_code == 201


def _config(distribution_id: str) -> dict[str, Any]:
    return moto_client("cloudfront").get_distribution_config(Id=distribution_id)[  # type: ignore[no-any-return]
        "DistributionConfig"
    ]


def test_prices_the_saving_from_cost_explorer_usage(aws: None) -> None:
    did = _distribution()
    _distribution("cheap", price_class="PriceClass_100")
    _seed_usage({"US": 8000, "EU": 1500, "SA": 300, "AU": 200})

    finding = detect(RULE, context(as_of=NOW)).only()

    assert finding.resource_id == did
    assert finding.id == f"cloudfront-price-class-{MOTO_ACCOUNT}-us-east-1-{did}"
    # SA 300 GB x (0.110 - 0.085 US) over 30 days; AU viewers would move to pricier Asian
    # edges (0.120 > 0.114), which saves nothing.
    assert finding.cost.monthly_usd == round(300 * 0.025 * (730 / 24) / 30, 2)
    assert not finding.cost.unknown
    assert finding.reversibility == "full"
    assert finding.risk == "medium"  # 5% of the traffic gets slower
    assert any("500.0 GB of 10,000.0 GB (5.0%)" in e.value for e in finding.evidence)


def test_savings_are_unknown_without_cost_explorer(aws: None, tmp_path: Path) -> None:
    _distribution()
    finding = detect(RULE, context(as_of=NOW), use_cost_explorer=False).only()
    assert finding.cost.unknown
    assert "use_cost_explorer is off" in finding.cost.basis
    readme = plan_finding(finding).readme
    assert "**unknown**" in readme
    assert "higher latency" in readme


def test_savings_shared_by_several_distributions_are_unknown(aws: None) -> None:
    _distribution("one")
    _distribution("two")
    _seed_usage({"US": 8000, "SA": 300})
    result = detect(RULE, context(as_of=NOW))
    assert len(result.findings) == 2
    for finding in result.findings:
        assert finding.cost.unknown
        assert "2 distributions serve them" in finding.cost.basis


def test_leaves_alone_what_would_hurt_or_not_pay(aws: None) -> None:
    did = _distribution()
    _seed_usage({"US": 1000, "SA": 400})
    busy = detect(RULE, context(as_of=NOW))
    assert busy.findings == []
    assert "max_dropped_traffic_percent=10.0" in busy.skip_reason(did)

    quiet = detect(
        RULE, context(as_of=NOW), max_dropped_traffic_percent=50, min_monthly_savings_usd=100
    )
    assert "under min_monthly_savings_usd=100" in quiet.skip_reason(did)


def test_skip_tag_and_exclusions_apply(aws: None) -> None:
    did = _distribution(**{"reclaim:skip": "marketing wants it"})
    result = detect(RULE, context(as_of=NOW), use_cost_explorer=False)
    assert result.findings == []
    assert "skip tag" in result.skip_reason(did)


def test_apply_changes_only_the_price_class_and_rollback_restores_everything(
    aws: None, tmp_path: Path
) -> None:
    did = _distribution()
    original = _config(did)
    _seed_usage({"US": 8000, "EU": 1500, "SA": 300, "AU": 200})
    folder = planned(detect(RULE, context(as_of=NOW)).only(), tmp_path)

    executor().apply(folder)
    applied = _config(did)
    assert applied["PriceClass"] == "PriceClass_200"
    assert {**applied, "PriceClass": "PriceClass_All"} == original
    assert journal(folder)["apply"]["steps"][0]["outputs"]["DistributionConfig"] == original

    executor().rollback(folder)
    assert _config(did) == original


def test_apply_keeps_changes_made_after_the_scan(aws: None, tmp_path: Path) -> None:
    did = _distribution()
    folder = planned(detect(RULE, context(as_of=NOW), use_cost_explorer=False).only(), tmp_path)
    cloudfront = moto_client("cloudfront")
    current = cloudfront.get_distribution_config(Id=did)
    edited = {**current["DistributionConfig"], "Comment": "edited by the web team"}
    cloudfront.update_distribution(Id=did, IfMatch=current["ETag"], DistributionConfig=edited)

    executor().apply(folder)

    assert _config(did) == {**edited, "PriceClass": "PriceClass_200"}


def test_rollback_refuses_to_overwrite_later_changes(aws: None, tmp_path: Path) -> None:
    did = _distribution()
    folder = planned(detect(RULE, context(as_of=NOW), use_cost_explorer=False).only(), tmp_path)
    executor().apply(folder)
    cloudfront = moto_client("cloudfront")
    current = cloudfront.get_distribution_config(Id=did)
    edited = {**current["DistributionConfig"], "Comment": "edited after the apply"}
    cloudfront.update_distribution(Id=did, IfMatch=current["ETag"], DistributionConfig=edited)

    with pytest.raises(PrecheckFailed) as error:
        executor().rollback(folder)

    assert ".Comment is 'edited after the apply', expected 'site'" in error.value.message
    assert "by hand" in str(error.value.hint)
    assert _config(did) == edited


def test_scanned_once_per_account_through_us_east_1(aws: None, tmp_path: Path) -> None:
    did = _distribution()
    others_off = {
        name: {"enabled": False}
        for name in ("ebs-unattached", "eip-unassociated", "logs-retention")
    }
    config = parse_config(
        {
            "regions": ["eu-west-1", "ap-south-1"],
            "rules": {**others_off, RULE: {"use_cost_explorer": False}},
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )
    report = scan(config, as_of=NOW, state=SeenState(None))
    assert [(f.resource_id, f.region) for f in report.findings] == [(did, "us-east-1")]
    assert report.errors == ()


def test_manifests_validate(aws: None, tmp_path: Path) -> None:
    _distribution()
    folder = planned(detect(RULE, context(as_of=NOW), use_cost_explorer=False).only(), tmp_path)
    remediation = RemediationFolder(folder)
    validate_pair(remediation.load_plan(), remediation.load_rollback(), RULES)


# ---- the ETag conflict paths, on Stubber ------------------------------------------------

DID = "E2QWRUHAPOMQZL"
ARN = f"arn:aws:cloudfront::{MOTO_ACCOUNT}:distribution/{DID}"
BASE_CONFIG: dict[str, Any] = {
    "CallerReference": "ref",
    "Comment": "site",
    "Enabled": True,
    "PriceClass": "PriceClass_All",
    "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "origin.example.com"}]},
    "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all"},
}


def _with(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(config), **changes}


def _stub_finding() -> Finding:
    record = PriceClassChange(
        distribution=DistributionRecord(
            id=DID, arn=ARN, price_class="PriceClass_All", enabled=True
        ),
        target_price_class="PriceClass_200",
        dropped_regions=("SA", "AU"),
        skip_tag="reclaim:skip",
        deploy_timeout_minutes=5,
    )
    return finding_of(
        RULE,
        record,
        account=MOTO_ACCOUNT,
        cost=Cost(monthly_usd=0, estimated=False, unknown=True, price_region="global", basis="b"),
        risk="medium",
        as_of=NOW,
    )


class StubbedCloudFront:
    def __init__(self, tmp_path: Path) -> None:
        self.client = boto3.client(
            "cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stub = Stubber(self.client)
        self.folder = write_remediation(plan_finding(_stub_finding()), tmp_path)
        self.run = executor(lambda service, region: self.client, trusted.BelieveTheRecord())

    def read(self, etag: str, config: dict[str, Any]) -> None:
        self.stub.add_response(
            "get_distribution_config",
            {"ETag": etag, "DistributionConfig": copy.deepcopy(config)},
            {"Id": DID},
        )

    def tags(self) -> None:
        self.stub.add_response("list_tags_for_resource", {"Tags": {"Items": []}}, {"Resource": ARN})

    def update(self, if_match: str, config: dict[str, Any], *, conflict: bool = False) -> None:
        expected = {"Id": DID, "IfMatch": if_match, "DistributionConfig": config}
        if conflict:
            self.stub.add_client_error(
                "update_distribution",
                service_error_code="PreconditionFailed",
                service_message="The If-Match version is missing or not valid.",
                http_status_code=412,
                expected_params=expected,
            )
        else:
            self.stub.add_response(
                "update_distribution",
                {"ETag": "E-NEW", "Distribution": _distribution_body(config)},
                expected,
            )

    def deployed(self, config: dict[str, Any]) -> None:
        self.stub.add_response(
            "get_distribution",
            {"ETag": "E-NEW", "Distribution": _distribution_body(config)},
            {"Id": DID},
        )


def _distribution_body(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": DID,
        "ARN": ARN,
        "Status": "Deployed",
        "LastModifiedTime": NOW,
        "InProgressInvalidationBatches": 0,
        "DomainName": "d111111abcdef8.cloudfront.net",
        "DistributionConfig": copy.deepcopy(config),
    }


def test_conflict_rereads_rechecks_and_merges_into_the_fresh_config(tmp_path: Path) -> None:
    cf = StubbedCloudFront(tmp_path)
    theirs = _with(BASE_CONFIG, Comment="changed by someone else meanwhile")
    cf.read("E1", BASE_CONFIG)  # pre-check
    cf.tags()
    cf.read("E1", BASE_CONFIG)  # already-done lookup: not yet
    cf.update("E1", _with(BASE_CONFIG, PriceClass="PriceClass_200"), conflict=True)
    cf.read("E2", theirs)  # re-read after 412: still PriceClass_All, so retry
    cf.update("E2", _with(theirs, PriceClass="PriceClass_200"))
    cf.deployed(_with(theirs, PriceClass="PriceClass_200"))
    cf.read("E-NEW", _with(theirs, PriceClass="PriceClass_200"))  # verify

    with cf.stub:
        result = cf.run.apply(cf.folder)
        cf.stub.assert_no_pending_responses()

    assert result.output("update", "ETag") == "E-NEW"
    recorded = journal(cf.folder)["apply"]
    read = next(s for s in recorded["steps"] if s["step_id"] == "read-config")
    # The rollback restores the configuration as it was just before reclaim's change.
    assert read["outputs"] == {"ETag": "E2", "DistributionConfig": theirs}
    update = next(s for s in recorded["steps"] if s["step_id"] == "update")
    assert update["request"]["IfMatch"] == "E2"
    assert "PreconditionFailed" in update["note"]


def test_conflict_that_changed_the_price_class_stops_without_overwriting(tmp_path: Path) -> None:
    cf = StubbedCloudFront(tmp_path)
    cf.read("E1", BASE_CONFIG)
    cf.tags()
    cf.read("E1", BASE_CONFIG)
    cf.update("E1", _with(BASE_CONFIG, PriceClass="PriceClass_200"), conflict=True)
    cf.read("E2", _with(BASE_CONFIG, PriceClass="PriceClass_100"))  # someone chose already

    with cf.stub, pytest.raises(PrecheckFailed) as error:
        cf.run.apply(cf.folder)
    cf.stub.assert_no_pending_responses()  # and no second UpdateDistribution was sent

    assert "did not overwrite their change" in error.value.message
    assert "price class: expected 'PriceClass_All', found 'PriceClass_100'" in error.value.message
    assert journal(cf.folder)["apply"]["status"] == "aborted"


def test_conflicts_that_keep_coming_fail_after_three_attempts(tmp_path: Path) -> None:
    cf = StubbedCloudFront(tmp_path)
    cf.read("E1", BASE_CONFIG)
    cf.tags()
    cf.read("E1", BASE_CONFIG)
    for attempt, etag in enumerate(("E1", "E2", "E3")):
        if attempt:
            cf.read(etag, BASE_CONFIG)
        cf.update(etag, _with(BASE_CONFIG, PriceClass="PriceClass_200"), conflict=True)

    with cf.stub, pytest.raises(AwsCallFailed, match="kept changing: 3 attempts"):
        cf.run.apply(cf.folder)
    cf.stub.assert_no_pending_responses()
    assert journal(cf.folder)["apply"]["status"] == "failed"


def test_rollback_writes_the_original_with_a_fresh_etag_after_a_conflict(tmp_path: Path) -> None:
    cf = StubbedCloudFront(tmp_path)
    changed = _with(BASE_CONFIG, PriceClass="PriceClass_200")
    cf.read("E1", BASE_CONFIG)
    cf.tags()
    cf.read("E1", BASE_CONFIG)
    cf.update("E1", changed)
    cf.deployed(changed)
    cf.read("E-NEW", changed)
    with cf.stub:
        cf.run.apply(cf.folder)

    cf.read("E7", changed)  # rollback pre-check: as the apply left it
    cf.read("E7", changed)  # already-done lookup: not yet
    cf.update("E7", BASE_CONFIG, conflict=True)  # e.g. a deployment bumped the ETag
    cf.read("E8", changed)  # re-read: still as the apply left it
    cf.update("E8", BASE_CONFIG)
    cf.deployed(BASE_CONFIG)
    cf.read("E9", BASE_CONFIG)  # verify: the recorded original
    with cf.stub:
        cf.run.rollback(cf.folder)
        cf.stub.assert_no_pending_responses()
    assert journal(cf.folder)["rollback"]["status"] == "completed"


def test_rule_declares_the_calls_its_manifests_make() -> None:
    rule = CloudFrontPriceClass()
    plan, rollback = rule.build_plan(_stub_finding()), rule.build_rollback(_stub_finding())
    validate_pair(plan, rollback, RULES)
    assert ("cloudfront", "UpdateDistribution") in rule.calls.apply
    assert ("ce", "GetCostAndUsage") in rule.calls.scan
    assert ("ce", "GetCostAndUsage") not in rule.calls.apply


# ---- Cost Explorer reading --------------------------------------------------------------


def _ce() -> tuple[Any, Stubber]:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def _page(groups: dict[str, str], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-10-29", "End": "2026-11-01"},
                "Groups": [
                    {"Keys": [key], "Metrics": {"UsageQuantity": {"Amount": amount, "Unit": "GB"}}}
                    for key, amount in groups.items()
                ],
            }
        ]
    }
    if token:
        page["NextPageToken"] = token
    return page


def test_cost_explorer_transfer_is_summed_by_region_across_pages() -> None:
    client, stub = _ce()
    request = {
        "TimePeriod": {"Start": "2026-10-29", "End": "2026-11-28"},
        "Granularity": "MONTHLY",
        "Metrics": ["UsageQuantity"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon CloudFront"]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    stub.add_response(
        "get_cost_and_usage",
        _page({"SA-DataTransfer-Out-Bytes": "10.5", "SA-Requests-Tier2-HTTPS": "99"}, "next"),
        request,
    )
    stub.add_response(
        "get_cost_and_usage",
        _page({"SA-DataTransfer-Out-Bytes": "4.5", "US-DataTransfer-Out-Bytes": "100"}),
        {**request, "NextPageToken": "next"},
    )
    with stub:
        transfer = cloudfront_transfer(client, NOW, 30)
    assert transfer.gb_by_region == {"SA": 15.0, "US": 100.0}
    assert transfer.available and transfer.days == 30


@pytest.mark.parametrize("code", ["AccessDeniedException", "DataUnavailableException"])
def test_cost_explorer_refusal_means_unknown_not_an_error(code: str) -> None:
    client, stub = _ce()
    stub.add_client_error("get_cost_and_usage", service_error_code=code, service_message="no")
    with stub:
        transfer = cloudfront_transfer(client, NOW, 30)
    assert not transfer.available
    assert transfer.unavailable_reason == f"{code}: no"


def test_cost_explorer_throttling_is_a_scan_error() -> None:
    client, stub = _ce()
    stub.add_client_error("get_cost_and_usage", service_error_code="LimitExceededException")
    with stub, pytest.raises(ClientError):
        cloudfront_transfer(client, NOW, 30)
