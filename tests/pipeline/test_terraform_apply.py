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
from generator.rules import RULES
from tests.pipeline.conftest import PROD
from tests.pipeline.oidc import Job, admits, token_request
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


def _single_statement(client: Any, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trust statement, the one permission statement) of a role with one inline policy."""
    trust = client.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    (name,) = client.list_role_policies(RoleName=role)["PolicyNames"]
    (allowed,) = client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"][
        "Statement"
    ]
    return trust, allowed


def test_two_service_roles_exist_each_trusting_its_own_jobs_and_assuming_its_own_roles(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions, fleet: Fleet
) -> None:
    assert applied["service"]["role_arn"] == options.service_role_arn
    assert applied["service"]["scan_role_arn"] == options.scan_service_role_arn
    assert applied["service"]["trusted_subjects"] == {
        "write": list(options.write_subjects),
        "scan": list(options.scan_subjects),
    }
    client = iam(moto_url, SERVICE)
    provider = applied["service"]["oidc_provider_arn"]
    for role, subjects, may_assume in (
        (options.service_role_name, options.write_subjects, fleet.customer_role_arns),
        (
            options.scan_service_role_name,
            options.scan_subjects,
            fleet.scan_role_arns(options.customer_scan_role_name),
        ),
    ):
        trust, allowed = _single_statement(client, role)
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Federated": provider}
        assert normalized(statement["Condition"]) == normalized(
            {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    # IAM writes a one-element list as a string
                    "token.actions.githubusercontent.com:sub": (
                        subjects[0] if len(subjects) == 1 else list(subjects)
                    ),
                }
            }
        )
        assert sorted(allowed["Action"]) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
        assert sorted(allowed["Resource"]) == sorted(may_assume)
    assert not set(fleet.customer_role_arns) & set(
        fleet.scan_role_arns(options.customer_scan_role_name)
    )


MAIN = "refs/heads/main"


def _jobs(repository: str) -> dict[str, Job]:
    """The jobs an attacker or a mistake could run, and the three genuine ones."""
    return {
        "apply": Job(repository, "reclaim-apply.yml", MAIN, "reclaim-apply"),
        "rollback": Job(repository, "reclaim-rollback.yml", MAIN, "reclaim-apply", "issue_comment"),
        "scan": Job(repository, "reclaim-scan.yml", MAIN, "reclaim-scan", "schedule"),
        # a writer pushes a branch whose copy of the apply workflow names the environment
        "apply on another branch": Job(
            repository, "reclaim-apply.yml", "refs/heads/steal", "reclaim-apply"
        ),
        "scan on another branch": Job(
            repository, "reclaim-scan.yml", "refs/heads/steal", "reclaim-scan"
        ),
        # another workflow file merged to main that names the approval environment
        "other workflow on main": Job(repository, "deploy.yml", MAIN, "reclaim-apply"),
        "other workflow on main, no environment": Job(repository, "deploy.yml", MAIN),
        # the apply workflow's file run without its environment (edited on main)
        "apply without environment": Job(repository, "reclaim-apply.yml", MAIN),
        "pull request": Job(
            repository, "reclaim-validate.yml", "refs/pull/7/merge", None, "pull_request"
        ),
        "another repository": Job("mallory/cost", "reclaim-apply.yml", MAIN, "reclaim-apply"),
    }


def test_the_trust_policies_refuse_every_job_but_their_own(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions
) -> None:
    """Against the policies IAM holds (read back from moto), the subjects GitHub issues."""
    client = iam(moto_url, SERVICE)
    provider = applied["service"]["oidc_provider_arn"]
    trusts = {
        "write": client.get_role(RoleName=options.service_role_name)["Role"][
            "AssumeRolePolicyDocument"
        ],
        "scan": client.get_role(RoleName=options.scan_service_role_name)["Role"][
            "AssumeRolePolicyDocument"
        ],
    }
    admitted = {
        name: sorted(
            role for role, trust in trusts.items() if admits(trust, provider, token_request(job))
        )
        for name, job in _jobs(options.repository).items()
    }
    assert admitted == {
        "apply": ["write"],
        "rollback": ["write"],
        "scan": ["scan"],
        "apply on another branch": [],
        "scan on another branch": [],
        "other workflow on main": [],
        "other workflow on main, no environment": [],
        "apply without environment": [],
        "pull request": [],
        "another repository": [],
    }
    # Fail closed: with GitHub's default subject template (init's customization not applied)
    # no job reaches either role, not even the genuine ones.
    for job in _jobs(options.repository).values():
        request = token_request(job, claim_keys=None)
        assert not any(admits(trust, provider, request) for trust in trusts.values())
    # and a token minted for another audience is refused
    apply = _jobs(options.repository)["apply"]
    assert not admits(trusts["write"], provider, token_request(apply, audience="sigstore"))


def test_the_customer_role_has_exactly_the_computed_policies(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions, fleet: Fleet
) -> None:
    assert applied["customer"]["role_arn"] == PROD.role_arn
    assert applied["customer"]["scan_role_arn"] == PROD.scan_role_arn
    client = iam(moto_url, PROD.id)
    policies = customer_policies(fleet)
    assert PROD.regions is not None
    for role_name, principal, documents in (
        ("reclaim-remediation", options.service_role_arn, ("read", "write")),
        ("reclaim-scan", options.scan_service_role_arn, ("read",)),
    ):
        role = client.get_role(RoleName=role_name)["Role"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": principal}
        assert normalized(trust["Condition"]) == normalized(
            {
                "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
                "Null": {"sts:SourceIdentity": "false"},
            }
        )
        names = client.list_role_policies(RoleName=role_name)["PolicyNames"]
        assert sorted(names) == [f"reclaim-{name}" for name in documents], role_name
        for name in documents:
            created = client.get_role_policy(RoleName=role_name, PolicyName=f"reclaim-{name}")
            expected = policy_json(
                policies.documents[name],
                account=PROD.id,
                regions=PROD.regions,
                skip_tag=fleet.skip_tag,
            )
            assert as_lists(created["PolicyDocument"]) == as_lists(expected), (role_name, name)
    # the scan role's only policy allows no write action of the rules
    (scan_policy,) = client.list_role_policies(RoleName="reclaim-scan")["PolicyNames"]
    document = client.get_role_policy(RoleName="reclaim-scan", PolicyName=scan_policy)
    granted = {a for st in document["PolicyDocument"]["Statement"] for a in as_lists(st)["Action"]}
    assert policies.write_actions() and not granted & set(policies.write_actions())


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


def _client(service: str, url: str, credentials: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_the_scan_chain_reaches_only_the_read_only_roles_terraform_created(
    applied: dict[str, dict[str, Any]],
    moto_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub's OIDC step leaves the scan role's credentials in the scan job; reclaim's hop 2
    then assumes the account's scan role. With moto enforcing IAM, that chain scans, but can
    neither assume the remediation role nor delete a volume, whatever code runs in the job."""
    from botocore.exceptions import ClientError
    from moto.core.authorization import enable_iam_authentication
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
    # (moto does not check OIDC tokens: the trust side is test_the_trust_policies_refuse_...)
    hop1 = sts.assume_role(
        RoleArn=applied["service"]["scan_role_arn"], RoleSessionName="GitHubActions"
    )["Credentials"]
    for key, value in {
        "AWS_ACCESS_KEY_ID": hop1["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": hop1["SecretAccessKey"],
        "AWS_SESSION_TOKEN": hop1["SessionToken"],
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
                    "scan_role_arn": applied["customer"]["scan_role_arn"],
                    "external_id_env": "RECLAIM_EXTERNAL_ID_PROD",
                }
            ],
            "regions": ["us-east-1"],
            # (moto's IAM simulation mis-attributes CloudFront's global calls: EBS only)
            "rules": {name: {"enabled": False} for name in RULES if name != "ebs-unattached"}
            | {"ebs-unattached": {"use_cloudtrail": False}},
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )
    before = len(sts_backends[PROD.id]["aws"].assumed_roles)
    with enable_iam_authentication():
        report = scan(config, as_of=datetime.now(UTC), session_for=chain_sessions(config))
        # Code in the scan job that skips reclaim: the scan role cannot reach the write role,
        with pytest.raises(ClientError) as refused:
            _client("sts", moto_url, hop1).assume_role(
                RoleArn=applied["customer"]["role_arn"],
                RoleSessionName="steal",
                ExternalId=EXTERNAL_ID,
                SourceIdentity="mallory",
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        # and the scan role's own session fails to change anything (moto's simulation denies
        # every ARN-scoped write, so this alone proves little: that the scan role holds no
        # write action at all is asserted on its policy in ..._has_exactly_the_computed_policies)
        read_only = _client("sts", moto_url, hop1).assume_role(
            RoleArn=applied["customer"]["scan_role_arn"],
            RoleSessionName="steal",
            ExternalId=EXTERNAL_ID,
            SourceIdentity="mallory",
        )["Credentials"]
        with pytest.raises(ClientError) as denied:
            _client("ec2", moto_url, read_only).delete_volume(VolumeId=volume)
        assert denied.value.response["Error"]["Code"] in ("AccessDenied", "UnauthorizedOperation")
    assert report.errors == ()
    # the volume of the customer account was seen (first seen now, so not yet a finding)
    assert {s.resource_id for s in report.skipped if s.account == PROD.id} == {volume}
    hop2 = sts_backends[PROD.id]["aws"].assumed_roles[before:]
    assert (hop2[0].role_arn, hop2[0].external_id) == (
        applied["customer"]["scan_role_arn"],
        EXTERNAL_ID,
    )
    assert hop2[0].session_name.startswith("reclaim-scan-")
    # the volume is still there
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id=customer["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=customer["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=customer["AWS_SESSION_TOKEN"],
    )
    assert [v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=[volume])["Volumes"]] == [volume]


def test_doctor_passes_the_roles_terraform_created_and_names_a_loosened_trust(
    applied: dict[str, dict[str, Any]], moto_url: str, options: PipelineOptions, fleet: Fleet
) -> None:
    from generator.pipeline.doctor import check_aws

    client = iam(moto_url, SERVICE)
    assert [c for c in check_aws(options, fleet, client) if not c.ok] == []
    role = options.service_role_name
    original = client.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    loosened = json.loads(json.dumps(original))
    statement = loosened["Statement"][0]
    # what a hand edit "to make it work" often looks like: any workflow of the repository
    statement["Condition"]["StringLike"] = {
        "token.actions.githubusercontent.com:sub": "repo:acme/cost:*"
    }
    del statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    client.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(loosened))
    everything = client.create_policy(
        PolicyName="AdministratorAccess",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    client.attach_role_policy(RoleName=role, PolicyArn=everything)
    try:
        failed = {c.what: c for c in check_aws(options, fleet, client) if not c.ok}
        assert set(failed) == {"write role (hop 1) trust", "write role (hop 1) permissions"}
        assert "StringLike" in failed["write role (hop 1) trust"].detail
        assert "AdministratorAccess" in failed["write role (hop 1) permissions"].detail
        assert "terraform apply terraform/service-role" in failed["write role (hop 1) trust"].fix
    finally:
        client.detach_role_policy(RoleName=role, PolicyArn=everything)
        client.delete_policy(PolicyArn=everything)
        client.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(original))


def test_the_write_chain_reaches_the_remediation_role_and_not_the_scan_role(
    applied: dict[str, dict[str, Any]], moto_url: str
) -> None:
    """The other half, with moto enforcing IAM: the write role assumes the remediation role
    (not the scan role), and its session reads. moto's IAM simulation denies every grant
    that carries a tag condition (DeleteVolume's skip tag, CreateSnapshot's plan tag), so the
    write grants' behaviour is test_policy.py's evaluation of the same documents."""
    from botocore.exceptions import ClientError
    from moto.core.authorization import enable_iam_authentication

    customer = account_env(moto_url, PROD.id)
    volume = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id=customer["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=customer["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=customer["AWS_SESSION_TOKEN"],
    ).create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    sts = boto3.client(
        "sts",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    hop1 = sts.assume_role(RoleArn=applied["service"]["role_arn"], RoleSessionName="apply")[
        "Credentials"
    ]
    with enable_iam_authentication():
        with pytest.raises(ClientError) as refused:
            _client("sts", moto_url, hop1).assume_role(
                RoleArn=applied["customer"]["scan_role_arn"],
                RoleSessionName="cross",
                ExternalId=EXTERNAL_ID,
                SourceIdentity="alice",
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        hop2 = _client("sts", moto_url, hop1).assume_role(
            RoleArn=applied["customer"]["role_arn"],
            RoleSessionName="reclaim-apply-gh-1",
            ExternalId=EXTERNAL_ID,
            SourceIdentity="alice",
        )["Credentials"]
        ec2 = _client("ec2", moto_url, hop2)
        assert volume in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
        identity = _client("sts", moto_url, hop2).get_caller_identity()
    assert identity["Arn"].startswith(
        f"arn:aws:sts::{PROD.id}:assumed-role/{PROD.role_arn.split('/')[-1]}/"
    )
