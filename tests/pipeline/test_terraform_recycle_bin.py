"""The customer-role Terraform's optional Recycle Bin rule for ebs-snapshot-orphaned: off by
default, and matching exactly the tag the rule's plans set (a mismatch would make every
deletion permanent while the PR promises a restore)."""

from __future__ import annotations

from pathlib import Path

from generator.rules.ebs_snapshot_orphaned import RECYCLE_BIN_TAG, RECYCLE_BIN_VALUE
from tests.pipeline.test_terraform import block, parse
from tests.pipeline.test_terraform_apply import moto_url  # noqa: F401 (fixture)


def test_the_recycle_bin_rule_keeps_what_the_plans_tag_and_is_off_by_default(
    rendered: Path,
) -> None:
    main = parse(rendered / "terraform/customer-role/main.tf")
    rule = block(main, "resource", "aws_rbin_rule", "ebs_snapshots")
    assert rule["resource_type"] == "EBS_SNAPSHOT"
    (tags,) = rule["resource_tags"]
    assert (tags["resource_tag_key"], tags["resource_tag_value"]) == (
        RECYCLE_BIN_TAG,
        RECYCLE_BIN_VALUE,
    )
    (period,) = rule["retention_period"]
    assert period["retention_period_value"] == "${var.recycle_bin_days}"
    assert period["retention_period_unit"] == "DAYS"
    assert rule["count"] == "${var.recycle_bin_days > 0 ? 1 : 0}"
    variables = parse(rendered / "terraform/customer-role/variables.tf")
    (days,) = [v["recycle_bin_days"] for v in variables["variable"] if "recycle_bin_days" in v]
    assert days["default"] == 0


def test_terraform_plans_the_rule_only_when_recycle_bin_days_is_set(
    rendered: Path,
    tmp_path: Path,
    moto_url: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """A real `terraform plan` of the customer-role module (provider pointed at moto, which
    answers the IAM and STS reads; planning a rule creation calls no Recycle Bin API)."""
    import shutil

    from tests.pipeline.conftest import PROD
    from tests.pipeline.test_terraform_apply import EXTERNAL_ID, account_env
    from tests.pipeline.tools import run, terraform_plugin_dir, tool

    terraform = tool("terraform")
    where = tmp_path / "customer-role"
    shutil.copytree(rendered / "terraform" / "customer-role", where)
    (where / "provider_override.tf").write_text(
        'provider "aws" {\n'
        '  region                      = "us-east-1"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        f'  endpoints {{\n    iam = "{moto_url}"\n    sts = "{moto_url}"\n  }}\n'
        "}\n"
    )
    init = run(
        [*terraform, "init", "-input=false", "-no-color", f"-plugin-dir={terraform_plugin_dir()}"],
        where,
    )
    assert init.returncode == 0, init.stderr
    env = account_env(moto_url, PROD.id)
    common = [f"-var=external_id={EXTERNAL_ID}", "-var-file=accounts/prod.tfvars"]
    plans = {}
    for days in ("0", "14"):
        plan = run(
            [
                *terraform,
                "plan",
                "-input=false",
                "-no-color",
                *common,
                f"-var=recycle_bin_days={days}",
            ],
            where,
            env=env,
        )
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
        plans[days] = plan.stdout
    assert "aws_rbin_rule.ebs_snapshots[0] will be created" in plans["14"]
    assert "retention_period_value = 14" in plans["14"]
    assert "aws_rbin_rule" not in plans["0"]
    refused = run(
        [*terraform, "plan", "-input=false", "-no-color", *common, "-var=recycle_bin_days=400"],
        where,
        env=env,
    )
    assert refused.returncode != 0 and "recycle_bin_days is 0" in refused.stderr
