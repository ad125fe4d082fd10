"""Which hop-2 role each kind of run assumes: scans the account's read-only scan_role_arn,
apply and rollback its role_arn (never the scan role, which holds no write action)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

import generator.aws.chain as chain_module
from generator.aws.chain import Hop, RoleChain, RunIdentity
from generator.config import parse_config
from generator.errors import ConfigError

ACCOUNT = "222222222222"
REMEDIATION = f"arn:aws:iam::{ACCOUNT}:role/reclaim-remediation"
SCAN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/reclaim-scan"


def _config(tmp_path: Any, **account: Any) -> Any:
    return parse_config(
        {
            "accounts": [{"id": ACCOUNT, "name": "prod", "role_arn": REMEDIATION, **account}],
            "regions": ["us-east-1"],
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("scan", SCAN_ROLE),
        ("propose", SCAN_ROLE),
        ("apply", REMEDIATION),
        ("rollback", REMEDIATION),
    ],
)
def test_each_kind_of_run_assumes_its_own_role(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, expected: str
) -> None:
    made: list[Hop] = []
    real = chain_module.assume_role

    def recording(sts: Any, hop: Hop, identity: RunIdentity) -> dict[str, Any]:
        made.append(hop)
        return real(sts, hop, identity)

    monkeypatch.setattr(chain_module, "assume_role", recording)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    config = _config(tmp_path, scan_role_arn=SCAN_ROLE)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        for arn in (REMEDIATION, SCAN_ROLE):
            iam.create_role(RoleName=arn.split("/")[-1], AssumeRolePolicyDocument="{}")
        chain = RoleChain(config, RunIdentity(kind=kind, run="t", actor="alice"))  # type: ignore[arg-type]
        chain.session_for(config.accounts[0])
    assert [h.role_arn for h in made] == [expected]
    # scans keep their read-only session policy on top of the read-only role; changes none
    assert (made[0].session_policy is not None) is (kind in ("scan", "propose"))


def test_a_scan_role_in_another_account_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="same account as role_arn"):
        _config(tmp_path, scan_role_arn="arn:aws:iam::999999999999:role/reclaim-scan")
