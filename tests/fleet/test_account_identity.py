"""A scan asks STS which account it is in only when nothing else says: a role's ARN names
its account (hop 2's, or hop 1's for an account scanned without hop 2), and botocore may
resolve the account with the credentials (AWS_ACCOUNT_ID, a profile's aws_account_id, an
assumed role's or SSO's). GetCallerIdentity is counted as botocore sends it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from generator.aws.chain import RoleChain, RunIdentity
from generator.scan import scan
from tests.fleet.support import (
    CUSTOMER_A,
    REGION,
    SERVICE,
    SERVICE_ROLE,
    fleet_config,
    unattached_volumes,
)

SCAN = RunIdentity(kind="scan", run="test")
MOTO_ACCOUNT = "123456789012"  # the account moto's default credentials act in
LATER = datetime.now(UTC) + timedelta(days=30)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every operation botocore sends, by name, in order."""
    operations: list[str] = []
    real = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: Any) -> Any:
        operations.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield operations


def _scan_twice(config: Any, sent: list[str]) -> Any:
    """The first scan starts the first-seen clocks; the second, 30 days on, finds. Only
    the scans' calls stay in ``sent`` (seeding a customer account assumes a role too)."""
    sent.clear()
    scan(config, as_of=datetime.now(UTC), session_for=RoleChain(config, SCAN).session_for)
    return scan(config, as_of=LATER, session_for=RoleChain(config, SCAN).session_for)


def test_a_role_chain_scan_never_asks_sts_who_it_is(aws, tmp_path: Path, sent: list[str]):
    volumes = unattached_volumes(CUSTOMER_A, REGION, 2)
    config = fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        accounts=[{"name": "a", "role_arn": f"arn:aws:iam::{CUSTOMER_A}:role/reclaim-x"}],
    )

    report = _scan_twice(config, sent)

    assert {(f.account, f.resource_id) for f in report.findings} == {
        (CUSTOMER_A, v) for v in volumes
    }
    assert "GetCallerIdentity" not in sent
    assert sent.count("AssumeRole") == 4  # each hop once per scan


def test_an_account_scanned_with_hop_1_alone_is_hop_1_s_account(
    aws, tmp_path: Path, sent: list[str]
):
    volumes = unattached_volumes(SERVICE, REGION, 2)
    config = fleet_config(tmp_path, service_role={"role_arn": SERVICE_ROLE})

    report = _scan_twice(config, sent)

    assert {(f.account, f.resource_id) for f in report.findings} == {(SERVICE, v) for v in volumes}
    assert "GetCallerIdentity" not in sent


def test_a_configured_id_that_is_not_hop_1_s_account_is_refused_without_asking(
    aws, tmp_path: Path, sent: list[str]
):
    unattached_volumes(SERVICE, REGION, 1)
    config = fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        accounts=[{"name": "a", "id": CUSTOMER_A}],
    )

    sent.clear()
    report = scan(config, as_of=LATER, session_for=RoleChain(config, SCAN).session_for)

    assert report.findings == ()
    assert [e.message for e in report.errors] == [
        f"account a: the credentials act in account {SERVICE}, not {CUSTOMER_A}; "
        "nothing was scanned"
    ]
    assert "GetCallerIdentity" not in sent
    assert "DescribeVolumes" not in sent


def test_ambient_credentials_that_name_their_account_are_not_asked(
    aws, tmp_path: Path, sent: list[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AWS_ACCOUNT_ID", MOTO_ACCOUNT)  # botocore reads it with the keys
    volumes = unattached_volumes(MOTO_ACCOUNT, REGION, 2)
    config = fleet_config(tmp_path)

    report = _scan_twice(config, sent)

    assert {(f.account, f.resource_id) for f in report.findings} == {
        (MOTO_ACCOUNT, v) for v in volumes
    }
    assert "GetCallerIdentity" not in sent


def test_ambient_credentials_that_do_not_are_asked_once_a_scan(
    aws, tmp_path: Path, sent: list[str]
):
    volumes = unattached_volumes(MOTO_ACCOUNT, REGION, 2)
    config = fleet_config(tmp_path, regions=[REGION, "eu-west-1"])

    report = _scan_twice(config, sent)

    assert {(f.account, f.resource_id) for f in report.findings} == {
        (MOTO_ACCOUNT, v) for v in volumes
    }
    assert sent.count("GetCallerIdentity") == 2  # once per scan, whatever the regions
