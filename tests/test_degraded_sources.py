"""A data source a rule can do without (CloudTrail, Cost Explorer) failing: the scan gives up
on it quickly and says so as a warning with its effect, never hidden behind "0 error(s)"."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from generator.aws.cloudtrail import CLOUDTRAIL_MAX_ATTEMPTS, DetachHistory, detach_history
from generator.aws.session import RETRY_CONFIG
from generator.cli import main
from tests.conftest import make_volume
from tests.test_scan_output import only_ebs_unattached


class _Raw:
    def stream(self, **_: Any) -> Any:
        yield b""


def _failing(status: int, code: str, calls: list[int]) -> Any:
    body = f'{{"__type": "{code}", "message": "try again"}}'.encode()

    def respond(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        response = AWSResponse(
            request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, _Raw()
        )
        response._content = body  # type: ignore[attr-defined]
        return response

    return respond


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalFailure"), (400, "ThrottlingException")]
)
def test_a_failing_cloudtrail_lookup_gives_up_after_a_few_attempts(status: int, code: str) -> None:
    """No moto here (it does not implement LookupEvents): every attempt is answered by the
    handler below, as an outage of CloudTrail would answer it. Before the bound, a 500 was
    retried 11 times (25-42 s)."""
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", config=RETRY_CONFIG)
    calls: list[int] = []
    cloudtrail.meta.events.register_first(
        "before-send.cloudtrail.LookupEvents", _failing(status, code, calls)
    )
    now = datetime.now(UTC)
    started = time.monotonic()

    history = detach_history(cloudtrail, now - timedelta(days=90), now)

    assert len(calls) == CLOUDTRAIL_MAX_ATTEMPTS < 10  # the scan clients' own bound
    assert time.monotonic() - started < 10
    assert not history.available
    assert f"failed {CLOUDTRAIL_MAX_ATTEMPTS} times" in str(history.unavailable_reason)
    assert code in str(history.unavailable_reason)


def test_an_unavailable_cloudtrail_is_a_scan_warning_with_its_effect(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_volume(ec2)

    def down(cloudtrail: Any, start: datetime, end: datetime) -> DetachHistory:
        return DetachHistory(
            start,
            end,
            unavailable_reason="CloudTrail LookupEvents failed 3 times (InternalFailure (HTTP 500))",
        )

    monkeypatch.setattr("generator.rules.ebs_unattached.detach_history", down)
    config = tmp_path / "reclaim.yml"
    config.write_text(
        "regions: [us-east-1]\n"
        + only_ebs_unattached().replace("{use_cloudtrail: false}", "{use_cloudtrail: true}")
    )

    table = CliRunner().invoke(main, ["scan", "--config", str(config)])
    markdown = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "markdown"])

    assert table.exit_code == 0, table.output
    assert "0 error(s); 1 warning(s)" in table.output
    warning = (
        "warning 123456789012/us-east-1/ebs-unattached: CloudTrail LookupEvents failed 3 times "
        "(InternalFailure (HTTP 500)): detach times unknown, so 1 unattached volume(s) are aged "
        "by first-seen clocks"
    )
    assert warning in table.output
    assert "- warning in 123456789012/us-east-1/ebs-unattached: CloudTrail" in markdown.output


def test_a_failing_cost_explorer_gives_up_after_a_few_attempts_and_is_unavailable() -> None:
    from generator.aws.cost_explorer import cloudfront_transfer

    ce = boto3.client("ce", region_name="us-east-1", config=RETRY_CONFIG)
    calls: list[int] = []
    ce.meta.events.register_first(
        "before-send.cost-explorer.GetCostAndUsage", _failing(503, "ServiceUnavailable", calls)
    )

    usage = cloudfront_transfer(ce, datetime.now(UTC), 30)

    assert len(calls) == CLOUDTRAIL_MAX_ATTEMPTS
    assert not usage.available
    assert (
        usage.unavailable_reason == "GetCostAndUsage failed 3 times (ServiceUnavailable (HTTP 503))"
    )


def test_the_warning_is_in_the_findings_file_and_survives_merge_findings(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from generator.findings import FindingsReport

    make_volume(ec2)

    def down(cloudtrail: Any, start: datetime, end: datetime) -> DetachHistory:
        return DetachHistory(start, end, unavailable_reason="CloudTrail LookupEvents: AccessDenied")

    monkeypatch.setattr("generator.rules.ebs_unattached.detach_history", down)
    config = tmp_path / "reclaim.yml"
    config.write_text(
        "regions: [us-east-1]\n"
        + only_ebs_unattached().replace("{use_cloudtrail: false}", "{use_cloudtrail: true}")
    )
    findings, merged = tmp_path / "findings.json", tmp_path / "merged.json"
    scanned = CliRunner().invoke(main, ["scan", "--config", str(config), "--output", str(findings)])
    assert scanned.exit_code == 0, scanned.output

    (warning,) = FindingsReport.model_validate_json(findings.read_text()).warnings
    assert (warning.account, warning.region, warning.rule) == (
        "123456789012",
        "us-east-1",
        "ebs-unattached",
    )
    assert warning.message.startswith("CloudTrail LookupEvents: AccessDenied: detach times unknown")
    assert (
        CliRunner()
        .invoke(main, ["merge-findings", str(findings), "--output", str(merged)])
        .exit_code
        == 0
    )
    assert json.loads(merged.read_text())["warnings"][0]["message"] == warning.message


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerException"), (400, "ThrottlingException")]
)
def test_a_failing_recycle_bin_gives_up_after_a_few_attempts_with_a_warning(
    status: int, code: str
) -> None:
    """The Recycle Bin only refines the undo (restore from the bin instead of from the
    snapshot), so an outage of it costs a few attempts and a warning, not the scan clients'
    10 adaptive retries (which stalled a region ~90 s against an endpoint without rbin)."""
    from dataclasses import replace

    from generator.rules.recycle_bin import covering_rule
    from tests.rule_harness import context

    rbin = boto3.client("rbin", region_name="us-east-1", config=RETRY_CONFIG)
    calls: list[int] = []
    rbin.meta.events.register_first("before-send.rbin.ListRules", _failing(status, code, calls))
    warnings: list[str] = []
    ctx = replace(
        context(as_of=datetime.now(UTC), client=lambda service: rbin), warn=warnings.append
    )

    rule = covering_rule(ctx, "EBS_VOLUME", 7, unreadable="the snapshot is the only backup")

    assert rule is None
    assert len(calls) == CLOUDTRAIL_MAX_ATTEMPTS < 10
    assert warnings == [
        f"Recycle Bin rules unreadable (ListRules failed {CLOUDTRAIL_MAX_ATTEMPTS} times: "
        f"{code} (HTTP {status})): the snapshot is the only backup"
    ]


def test_failing_recommenders_give_up_after_a_few_attempts_and_are_unavailable() -> None:
    """A second opinion refines a PR's comment, never the finding: an outage of Cost
    Optimization Hub or Compute Optimizer costs a few attempts each, not 10 adaptive retries."""
    from generator.aws.recommenders import second_opinion

    clients = {
        "cost-optimization-hub": boto3.client(
            "cost-optimization-hub", region_name="us-east-1", config=RETRY_CONFIG
        ),
        "compute-optimizer": boto3.client(
            "compute-optimizer", region_name="us-east-1", config=RETRY_CONFIG
        ),
    }
    calls: dict[str, list[int]] = {"hub": [], "optimizer": []}
    clients["cost-optimization-hub"].meta.events.register_first(
        "before-send.cost-optimization-hub.ListRecommendations",
        _failing(500, "InternalServerException", calls["hub"]),
    )
    clients["compute-optimizer"].meta.events.register_first(
        "before-send.compute-optimizer.GetIdleRecommendations",
        _failing(400, "ThrottlingException", calls["optimizer"]),
    )

    opinion = second_opinion(
        lambda service, region: clients[service], "123456789012", "us-east-1", ["vol-1"]
    )

    assert [len(c) for c in calls.values()] == [CLOUDTRAIL_MAX_ATTEMPTS] * 2
    assert opinion.opinions == {}
    assert opinion.unavailable == {
        "Cost Optimization Hub": (
            f"failed {CLOUDTRAIL_MAX_ATTEMPTS} times (InternalServerException (HTTP 500))"
        ),
        "Compute Optimizer": (
            f"failed {CLOUDTRAIL_MAX_ATTEMPTS} times (ThrottlingException (HTTP 400))"
        ),
    }
