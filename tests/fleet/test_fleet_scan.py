"""Fan-out over accounts, regions and rules: isolation, all-enabled regions, streaming."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from generator.aws.chain import RoleChain, RunIdentity
from generator.aws.session import AccountSession
from generator.config import AccountConfig
from generator.findings import FindingsReport
from generator.report_stream import ReportCollector, StreamingReportWriter, Tee
from generator.scan import scan, scan_into
from tests.fleet.support import (
    CUSTOMER_A,
    CUSTOMER_B,
    REGION,
    SERVICE_ROLE,
    fleet_config,
    unattached_volumes,
)

SCAN = RunIdentity(kind="scan", run="test")
ROLE_A = f"arn:aws:iam::{CUSTOMER_A}:role/reclaim-remediation"
ROLE_B = f"arn:aws:iam::{CUSTOMER_B}:role/reclaim-remediation"
ROLE_C = "arn:aws:iam::444444444444:role/reclaim-remediation"
LATER = datetime.now(UTC) + timedelta(days=30)


class _DeniedClient:
    """Stands in for a client whose every call AWS refuses with ``code``."""

    def __init__(self, code: str, operation: str = "DescribeVolumes") -> None:
        self.code, self.operation = code, operation

    def get_paginator(self, _name: str) -> Any:
        return self

    def paginate(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, self.operation)


class _RegionDisabled(AccountSession):
    def __init__(self, inner: AccountSession, region: str) -> None:
        super().__init__(label=inner.label, known_account_id=inner.account_id())
        self.inner, self.region = inner, region

    def client(self, service: str, region: str) -> Any:
        if region == self.region:
            return _DeniedClient("AuthFailure")
        return self.inner.client(service, region)


def _three_accounts(tmp_path: Path, **extra: Any):
    return fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        regions=[REGION, "eu-west-1"],
        accounts=[
            {"name": "a", "role_arn": ROLE_A},
            {"name": "broken", "role_arn": ROLE_C, "external_id_env": "EXT_BROKEN"},
            {"name": "b", "role_arn": ROLE_B},
        ],
        **extra,
    )


def test_one_unreachable_account_and_one_disabled_region_never_sink_the_others(aws, tmp_path: Path):
    in_a = unattached_volumes(CUSTOMER_A, REGION, 2)
    in_b = unattached_volumes(CUSTOMER_B, REGION, 1)
    unattached_volumes(CUSTOMER_B, "eu-west-1", 1)  # in the region that will fail
    config = _three_accounts(tmp_path)
    chain = RoleChain(config, SCAN)

    def session_for(account: AccountConfig) -> AccountSession:
        session = chain.session_for(account)  # "broken" fails here: its ExternalId is unset
        return _RegionDisabled(session, "eu-west-1") if account.name == "b" else session

    scan(config, as_of=datetime.now(UTC), session_for=session_for)
    report = scan(config, as_of=LATER, session_for=session_for, workers=3)

    assert {f.resource_id for f in report.findings} == set(in_a + in_b)
    region_error, account_error = report.errors  # sorted by account
    assert (account_error.account, account_error.region) == ("444444444444", "*")
    assert "EXT_BROKEN is not set" in account_error.message
    assert (region_error.account, region_error.region, region_error.rule) == (
        CUSTOMER_B,
        "eu-west-1",
        "ebs-unattached",
    )
    assert "AuthFailure" in region_error.message
    assert "may not be enabled" in (region_error.hint or "")


def test_a_failed_unit_keeps_its_first_seen_entries_and_a_completed_one_prunes(aws, tmp_path: Path):
    """State is pruned only for units that completed: a failure must not restart clocks."""
    kept = unattached_volumes(CUSTOMER_B, "eu-west-1", 1)[0]
    config = _three_accounts(tmp_path)
    chain = RoleChain(config, SCAN)
    scan(config, as_of=datetime.now(UTC), session_for=chain.session_for)
    state = json.loads((tmp_path / ".reclaim/state.json").read_text())
    key = f"{CUSTOMER_B}/eu-west-1/{kept}"
    assert key in state["first_seen"]["ebs-unattached"]

    def failing(account: AccountConfig) -> AccountSession:
        session = chain.session_for(account)
        return _RegionDisabled(session, "eu-west-1") if account.name == "b" else session

    scan(config, as_of=LATER, session_for=failing)
    state = json.loads((tmp_path / ".reclaim/state.json").read_text())
    assert key in state["first_seen"]["ebs-unattached"]


def test_all_enabled_asks_describe_regions_once_per_account(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    far = unattached_volumes(CUSTOMER_A, "ap-southeast-2", 1)
    calls: list[str] = []
    import generator.aws.fleet as fleet

    real = fleet.enabled_regions

    def counting(session: AccountSession, home: str) -> tuple[str, ...]:
        calls.append(session.label)
        regions = real(session, home)
        # Keep the test quick: moto enables every region; scan a handful of them.
        return tuple(r for r in regions if r in {"ap-southeast-2", "eu-west-1", REGION})

    monkeypatch.setattr(fleet, "enabled_regions", counting)
    config = fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        accounts=[
            {"name": "a", "role_arn": ROLE_A, "regions": "all-enabled"},
            {"name": "b", "role_arn": ROLE_B},
        ],
    )
    chain = RoleChain(config, SCAN)
    scan(config, as_of=datetime.now(UTC), session_for=chain.session_for)
    report = scan(config, as_of=LATER, session_for=chain.session_for)
    assert [f.resource_id for f in report.findings] == far
    assert len(calls) == 2 and all(CUSTOMER_A in label for label in calls)  # once per scan


def test_enabled_regions_come_from_describe_regions(aws, tmp_path: Path):
    from generator.aws.fleet import enabled_regions

    regions = enabled_regions(AccountSession(), REGION)
    assert {REGION, "eu-west-1", "ap-southeast-2"} <= set(regions)
    assert list(regions) == sorted(regions)


def test_workers_change_speed_never_results(aws, tmp_path: Path):
    for region in (REGION, "eu-west-1"):
        unattached_volumes(CUSTOMER_A, region, 3)
        unattached_volumes(CUSTOMER_B, region, 2)
    config = _three_accounts(tmp_path)
    reports = []
    for workers in (1, 7):
        chain = RoleChain(config, SCAN)
        scan(config, as_of=datetime.now(UTC), session_for=chain.session_for, workers=workers)
        reports.append(scan(config, as_of=LATER, session_for=chain.session_for, workers=workers))
    one, many = reports
    assert len(one.findings) == 10
    assert one.findings == many.findings and one.errors == many.errors


def test_the_streamed_file_is_a_valid_report_with_every_result(aws, tmp_path: Path):
    unattached_volumes(CUSTOMER_A, REGION, 3)
    config = _three_accounts(tmp_path)
    chain = RoleChain(config, SCAN)
    scan(config, as_of=datetime.now(UTC), session_for=chain.session_for)
    out = tmp_path / "findings.json"
    collector = ReportCollector()
    with out.open("w") as stream, StreamingReportWriter(stream, LATER) as writer:
        scan_into(config, Tee(writer, collector), as_of=LATER, session_for=chain.session_for)

    streamed = FindingsReport.model_validate_json(out.read_text())
    expected = collector.report(LATER)
    assert streamed.as_of == LATER
    assert sorted(streamed.findings, key=lambda f: f.id) == sorted(
        expected.findings, key=lambda f: f.id
    )
    assert len(streamed.findings) == 3
    assert streamed.errors == expected.errors and len(streamed.errors) == 1
    assert streamed.completed == expected.completed and len(streamed.completed) == 4


def test_an_empty_streamed_report_is_valid_json(tmp_path: Path):
    out = tmp_path / "empty.json"
    with out.open("w") as stream, StreamingReportWriter(stream, LATER):
        pass
    report = FindingsReport.model_validate_json(out.read_text())
    assert report.findings == () and report.errors == () and report.skipped == ()
