"""Helpers for the role-chain and fleet tests: isolated credentials, moto accounts and roles.

moto quirks these tests work around (moto 5):
- Trust policies are checked only with IAM auth on, and only when the caller and the role
  are in the same account (moto looks the role up in the caller's account; a cross-account
  role is "not found" and the trust check is skipped).
- A trust-policy principal must match the caller's ARN literally: a role ARN does not match
  that role's assumed-role session ARN, so the tests name the session ARN.
- A StringEquals condition on sts:ExternalId passes when no ExternalId is sent: reclaim
  itself refuses to assume a hop without the ExternalId it was configured with.
- Session credentials never expire in moto, so refresh is driven by an injected clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from moto.iam.models import iam_backends

from generator.config import ReclaimConfig, parse_config
from generator.rules import RULES

SERVICE = "111111111111"
CUSTOMER_A = "222222222222"
CUSTOMER_B = "333333333333"
REGION = "us-east-1"
SERVICE_ROLE = f"arn:aws:iam::{SERVICE}:role/reclaim-service"


def policy(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


def trust(principal: str, external_id: str | None = None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def make_role(account: str, name: str, trust_policy: str, *actions: str) -> str:
    """Creates a role straight in moto's backend: no request, so it works with auth on."""
    backend = iam_backends[account]["aws"]
    backend.create_role(name, trust_policy, "/", None, "", [], None)
    if actions:
        backend.put_role_policy(name, "permissions", policy(*actions))
    return f"arn:aws:iam::{account}:role/{name}"


def make_user_keys(account: str, name: str, *actions: str) -> tuple[str, str]:
    backend = iam_backends[account]["aws"]
    backend.create_user(REGION, name)
    backend.put_user_policy(name, "permissions", policy(*actions))
    key = backend.create_access_key(name)
    return key.access_key_id, key.secret_access_key


def session_in(account: str, region: str = REGION) -> boto3.Session:
    """A session acting in ``account`` (moto routes assumed-role keys to their account)."""
    if account == "123456789012":
        return boto3.Session(region_name=region)
    sts = boto3.client("sts", region_name=region)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seeder", RoleSessionName="seed")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def unattached_volumes(account: str, region: str, count: int, size: int = 10) -> list[str]:
    ec2 = session_in(account, region).client("ec2")
    return [
        ec2.create_volume(AvailabilityZone=f"{region}a", Size=size)["VolumeId"]
        for _ in range(count)
    ]


def only_ebs_unattached() -> dict[str, Any]:
    """The fleet tests count units and findings: one rule keeps those numbers plain."""
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    return rules


def fleet_config(tmp_path: Path, **data: Any) -> ReclaimConfig:
    data.setdefault("regions", [REGION])
    data.setdefault("rules", only_ebs_unattached())
    return parse_config(data, source="reclaim.yml", base_dir=tmp_path)
