"""The manifest machinery for whole-document APIs: merges, run-time values in parameters and
expectations, and the retry-on-conflict policy's static checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from generator.errors import ManifestError
from generator.executor.calls import unmet
from generator.findings import Cost, Finding, FindingsReport
from generator.manifest.models import AwsCall, Expectation, Plan, RetryOnConflict, Step
from generator.manifest.refs import iter_refs, resolve
from generator.manifest.validation import (
    check_conflict_policies,
    check_references,
    validate_call_params,
)
from generator.planner import plan_finding
from generator.propose import proposal_for
from generator.report_format import findings_markdown, findings_table
from generator.rules.cloudfront_price_class import (
    CloudFrontPriceClass,
    DistributionRecord,
    PriceClassChange,
)

MERGE = {
    "$merge": {
        "base": {"$from": "steps.read.Doc"},
        "set": {"PriceClass": "PriceClass_200", "Logging": {"Enabled": True}},
    }
}


def test_merge_changes_only_the_named_keys_recursively() -> None:
    document = {
        "PriceClass": "PriceClass_All",
        "Logging": {"Enabled": False, "Bucket": "logs"},
        "Origins": {"Quantity": 1, "Items": [{"Id": "a"}]},
    }
    resolved = resolve({"Config": MERGE}, {"steps": {"read": {"Doc": document}}})
    assert resolved == {
        "Config": {
            "PriceClass": "PriceClass_200",
            "Logging": {"Enabled": True, "Bucket": "logs"},
            "Origins": {"Quantity": 1, "Items": [{"Id": "a"}]},
        }
    }
    assert document["PriceClass"] == "PriceClass_All"  # the recorded copy is untouched


def test_merge_references_are_found_for_validation() -> None:
    assert list(iter_refs({"Config": MERGE})) == [("steps", "read", "Doc")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"$merge": {"base": {"$from": "steps.read.Doc"}}}, "malformed merge"),
        ({"$merge": {"base": {}, "set": "PriceClass_200"}}, "malformed merge"),
        (MERGE, "not a document"),
    ],
)
def test_bad_merges_are_manifest_errors(value: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        resolve(value, {"steps": {"read": {"Doc": "a string"}}})


def test_run_time_values_validate_wherever_they_stand() -> None:
    validate_call_params(
        AwsCall(
            service="cloudfront",
            operation="UpdateDistribution",
            params={
                "Id": "E1",
                "IfMatch": {"$from": "steps.read.ETag"},
                "DistributionConfig": MERGE,
            },
        ),
        "test",
    )
    validate_call_params(
        AwsCall(
            service="ec2",
            operation="DescribeAddresses",
            params={"AllocationIds": [{"$from": "steps.allocate.AllocationId"}, "eipalloc-1"]},
        ),
        "test",
    )


def test_literal_parameters_next_to_run_time_values_are_still_checked() -> None:
    with pytest.raises(ManifestError, match="Invalid type for parameter Id"):
        validate_call_params(
            AwsCall(
                service="cloudfront",
                operation="UpdateDistribution",
                params={
                    "Id": 5,
                    "IfMatch": {"$from": "steps.read.ETag"},
                    "DistributionConfig": MERGE,
                },
            ),
            "test",
        )
    with pytest.raises(ManifestError, match="AllocationIds\\[1\\]"):
        validate_call_params(
            AwsCall(
                service="ec2",
                operation="DescribeAddresses",
                params={"AllocationIds": [{"$from": "steps.a.Id"}, 7]},
            ),
            "test",
        )


def _plan() -> Plan:
    record = PriceClassChange(
        distribution=DistributionRecord(
            id="E1",
            arn="arn:aws:cloudfront::123456789012:distribution/E1",
            price_class="PriceClass_All",
            enabled=True,
        ),
        target_price_class="PriceClass_100",
        dropped_regions=("ZA", "ME", "IN", "JP", "AP", "SA", "AU"),
        skip_tag="reclaim:skip",
        deploy_timeout_minutes=5,
    )
    finding = Finding(
        id="cloudfront-price-class-123456789012-us-east-1-E1",
        rule="cloudfront-price-class",
        account="123456789012",
        region="us-east-1",
        resource_type="AWS::CloudFront::Distribution",
        resource_id="E1",
        title="Move E1",
        observed_at=datetime(2026, 11, 28, tzinfo=UTC),
        cost=Cost(monthly_usd=0, estimated=False, unknown=True, price_region="global", basis="why"),
        reversibility="full",
        risk="medium",
        evidence=(),
        resource=record.model_dump(mode="json"),
    )
    return CloudFrontPriceClass().build_plan(finding)


def _with_update(plan: Plan, **changes: Any) -> Plan:
    steps = tuple(s.model_copy(update=changes) if s.id == "update" else s for s in plan.steps)
    return plan.model_copy(update={"steps": steps})


def test_the_cloudfront_plan_passes_the_conflict_policy_checks() -> None:
    check_conflict_policies(_plan())


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            RetryOnConflict(error_code="PreconditionFailed", reread_step="verify"),
            "not an earlier step",
        ),
        (
            RetryOnConflict(error_code="PreconditionFailed", reread_step="nope"),
            "not an earlier step",
        ),
        (
            RetryOnConflict(error_code="PreconditionFailed", reread_step="precheck-tags"),
            "uses none of its outputs",
        ),
    ],
)
def test_conflict_policies_must_reread_an_earlier_read_the_call_uses(
    policy: RetryOnConflict, message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        check_conflict_policies(_with_update(_plan(), on_conflict=policy))


def test_conflict_policy_is_refused_on_a_read_only_step() -> None:
    plan = _plan()
    verify = plan.step("verify").model_copy(
        update={"on_conflict": RetryOnConflict(error_code="X", reread_step="read-config")}
    )
    broken = plan.model_copy(update={"steps": (*plan.steps[:-1], verify)})
    with pytest.raises(ManifestError, match="for mutating steps"):
        check_conflict_policies(broken)


def test_references_in_expectations_must_name_earlier_outputs() -> None:
    plan = _plan()
    bad = Step(
        id="verify-doc",
        phase="verify",
        description="d",
        call=AwsCall(service="cloudfront", operation="GetDistributionConfig", params={"Id": "E1"}),
        mutates=False,
        expect=(
            Expectation(
                path="DistributionConfig", equals={"$from": "steps.verify.Nope"}, what="doc"
            ),
        ),
    )
    with pytest.raises(ManifestError, match=r"expectation .doc.: reference steps\.verify\.Nope"):
        check_references(plan.model_copy(update={"steps": (*plan.steps, bad)}), {})


def test_documents_that_differ_are_reported_by_their_first_difference() -> None:
    expected = {"Origins": {"Items": [{"DomainName": "a.example"}]}, "Comment": "x" * 500}
    actual = {"Origins": {"Items": [{"DomainName": "b.example"}]}, "Comment": "x" * 500}
    (failure,) = unmet(
        (Expectation(path="Doc", equals=expected, what="configuration"),), {"Doc": actual}
    )
    assert (
        failure
        == "configuration: .Origins.Items[0].DomainName is 'b.example', expected 'a.example'"
    )


def test_unknown_savings_read_as_unknown_everywhere() -> None:
    finding = _plan().finding
    report = FindingsReport(as_of=finding.observed_at, findings=(finding,))
    console = Console(record=True, width=200)
    console.print(findings_table(report))
    assert "unknown" in console.export_text()
    assert "| unknown |" in findings_markdown(report)
    remediation = plan_finding(finding)
    proposal = proposal_for(remediation, "remediations")
    assert proposal.title.endswith("(savings unknown)")
    assert "savings:unknown" in proposal.labels
    assert "$0.00" not in remediation.readme
