"""The generated Terraform: formatted, valid offline, checkov-clean, and saying exactly what
the design asks of both roles' trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from tests.pipeline.tools import run, terraform_plugin_dir, tool

MODULES = ("service-role", "customer-role")


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return hcl2.load(
            handle, serialization_options=SerializationOptions(strip_string_quotes=True)
        )


def block(parsed: dict[str, Any], kind: str, block_type: str, name: str) -> dict[str, Any]:
    for entry in parsed[kind]:
        if block_type in entry and name in entry[block_type]:
            return entry[block_type][name]  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} {block_type}.{name}")


def test_terraform_fmt_check(rendered: Path) -> None:
    terraform = tool("terraform")
    result = run([*terraform, "fmt", "-check", "-diff", "-recursive", "terraform"], rendered)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", MODULES)
def test_terraform_validate_offline(rendered: Path, module: str) -> None:
    terraform = tool("terraform")
    plugins = terraform_plugin_dir()
    where = rendered / "terraform" / module
    init = run(
        [
            *terraform,
            "init",
            "-backend=false",
            "-input=false",
            "-no-color",
            f"-plugin-dir={plugins}",
        ],
        where,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    result = run([*terraform, "validate", "-no-color"], where)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_the_terraform(rendered: Path) -> None:
    checkov = tool("checkov")
    result = run(
        [
            *checkov,
            "--skip-download",
            "--quiet",
            "--compact",
            "-d",
            "terraform",
            "--framework",
            "terraform",
        ],
        rendered,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_each_service_role_trusts_its_own_subjects_and_one_audience(rendered: Path) -> None:
    main = parse(rendered / "terraform/service-role/main.tf")
    for trust_name, subjects in (("trust", "write_subjects"), ("scan_trust", "scan_subjects")):
        trust = block(main, "data", "aws_iam_policy_document", trust_name)["statement"]
        assert len(trust) == 1
        assert trust[0]["actions"] == ["sts:AssumeRoleWithWebIdentity"]
        conditions = {c["variable"]: (c["test"], c["values"]) for c in trust[0]["condition"]}
        assert conditions == {
            "token.actions.githubusercontent.com:aud": ("StringEquals", ["sts.amazonaws.com"]),
            "token.actions.githubusercontent.com:sub": ("StringEquals", f"${{local.{subjects}}}"),
        }
    roles = {
        name: body["assume_role_policy"]
        for entry in main["resource"]
        for kind, blocks in entry.items()
        if kind == "aws_iam_role"
        for name, body in blocks.items()
    }
    assert roles == {
        "service": "${data.aws_iam_policy_document.trust.json}",
        "scan": "${data.aws_iam_policy_document.scan_trust.json}",
    }
    variables = parse(rendered / "terraform/service-role/variables.tf")
    defaults = {
        name: body["default"] for entry in variables["variable"] for name, body in entry.items()
    }
    assert defaults["repository"] == "acme/cost"
    assert defaults["environment"] == "reclaim-apply"
    assert defaults["scan_environment"] == "reclaim-scan"
    assert defaults["customer_role_arns"] == [
        "arn:aws:iam::222222222222:role/reclaim-remediation",
        "arn:aws:iam::333333333333:role/reclaim-remediation",
    ]
    assert defaults["scan_role_arns"] == [
        "arn:aws:iam::222222222222:role/reclaim-scan",
        "arn:aws:iam::333333333333:role/reclaim-scan",  # dev names none: the default name
    ]
    for policy, resources in (
        ("assume_customer_roles", "${var.customer_role_arns}"),
        ("assume_scan_roles", "${var.scan_role_arns}"),
    ):
        permissions = block(main, "data", "aws_iam_policy_document", policy)
        assert permissions["statement"][0]["actions"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
        assert permissions["statement"][0]["resources"] == resources


def test_both_customer_roles_require_external_id_and_source_identity(rendered: Path) -> None:
    main = parse(rendered / "terraform/customer-role/main.tf")
    for name, principal in (
        ("trust", "${var.service_role_arn}"),
        ("scan_trust", "${var.scan_service_role_arn}"),
    ):
        (trust,) = block(main, "data", "aws_iam_policy_document", name)["statement"]
        assert trust["principals"][0]["identifiers"] == [principal]
        conditions = {c["variable"]: (c["test"], c["values"]) for c in trust["condition"]}
        assert conditions == {
            "sts:ExternalId": ("StringEquals", ["${var.external_id}"]),
            "sts:SourceIdentity": ("Null", ["false"]),
        }


def test_each_account_gets_its_own_variables_file(rendered: Path) -> None:
    prod = (rendered / "terraform/customer-role/accounts/prod.tfvars").read_text()
    assert 'regions        = ["us-east-1", "eu-west-1"]' in prod
    assert 'scan_role_name = "reclaim-scan"' in prod
    assert "RECLAIM_EXTERNAL_ID_PROD" in prod
    dev = (rendered / "terraform/customer-role/accounts/dev.tfvars").read_text()
    assert 'regions        = ["us-east-1"]' in dev
