"""`reclaim apply` of an API plan for a resource infrastructure code manages is refused
before any change, whatever the folder says (a plan proposed before iac: was configured, or
one written by hand): the default branch's reclaim.yml and Terraform state decide."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from generator.cli import main
from generator.errors import ExitCode
from tests.conftest import make_volume


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def state_naming(volume_id: str) -> str:
    return json.dumps(
        {
            "version": 4,
            "resources": [
                {
                    "mode": "managed",
                    "type": "aws_ebs_volume",
                    "name": "scratch",
                    "instances": [{"attributes": {"id": volume_id}}],
                }
            ],
        }
    )


def test_an_api_plan_for_a_terraform_managed_volume_is_refused_and_the_volume_stays(
    ec2: Any, tmp_path: Path
) -> None:
    volume = make_volume(ec2, tags={"Name": "old"})
    config = tmp_path / "reclaim.yml"
    base = "regions: [us-east-1]\nrules:\n  ebs-unattached: {use_cloudtrail: false}\n"
    config.write_text(base)
    as_of = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    findings = tmp_path / "findings.json"
    assert run("scan", "--config", str(config)).exit_code == 0  # starts the idle clock
    assert (
        run("scan", "--config", str(config), "--as-of", as_of, "--output", str(findings)).exit_code
        == 0
    )
    out = tmp_path / "remediations"
    assert run("plan", "--findings", str(findings), "--out", str(out)).exit_code == 0
    (folder,) = out.iterdir()
    # Then the volume turns out to be Terraform's: the default branch's config says so.
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text(
        'resource "aws_ebs_volume" "scratch" {\n  size = 100\n}\n'
    )
    (tmp_path / "infra" / "terraform.tfstate").write_text(state_naming(volume))
    config.write_text(
        base
        + "iac:\n  terraform:\n    - {name: storage, path: infra, state: {local: infra/terraform.tfstate}}\n"
    )
    refused = run("apply", str(folder), "--config", str(config), "--as-of", as_of)
    assert refused.exit_code == ExitCode.STATE, refused.output
    assert "managed by Terraform (aws_ebs_volume.scratch, infra/main.tf:1-3)" in refused.output
    assert "Traceback" not in refused.output
    assert [v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=[volume])["Volumes"]] == [volume]
    volume_snapshots = [{"Name": "volume-id", "Values": [volume]}]
    assert ec2.describe_snapshots(Filters=volume_snapshots)["Snapshots"] == []  # no backup either
    assert not (folder / "journal.json").exists()


def test_a_cloudformation_tagged_volume_is_refused_too(ec2: Any, tmp_path: Path) -> None:
    volume = make_volume(ec2, tags={"Name": "old", "aws:cloudformation:stack-name": "batch"})
    config = tmp_path / "reclaim.yml"
    config.write_text("regions: [us-east-1]\nrules:\n  ebs-unattached: {use_cloudtrail: false}\n")
    as_of = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    findings = tmp_path / "findings.json"
    assert run("scan", "--config", str(config)).exit_code == 0  # starts the idle clock
    assert (
        run("scan", "--config", str(config), "--as-of", as_of, "--output", str(findings)).exit_code
        == 0
    )
    out = tmp_path / "remediations"
    assert run("plan", "--findings", str(findings), "--out", str(out)).exit_code == 0
    (folder,) = out.iterdir()
    refused = run("apply", str(folder), "--config", str(config), "--as-of", as_of)
    assert refused.exit_code == ExitCode.STATE, refused.output
    assert "CloudFormation stack 'batch'" in refused.output
    assert [v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=[volume])["Volumes"]] == [volume]
