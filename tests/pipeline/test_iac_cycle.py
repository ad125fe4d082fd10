"""One whole cycle of a Terraform-managed volume through the generated workflows: scan, the
pull request carrying the code change, merge, the apply workflow (backup, terraform plan
checked, apply of the saved plan), the rollback workflow (restore from the backup), and the
follow-up pull request that puts the block back and imports the restored volume; merging
that and planning shows Terraform importing it and changing nothing else.

Real Terraform with the hashicorp/aws provider from the local mirror, its state in an S3
backend, everything on moto; the GitHub stand-in is the forge. Slow (minutes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.iac.terraform import Terraform
from generator.pipeline.spec import Fleet, PipelineOptions
from tests.github_standin.server import GitHubStandIn
from tests.iac.roots import write_provider
from tests.pipeline.harness import JobRun
from tests.pipeline.scenario import REGION, REPOSITORY, TOKEN, Pipeline, git, init_pipeline
from tests.pipeline.tools import terraform_plugin_dir, tool
from tests.pipeline.webhooks import push, rollback_comment

BUCKET, KEY = "acme-tfstate", "storage/terraform.tfstate"
MAIN_TF = """\
# Scratch space for the nightly batch.
resource "aws_ebs_volume" "scratch" {
  availability_zone = "us-east-1a"
  size              = 3 # GiB
  type              = "gp3"

  tags = {
    Name = "scratch"
  }
}
"""
BACKEND_TF = """\
terraform {
  backend "s3" {
    bucket                      = "%(bucket)s"
    key                         = "%(key)s"
    region                      = "us-east-1"
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    skip_s3_checksum            = true
    endpoints = {
      s3  = "%(url)s"
      sts = "%(url)s"
    }
  }
}
"""
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "TF_CLI_CONFIG_FILE": "/dev/null",
}


def ok(run: JobRun) -> None:
    assert run.skipped_because is None and not run.failed, [
        (s.name, s.returncode, s.stdout[-3000:], s.stderr[-3000:]) for s in run.steps
    ]


def terraform(root: Path) -> Terraform:
    return Terraform(
        root, CREDENTIALS, tool("terraform")[0], (f"-plugin-dir={terraform_plugin_dir()}",)
    )


def managed_pipeline(tmp_path: Path, standin: GitHubStandIn, moto_url: str) -> Pipeline:
    """An ops repository whose volume Terraform manages (state in S3), set up by init."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(standin.git.path), str(work))
    root = work / "infra"
    root.mkdir()
    (root / "main.tf").write_text(MAIN_TF)
    (root / "backend.tf").write_text(BACKEND_TF % {"bucket": BUCKET, "key": KEY, "url": moto_url})
    write_provider(root, moto_url)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    s3.create_bucket(Bucket=BUCKET)
    applied = terraform(root)
    applied.init()
    applied.plan()
    applied.apply_saved()
    (work / ".gitignore").write_text(".terraform/\n*.tfplan\n.terraform.lock.hcl\n")
    (work / "reclaim.yml").write_text(
        "version: 1\n"
        "accounts:\n  - name: prod\n"
        f"regions: [{REGION}]\n"
        "rules:\n  ebs-unattached: {use_cloudtrail: false}\n"
        "forge:\n"
        "  type: github\n"
        f"  repository: {REPOSITORY}\n"
        f"  api_url: {standin.api_url}\n"
        "  dashboard: false\n"
        "iac:\n"
        "  terraform:\n"
        "    - name: storage\n"
        "      path: infra\n"
        f"      state: {{s3: {{bucket: {BUCKET}, key: {KEY}, region: {REGION}}}}}\n"
    )
    options = PipelineOptions(repository=REPOSITORY, service_account_id="111111111111")
    fleet = Fleet(
        accounts=(),
        regions=(REGION,),
        enabled_rules=("ebs-unattached",),
        skip_tag="reclaim:skip",
        remediations_dir="remediations",
        state_objects=(f"arn:{{partition}}:s3:::{BUCKET}/{KEY}",),
        terraform=True,
    )
    return init_pipeline(
        tmp_path, standin, work, moto_url, options, fleet, "reclaim init; the storage root"
    )


def scan_and_propose(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scans ten days apart, as the scan workflow's propose job runs them."""
    pipeline.propose_twice(monkeypatch)


def state_ids(pipeline: Pipeline) -> dict[str, str]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=pipeline.moto_url)
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())
    return {
        f"{r['type']}.{r['name']}": r["instances"][0]["attributes"]["id"]
        for r in state["resources"]
        if r["mode"] == "managed"
    }


def test_scan_pr_merge_apply_rollback_and_the_import_pr(
    tmp_path: Path, standin: GitHubStandIn, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    pipeline = managed_pipeline(tmp_path, standin, moto_server)
    volume = state_ids(pipeline)["aws_ebs_volume.scratch"]

    # Scan → one PR, carrying the code change (no plan.json).
    scan_and_propose(pipeline, monkeypatch)
    (pull,) = [p for p in standin.pulls.values() if p.head_ref.endswith(volume)]
    assert {"reclaim", "iac:terraform"} <= set(pull.labels) and "needs-human" not in pull.labels
    folder = f"remediations/{pull.head_ref.removeprefix('reclaim/')}"
    assert standin.git.show(f"refs/heads/{pull.head_ref}", f"{folder}/plan.json") is None
    assert standin.git.show(f"refs/heads/{pull.head_ref}", f"{folder}/iac.json")
    assert 'resource "aws_ebs_volume"' not in (
        standin.git.show(f"refs/heads/{pull.head_ref}", "infra/main.tf") or ""
    )

    # Merge → the apply workflow: backup, terraform plan checked, the saved plan applied.
    before = pipeline.main_sha()
    after = standin.human_merge(pull.number)
    apply = pipeline.run(
        "reclaim-apply",
        "apply",
        push(repository=REPOSITORY, before=before, after=after),
        actor="alice",
    )
    ok(apply)
    ec2 = pipeline.ec2()
    assert not [v for v in ec2.describe_volumes()["Volumes"] if v["VolumeId"] == volume]
    (snapshot,) = ec2.describe_snapshots(
        Filters=[{"Name": "tag:reclaim:plan-id", "Values": [folder.rsplit("/", 1)[1]]}]
    )["Snapshots"]
    assert snapshot["VolumeId"] == volume
    assert state_ids(pipeline) == {}
    journal: dict[str, Any] = json.loads(pipeline.origin_file(f"{folder}/journal.json") or "{}")
    steps = {s["step_id"]: s for s in journal["apply"]["steps"]}
    assert steps["terraform-apply"]["status"] == "completed"
    assert steps["terraform-apply"]["request"]["merge"] == after  # the merge it checked
    assert "reclaim:applied" in standin.pulls[pull.number].labels

    # /rollback → the volume restored from the backup (a new ID), and the follow-up PR.
    cid = standin.human_comment(pull.number, "alice", "/rollback")
    payload = rollback_comment(
        repository=REPOSITORY, number=pull.number, login="alice", body="/rollback", comment_id=cid
    )
    gate = pipeline.run("reclaim-rollback", "gate", payload, actor="alice", honour_job_if=False)
    ok(gate)
    rollback = pipeline.run(
        "reclaim-rollback",
        "rollback",
        payload,
        actor="alice",
        needs={"gate": {"outputs": gate.outputs}},
    )
    ok(rollback)
    (restored,) = [
        v
        for v in ec2.describe_volumes()["Volumes"]
        if v.get("SnapshotId") == snapshot["SnapshotId"]
    ]
    new_id = restored["VolumeId"]
    assert new_id != volume
    (follow_up,) = standin.pull_by_head(f"reclaim-follow-up/{folder.rsplit('/', 1)[1]}")
    assert {"reclaim", "reclaim:follow-up", "iac:terraform"} <= set(follow_up.labels)
    assert f"#{pull.number}" in (follow_up.body or "") and new_id in (follow_up.body or "")
    head = f"refs/heads/{follow_up.head_ref}"
    assert (
        subprocess.run(
            ["git", "-C", str(standin.git.path), "show", f"{head}:infra/main.tf"],
            capture_output=True,
            check=True,
        ).stdout.decode()
        == MAIN_TF
    )
    imports = standin.git.show(head, "infra/reclaim_imports.tf") or ""
    assert f'to = aws_ebs_volume.scratch\n  id = "{new_id}"' in imports

    # Merge the follow-up: Terraform imports the restored volume and changes nothing else.
    standin.human_merge(follow_up.number)
    checkout = pipeline.checkout()
    plan = terraform(checkout / "infra")
    plan.init()
    shown = plan.plan()
    changes = [c for c in shown["resource_changes"] if c["change"]["actions"] != ["no-op"]]
    assert changes == []
    (imported,) = shown["resource_changes"]
    assert imported["address"] == "aws_ebs_volume.scratch"
    assert imported["change"]["importing"]["id"] == new_id
