"""Realized savings: applied plans from the default branch's journals, measured from Cost
Explorer's daily cost through Stubber (request and response shapes are the botocore ce
model's: Stubber validates both), a bounded number of calls per account."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import Journal, RunRecord
from generator.planner import plan_finding
from generator.realized import (
    AppliedChange,
    applied_changes,
    data_end,
    measure_changes,
    moved_elsewhere,
    window,
)
from tests.factories import ACCOUNT, volume_finding

AS_OF = datetime(2026, 2, 1, 6, tzinfo=UTC)
APPLIED = date(2026, 1, 25)  # 5 settled whole days since (to 01-30), 5 before
END = date(2026, 1, 31)  # today (02-01) and yesterday are not settled


def ce_client() -> Any:
    return botocore.session.get_session().create_client(
        "ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def by_usage_type(start: date, end: date, daily: dict[str, Any]) -> dict[str, Any]:
    """A GetCostAndUsage answer: ``daily`` maps usage type -> f(day) -> USD."""
    return {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "REGION"},
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": ["us-east-1", usage_type],
                        "Metrics": {"UnblendedCost": {"Amount": f"{f(d):.4f}", "Unit": "USD"}},
                    }
                    for usage_type, f in daily.items()
                ],
                "Estimated": d >= end - timedelta(days=2),
            }
            for d in _days(start, end)
        ],
        "DimensionValueAttributes": [],
    }


def usage_type_request(start: date, end: date, regions: list[str]) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "Filter": {"Dimensions": {"Key": "REGION", "Values": regions}},
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "REGION"},
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
        ],
    }


def change(rule: str = "ebs-unattached", resource: str = "vol-1", **kw: Any) -> AppliedChange:
    values: dict[str, Any] = {
        "finding_id": f"{rule}-{ACCOUNT}-us-east-1-{resource}",
        "rule": rule,
        "account": ACCOUNT,
        "region": "us-east-1",
        "resource_id": resource,
        "promised_monthly_usd": 10.0,
        "applied_on": APPLIED,
        "rolled_back": False,
    }
    values.update(kw)
    return AppliedChange(**values)


def test_windows_leave_out_the_apply_day_and_wait_for_a_whole_day() -> None:
    assert data_end(AS_OF) == END
    w = window(APPLIED, END)
    assert w is not None and w.days == 5
    assert (w.before_start, w.before_end) == (date(2026, 1, 20), APPLIED)
    assert (w.after_start, w.after_end) == (date(2026, 1, 26), END)
    assert window(END - timedelta(days=1), END) is None  # applied yesterday: nothing settled
    assert window(date(2025, 1, 1), END).days == 30  # type: ignore[union-attr]


def test_a_deleted_volume_saved_its_line_and_its_backup_snapshot_is_cost_moved_elsewhere() -> None:
    ce = ce_client()
    start, end = date(2026, 1, 20), END
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            by_usage_type(
                start,
                end,
                {
                    "USE1-EBS:VolumeUsage.gp2": lambda d: 0.33 if d < APPLIED else 0.0,
                    "USE1-EBS:SnapshotUsage": lambda d: 0.0 if d <= APPLIED else 0.05,
                    "USE1-BoxUsage:t3.micro": lambda d: 0.25,  # not this rule's line
                },
            ),
            usage_type_request(start, end, ["us-east-1"]),
        )
        report = measure_changes([change()], lambda account: ce, AS_OF)
        stub.assert_no_pending_responses()
    (m,) = report.measurements
    assert m.days == 5
    assert m.realized_monthly_usd == pytest.approx(0.33 * 30.4167, abs=0.01)
    assert m.moved_usage_types == ("USE1-EBS:SnapshotUsage",)
    assert m.moved_monthly_usd == pytest.approx(0.05 * 30.4167, abs=0.01)
    assert moved_elsewhere(m, promised=10.0)
    assert "whole account" in m.basis and "2026-01-25" in m.basis
    assert report.unavailable == ()


def test_one_call_per_account_whatever_the_number_of_plans() -> None:
    ce = ce_client()
    changes = [change(resource=f"vol-{i}") for i in range(5)] + [
        change(rule="nat-gateway-idle", resource="nat-1", region="eu-west-1")
    ]
    start, end = date(2026, 1, 20), END
    with Stubber(ce) as stub:  # one response: a second call would fail the test
        stub.add_response(
            "get_cost_and_usage",
            by_usage_type(start, end, {}),
            usage_type_request(start, end, ["eu-west-1", "us-east-1"]),
        )
        report = measure_changes(changes, lambda account: ce, AS_OF)
    assert len(report.measurements) == 6


def test_an_instance_is_measured_on_its_own_resource_line_within_the_last_14_days() -> None:
    ce = ce_client()
    start, end = date(2026, 1, 20), END
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            by_usage_type(
                start,
                end,
                {
                    "USE1-BoxUsage:m5.large": lambda d: 5.0,  # other instances: unchanged
                    "USE1-EBS:VolumeUsage.gp3": lambda d: 0.1 if d < APPLIED else 0.3,
                },
            ),
            usage_type_request(start, end, ["us-east-1"]),
        )
        resource_start = AS_OF.date() - timedelta(days=14)
        stub.add_response(
            "get_cost_and_usage_with_resources",
            {
                "GroupDefinitions": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
                "ResultsByTime": [
                    {
                        "TimePeriod": {
                            "Start": d.isoformat(),
                            "End": (d + timedelta(days=1)).isoformat(),
                        },
                        "Groups": [
                            {
                                "Keys": ["i-0abc"],
                                "Metrics": {
                                    "UnblendedCost": {
                                        "Amount": "2.3" if d < APPLIED else "0",
                                        "Unit": "USD",
                                    }
                                },
                            }
                        ],
                        "Estimated": False,
                    }
                    for d in _days(resource_start, end)
                ],
            },
            {
                "TimePeriod": {"Start": resource_start.isoformat(), "End": end.isoformat()},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost"],
                "Filter": {
                    "And": [
                        {
                            "Dimensions": {
                                "Key": "SERVICE",
                                "Values": ["Amazon Elastic Compute Cloud - Compute"],
                            }
                        },
                        {"Dimensions": {"Key": "RESOURCE_ID", "Values": ["i-0abc"]}},
                    ]
                },
                "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
            },
        )
        report = measure_changes(
            [change(rule="ec2-idle", resource="i-0abc", promised_monthly_usd=70.0)],
            lambda account: ce,
            AS_OF,
        )
        stub.assert_no_pending_responses()
    (m,) = report.measurements
    assert m.basis.startswith("resource-level cost of i-0abc")
    assert m.realized_monthly_usd == pytest.approx(2.3 * 30.4167, abs=0.01)
    # the stopped instance's volumes keep billing, and more of them: moved elsewhere
    assert m.moved_usage_types == ("USE1-EBS:VolumeUsage.gp3",)
    assert m.moved_monthly_usd == pytest.approx(0.2 * 30.4167, abs=0.01)


def test_resource_level_not_enabled_falls_back_to_the_usage_type_said_once() -> None:
    ce = ce_client()
    start, end = date(2026, 1, 20), END
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            by_usage_type(
                start, end, {"USE1-BoxUsage:t3.large": lambda d: 2.0 if d < APPLIED else 0.0}
            ),
            usage_type_request(start, end, ["us-east-1"]),
        )
        stub.add_client_error(
            "get_cost_and_usage_with_resources",
            service_error_code="DataUnavailableException",
            service_message="Resource level data is not enabled",
            http_status_code=400,
        )
        report = measure_changes(
            [change(rule="ec2-idle", resource=f"i-{i}") for i in range(3)],
            lambda account: ce,
            AS_OF,
        )
    assert len(report.unavailable) == 1
    assert "DataUnavailableException" in report.unavailable[0]
    assert "usage-type line is used instead" in report.unavailable[0]
    assert all(m.basis.startswith("usage types") for m in report.measurements)
    assert all(
        m.realized_monthly_usd == pytest.approx(60.83, abs=0.01) for m in report.measurements
    )


def test_access_denied_is_said_once_and_measures_nothing_without_raising() -> None:
    ce = ce_client()
    with Stubber(ce) as stub:
        stub.add_client_error(
            "get_cost_and_usage",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: ce:GetCostAndUsage",
            http_status_code=400,
        )
        report = measure_changes([change(), change(resource="vol-2")], lambda a: ce, AS_OF)
    assert report.unavailable == (
        f"account {ACCOUNT}: GetCostAndUsage: AccessDeniedException: "
        "not authorized to perform: ce:GetCostAndUsage",
    )
    assert [m.realized_monthly_usd for m in report.measurements] == [None, None]
    assert all("not measured" in m.basis for m in report.measurements)


def test_rolled_back_too_recent_or_unmapped_changes_cost_no_call() -> None:
    def no_ce(account: str) -> Any:
        raise AssertionError("Cost Explorer was called")

    report = measure_changes(
        [
            change(rolled_back=True),
            change(applied_on=AS_OF.date()),
            change(rule="logs-retention", resource="grp"),
        ],
        no_ce,
        AS_OF,
    )
    assert report.measurements == () and report.unavailable == ()


def _journal(plan_id: str, plan_text: str, rollback_text: str, **runs: RunRecord) -> Journal:
    return Journal(
        plan_id=plan_id,
        plan_sha256=digest(plan_text),
        rollback_sha256=digest(rollback_text),
        **runs,
    )


def _run(kind: str, status: str, finished: datetime | None = None) -> RunRecord:
    return RunRecord.model_validate(
        {
            "kind": kind,
            "status": status,
            "started_at": datetime(2026, 1, 25, 9, tzinfo=UTC),
            "finished_at": finished,
        }
    )


def test_applied_changes_come_from_the_journals_on_the_checkout(tmp_path: Path) -> None:
    done = datetime(2026, 1, 25, 10, tzinfo=UTC)
    cases = {
        "vol-0aaaaaaaaaaaaaaa1": {"apply": _run("apply", "completed", done)},
        "vol-0aaaaaaaaaaaaaaa2": {
            "apply": _run("apply", "completed", done),
            "rollback": _run("rollback", "completed", done + timedelta(days=1)),
        },
        "vol-0aaaaaaaaaaaaaaa3": {"apply": _run("apply", "failed")},
        "vol-0aaaaaaaaaaaaaaa4": None,  # merged, not applied yet: no journal
    }
    for volume_id, runs in cases.items():
        remediation = plan_finding(volume_finding(volume_id=volume_id))
        folder = RemediationFolder(tmp_path / "remediations" / remediation.finding.id)
        folder.path.mkdir(parents=True)
        folder.write_manifests(remediation.plan, remediation.rollback, remediation.readme)
        if runs is not None:
            folder.save_journal(
                _journal(
                    remediation.plan.plan_id,
                    folder.plan_text(),
                    folder.rollback_text(),
                    **runs,
                )
            )

    changes = applied_changes(tmp_path / "remediations")

    assert [(c.resource_id, c.rolled_back) for c in changes] == [
        ("vol-0aaaaaaaaaaaaaaa1", False),
        ("vol-0aaaaaaaaaaaaaaa2", True),
    ]
    assert changes[0].applied_on == APPLIED and changes[0].rule == "ebs-unattached"
    assert changes[0].promised_monthly_usd == volume_finding().cost.monthly_usd > 0
