"""`terraform apply` of both generated modules against a moto server creates exactly the
roles and policies reclaim computes (and the chain then works through them)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from generator.pipeline.policy import policy_json
from generator.pipeline.render import customer_policies
from generator.pipeline.spec import Fleet, PipelineOptions
from tests.pipeline.conftest import PROD
from tests.pipeline.tools import run, terraform_plugin_dir, tool

SERVICE = "111111111111"
EXTERNAL_ID = "prod-external-id-42"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def account_env(url: str, account: str) -> dict[str, str]:
    """Credentials moto routes to ``account`` (moto maps assumed-role keys to its account)."""
    sts = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = f"arn:aws:iam::{account}:role/terraform"
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="terraform")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def iam(url: str, account: str) -> Any:
    env = account_env(url, account)
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


def apply_module(
    rendered: Path, module: str, work: Path, url: str, account: str, *args: str
) -> dict[str, Any]:
    terraform = tool("terraform")
    plugins = terraform_plugin_dir()
    where = work / module
    shutil.copytree(rendered / "terraform" / module, where)
    # Test-only: point the provider at moto. The generated modules carry no provider block.
    (where / "provider_override.tf").write_text(
        'provider "aws" {\n'
        '  region                      = "us-east-1"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        f'  endpoints {{\n    iam = "{url}"\n    sts = "{url}"\n  }}\n'
        "}\n"
    )
    env = account_env(url, account)
    init = run([*terraform, "init", "-input=false", "-no-color", f"-plugin-dir={plugins}"], where)
    assert init.returncode == 0, init.stderr
    applied = run(
        [*terraform, "apply", "-auto-approve", "-input=false", "-no-color", *args], where, env=env
    )
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
    output = run([*terraform, "output", "-json", "-no-color"], where, env=env)
    return {k: v["value"] for k, v in json.loads(output.stdout).items()}


def normalized(document: Any) -> Any:
    """IAM JSON with every list sorted and single values as lists: order carries no meaning."""
    if isinstance(document, dict):
        return {k: normalized(v) for k, v in document.items()}
    if isinstance(document, list):
        return sorted((normalized(v) for v in document), key=json.dumps)
    return document


def as_lists(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            k: (sorted(v) if isinstance(v, list) else [v])
            if k in ("Action", "Resource") or k.startswith(("aws:", "ec2:", "kms:", "sts:"))
            else as_lists(v)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [as_lists(v) for v in document]
    return document


@pytest.fixture(scope="module")
def applied(
    rendered: Path, tmp_path_factory: pytest.TempPathFactory, moto_url: str
) -> dict[str, dict[str, Any]]:
    work = tmp_path_factory.mktemp("apply")
    return {
        "service": apply_module(rendered, "service-role", work, moto_url, SERVICE),
        "customer": apply_module(
            rendered,
            "customer-role",
            work,
            moto_url,
            PROD.id,
            f"-var=external_id={EXTERNAL_ID}",
            "-var-file=accounts/prod.tfvars",
        ),
    }


def test_the_service_role_exists_with_its_trust_and_only_assume_rights(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions, fleet: Fleet
) -> None:
    assert applied["service"]["role_arn"] == options.service_role_arn
    client = iam(moto_url, SERVICE)
    role = client.get_role(RoleName=options.service_role_name)["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": applied["service"]["oidc_provider_arn"]}
    assert normalized(statement["Condition"]) == normalized(
        {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": list(options.oidc_subjects),
            }
        }
    )
    (name,) = client.list_role_policies(RoleName=options.service_role_name)["PolicyNames"]
    document = client.get_role_policy(RoleName=options.service_role_name, PolicyName=name)
    (allowed,) = document["PolicyDocument"]["Statement"]
    assert sorted(allowed["Action"]) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert sorted(allowed["Resource"]) == sorted(fleet.customer_role_arns)


def test_the_customer_role_has_exactly_the_computed_policies(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions, fleet: Fleet
) -> None:
    assert applied["customer"]["role_arn"] == PROD.role_arn
    client = iam(moto_url, PROD.id)
    role = client.get_role(RoleName="reclaim-remediation")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": options.service_role_arn}
    assert normalized(trust["Condition"]) == normalized(
        {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}, "Null": {"sts:SourceIdentity": "false"}}
    )
    policies = customer_policies(fleet)
    assert PROD.regions is not None
    for name, statements in policies.documents.items():
        created = client.get_role_policy(
            RoleName="reclaim-remediation", PolicyName=f"reclaim-{name}"
        )
        expected = policy_json(
            statements, account=PROD.id, regions=PROD.regions, skip_tag=fleet.skip_tag
        )
        assert as_lists(created["PolicyDocument"]) == as_lists(expected), name


def test_an_existing_oidc_provider_is_used_not_declared_twice(
    options: PipelineOptions,
    fleet: Fleet,
    tmp_path: Path,
    moto_url: str,
) -> None:
    from generator.pipeline.render import render_terraform

    account = "444444444444"
    existing = iam(moto_url, account).create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )["OpenIDConnectProviderArn"]
    other = options.model_copy(update={"service_account_id": account})
    for path, content in render_terraform(other, fleet, create_oidc_provider=False).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    outputs = apply_module(tmp_path, "service-role", tmp_path / "work", moto_url, account)
    assert outputs["oidc_provider_arn"] == existing
    providers = iam(moto_url, account).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [existing]


def test_the_role_chain_scans_through_exactly_the_roles_terraform_created(
    applied: dict[str, dict[str, Any]],
    moto_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub's OIDC step leaves the service role's credentials in the job; reclaim's hop 2
    then assumes the remediation role Terraform output, with the account's ExternalId."""
    from moto.sts.models import sts_backends

    from generator.config import parse_config
    from generator.scan import chain_sessions, scan

    customer = account_env(moto_url, PROD.id)
    volume = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id=customer["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=customer["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=customer["AWS_SESSION_TOKEN"],
    ).create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
    sts = boto3.client(
        "sts",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    hop1 = sts.assume_role(RoleArn=applied["service"]["role_arn"], RoleSessionName="GitHubActions")
    for key, value in {
        "AWS_ACCESS_KEY_ID": hop1["Credentials"]["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": hop1["Credentials"]["SecretAccessKey"],
        "AWS_SESSION_TOKEN": hop1["Credentials"]["SessionToken"],
        "AWS_ENDPOINT_URL": moto_url,
        "RECLAIM_EXTERNAL_ID_PROD": EXTERNAL_ID,
    }.items():
        monkeypatch.setenv(key, value)
    config = parse_config(
        {
            "accounts": [
                {
                    "id": PROD.id,
                    "name": "prod",
                    "role_arn": applied["customer"]["role_arn"],
                    "external_id_env": "RECLAIM_EXTERNAL_ID_PROD",
                }
            ],
            "regions": ["us-east-1"],
            "rules": {"ebs-unattached": {"use_cloudtrail": False}},
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )
    before = len(sts_backends[PROD.id]["aws"].assumed_roles)
    report = scan(config, as_of=datetime.now(UTC), session_for=chain_sessions(config))
    assert report.errors == ()
    # the volume of the customer account was seen (first seen now, so not yet a finding)
    assert {s.resource_id for s in report.skipped if s.account == PROD.id} == {volume}
    hop2 = sts_backends[PROD.id]["aws"].assumed_roles[before:]
    assert [(r.role_arn, r.external_id) for r in hop2] == [
        (applied["customer"]["role_arn"], EXTERNAL_ID)
    ]
    assert hop2[0].session_name.startswith("reclaim-scan-")
