"""The follow-up a rollback of a merged Terraform change opens: the removed block put back
byte for byte from the default branch's history, and an import block bringing the restored
volume (a new ID) back under the address the apply journaled.

AWS is moto (in process); the forges are the local git forge and the GitHub stand-in. The
journal here is what the apply and rollback runs write; the attacks change what a branch
author or a tampered journal could change, and check the follow-up does not carry it."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from github import Auth
from moto import mock_aws
from rich.console import Console

from generator.config import ReclaimConfig, parse_config
from generator.errors import StateRefusal
from generator.executor.runner import Executor
from generator.forge.base import Forge, Outcome
from generator.forge.github import GitHubSettings, connect
from generator.forge.local import LocalGitForge
from generator.forge.throttle import WritePacer
from generator.iac.change import CodeChange
from generator.iac.proposal import iac_json
from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import Journal, RunRecord, StepRecord
from generator.pipeline.ci_commands import open_rollback_follow_up
from generator.rules import RULES
from tests.factories import ACCOUNT, volume_finding
from tests.github_standin.server import GitHubStandIn

REGION = "us-east-1"
MAIN_TF = """\
# Storage for the batch jobs.
resource "aws_ebs_volume" "idle" {
  availability_zone = "us-east-1a"
  size              = 1 # one GiB is plenty
  tags = {
    Name = <<-EOT
      idle
    EOT
  }
}

# keep this one
resource "aws_ebs_volume" "keep" {
  availability_zone = "us-east-1a"
  size    = 2
}
"""
IDLE_BLOCK = MAIN_TF[MAIN_TF.index('resource "aws_ebs_volume" "idle"') : MAIN_TF.index("\n#")]
MERGED_TF = MAIN_TF.replace(IDLE_BLOCK + "\n", "")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class Scene:
    """The ops repository after a merged code change was applied and rolled back."""

    def __init__(self, root: Path, *, iac_address: str = "aws_ebs_volume.idle") -> None:
        self.ec2 = boto3.client("ec2", region_name=REGION)
        original = self.ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        self.finding = volume_finding(volume_id=original, size_gib=1, volume_type="gp3")
        snapshot = self.ec2.create_snapshot(
            VolumeId=original,
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": "reclaim:plan-id", "Value": self.finding.id}],
                }
            ],
        )["SnapshotId"]
        self.ec2.delete_volume(VolumeId=original)
        self.restored = self.ec2.create_volume(
            AvailabilityZone="us-east-1a", Size=1, SnapshotId=snapshot
        )["VolumeId"]
        self.other = self.ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        self.snapshot, self.original = snapshot, original

        self.repo = root / "ops"
        (self.repo / "infra").mkdir(parents=True)
        (self.repo / "infra" / "main.tf").write_text(MAIN_TF)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-q", "-m", "infra")
        # The code-change PR, merged with a merge commit (its first parent is main before).
        git(self.repo, "checkout", "-q", "-b", f"reclaim/{self.finding.id}")
        self.folder = f"remediations/{self.finding.id}"
        path = self.repo / self.folder
        path.mkdir(parents=True)
        change = CodeChange(
            finding=self.finding,
            managed_by="terraform",
            root="storage",
            address=iac_address,
            file="infra/main.tf",
            lines=(2, 10),
            action="delete",
        )
        self.iac_text = iac_json(change)
        (path / "iac.json").write_text(self.iac_text)
        (path / "README.md").write_text("the code change\n")
        (self.repo / "infra" / "main.tf").write_text(MERGED_TF)
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-q", "-m", "reclaim: the change")
        git(self.repo, "checkout", "-q", "main")
        git(self.repo, "merge", "-q", "--no-ff", "-m", "Merge", f"reclaim/{self.finding.id}")
        git(self.repo, "branch", "-q", "-D", f"reclaim/{self.finding.id}")
        self.write_journal(self.restored)
        rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
        rules["ebs-unattached"] = {"use_cloudtrail": False}
        self.config: ReclaimConfig = parse_config(
            {
                "rules": rules,
                "iac": {
                    "terraform": [
                        {
                            "name": "storage",
                            "path": "infra",
                            "state": {"local": "infra/terraform.tfstate"},
                        }
                    ]
                },
            },
            source="reclaim.yml",
            base_dir=self.repo,
        )

    def write_journal(self, restored: str, merge: str | None = None) -> None:
        """What the apply and rollback runs journaled (and commit-journals committed);
        ``merge``: the merge the apply checked (older journals hold none)."""
        now = datetime.now(UTC)
        step = lambda step_id, **kw: StepRecord(  # noqa: E731
            step_id=step_id, status="completed", started_at=now, finished_at=now, **kw
        )
        journal = Journal(
            plan_id=self.finding.id,
            plan_sha256=digest(self.iac_text),
            rollback_sha256=digest(self.iac_text),
            apply=RunRecord(
                kind="apply",
                status="completed",
                started_at=now - timedelta(hours=1),
                finished_at=now,
                observed_at=now - timedelta(hours=1),
                steps=[
                    step("backup", outputs={"SnapshotId": self.snapshot}),
                    step(
                        "terraform-apply",
                        request={
                            "root": "storage",
                            "address": "aws_ebs_volume.idle",
                            "resource_id": self.original,
                            "action": "delete",
                            "values": {},
                            **({"merge": merge} if merge else {}),
                        },
                    ),
                ],
            ),
            rollback=RunRecord(
                kind="rollback",
                status="completed",
                started_at=now,
                finished_at=now,
                steps=[step("restore", outputs={"VolumeId": restored})],
            ),
        )
        RemediationFolder(self.repo / self.folder).save_journal(journal)
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-q", "-m", "reclaim: journal")

    def executor_for(self, _path: Path, _kind: str) -> Executor:
        return Executor(
            client_for=lambda service, region: boto3.client(service, region_name=region),
            account_id=lambda: ACCOUNT,
            observer=None,  # type: ignore[arg-type]  (a follow-up observes nothing)
            lock_wait_seconds=0,
        )

    def open(self, forge: Forge) -> Any:
        return open_rollback_follow_up(
            self.config,
            self.repo,
            self.folder,
            7,
            self.executor_for,
            lambda: forge,
            out=Console(file=io.StringIO()),
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def branch_file(repo: Path, branch: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"refs/heads/{branch}:{path}"],
        check=True,
        capture_output=True,
    ).stdout.decode()


def test_the_follow_up_puts_the_block_back_byte_for_byte_and_imports_the_new_volume(
    aws: None, tmp_path: Path
) -> None:
    # iac.json (the PR's file) names another address: the journal's is the one imported.
    scene = Scene(tmp_path, iac_address="aws_ebs_volume.keep")
    forge = LocalGitForge(scene.repo)
    result = scene.open(forge)
    assert result.outcome is Outcome.CREATED
    branch = f"reclaim-follow-up/{scene.finding.id}"
    assert branch_file(scene.repo, branch, "infra/main.tf") == MAIN_TF
    imports = branch_file(scene.repo, branch, "infra/reclaim_imports.tf")
    assert f'import {{\n  to = aws_ebs_volume.idle\n  id = "{scene.restored}"\n}}\n' in imports
    assert "aws_ebs_volume.keep" not in imports and scene.other not in imports
    # The branch is on main, and touches only those two files.
    changed = git(scene.repo, "diff", "--name-only", "main", branch).splitlines()
    assert changed == ["infra/main.tf", "infra/reclaim_imports.tf"]
    # A repeated /rollback retries the follow-up: the same branch is left alone.
    assert scene.open(forge).outcome is Outcome.UNCHANGED


def test_a_journal_naming_another_volume_opens_no_follow_up(aws: None, tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    scene.write_journal(scene.other)  # tampered: the rollback "restored" another volume
    with pytest.raises(StateRefusal, match=r"journal\.json and AWS disagree"):
        scene.open(LocalGitForge(scene.repo))
    refs = git(scene.repo, "for-each-ref", "--format=%(refname)", "refs/heads/")
    assert refs.splitlines() == ["refs/heads/main"]


def test_a_file_changed_since_the_merge_is_merged_three_way(aws: None, tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    later = MERGED_TF + '\nresource "aws_eip" "new" {\n  domain = "vpc"\n}\n'
    (scene.repo / "infra" / "main.tf").write_text(later)
    git(scene.repo, "commit", "-q", "-am", "someone's later change")
    scene.open(LocalGitForge(scene.repo))
    text = branch_file(scene.repo, f"reclaim-follow-up/{scene.finding.id}", "infra/main.tf")
    assert text == MAIN_TF + '\nresource "aws_eip" "new" {\n  domain = "vpc"\n}\n'


def test_the_follow_up_is_a_labelled_pull_request_on_github(aws: None, tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    standin = GitHubStandIn(tmp_path / "github").start()
    try:
        git(scene.repo, "push", "-q", "-f", str(standin.git.path), "main:main")
        forge = connect(
            GitHubSettings(repository="acme/infra", api_url=standin.api_url),
            Auth.Token("test-token"),
            sleeper=lambda _s: None,
            pacer=WritePacer(sleeper=lambda _s: None),
        )
        result = scene.open(forge)
        (pull,) = standin.pull_by_head(f"reclaim-follow-up/{scene.finding.id}")
        assert result.reference.endswith(f"/pull/{pull.number}")
        assert {"reclaim", "reclaim:follow-up", "iac:terraform"} <= set(pull.labels)
        assert "needs-human" not in pull.labels
        assert scene.restored in pull.body and "1 to import, 0 to add" in (pull.body or "")
        assert branch_file(standin.git.path, pull.head_ref, "infra/main.tf") == MAIN_TF
        assert scene.open(forge).outcome is Outcome.UNCHANGED
        assert len(standin.pull_by_head(pull.head_ref)) == 1
        assert not standin.violations, standin.violations
    finally:
        standin.stop()


def test_the_body_says_where_each_value_comes_from(aws: None, tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    forge = LocalGitForge(scene.repo)
    scene.open(forge)
    message = git(scene.repo, "log", "-1", "--format=%B", f"reclaim-follow-up/{scene.finding.id}")
    assert f"as\n`{scene.restored}`" in message or f"`{scene.restored}`" in message
    assert "`/rollback` of #7" in message
    assert json.dumps(scene.restored) in message  # the import line, quoted as in HCL


def test_an_attribute_change_is_put_back_without_an_import(tmp_path: Path) -> None:
    """gp2 → gp3 rolled back (the same volume, gp2 again): the follow-up only sets the code
    back to gp2; nothing to import."""
    from generator.iac.follow_up import follow_up_change, follow_up_title

    repo = tmp_path / "ops"
    (repo / "infra").mkdir(parents=True)
    gp2 = 'resource "aws_ebs_volume" "data" {\n  size = 10\n  type = "gp2" # old\n}\n'
    (repo / "infra" / "main.tf").write_text(gp2)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "infra")
    git(repo, "checkout", "-q", "-b", "pr")
    folder = "remediations/ebs-gp2-to-gp3-x"
    (repo / folder).mkdir(parents=True)
    (repo / folder / "iac.json").write_text("{}\n")
    (repo / "infra" / "main.tf").write_text(gp2.replace('"gp2"', '"gp3"'))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "pr")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge", "pr")
    finding = volume_finding(volume_id="vol-0123456789abcdef0").model_copy(
        update={"rule": "ebs-gp2-to-gp3"}
    )
    now = datetime.now(UTC)
    done = StepRecord(
        step_id="terraform-apply",
        status="completed",
        started_at=now,
        finished_at=now,
        request={
            "root": "storage",
            "address": "aws_ebs_volume.data",
            "resource_id": finding.resource_id,
            "action": "update",
        },
    )
    journal = Journal(
        plan_id=finding.id,
        plan_sha256="x",
        rollback_sha256="x",
        apply=RunRecord(
            kind="apply", status="completed", started_at=now, finished_at=now, steps=[done]
        ),
        rollback=RunRecord(kind="rollback", status="completed", started_at=now, finished_at=now),
    )
    change = follow_up_change(repo, folder, finding, journal, "infra", None, 3)
    assert change.files == {"infra/main.tf": gp2}
    assert change.restored_id is None and not change.needs_human
    assert follow_up_title(change) == (
        "reclaim: after the rollback, put aws_ebs_volume.data back as it is in AWS"
    )


def test_the_journaled_merge_is_the_one_undone_and_must_be_on_the_branch(
    aws: None, tmp_path: Path
) -> None:
    scene = Scene(tmp_path)
    merge = git(scene.repo, "rev-parse", "HEAD~1")  # the merge (HEAD is the journal commit)
    scene.write_journal(scene.restored, merge)
    assert scene.open(LocalGitForge(scene.repo)).outcome is Outcome.CREATED
    assert (
        branch_file(scene.repo, f"reclaim-follow-up/{scene.finding.id}", "infra/main.tf") == MAIN_TF
    )

    elsewhere = Scene(tmp_path / "other")
    git(elsewhere.repo, "checkout", "-q", "-b", "side")
    (elsewhere.repo / "side.txt").write_text("not on main\n")
    git(elsewhere.repo, "add", ".")
    git(elsewhere.repo, "commit", "-q", "-m", "side")
    side = git(elsewhere.repo, "rev-parse", "HEAD")
    git(elsewhere.repo, "checkout", "-q", "main")
    elsewhere.write_journal(elsewhere.restored, side)
    with pytest.raises(StateRefusal, match="no follow-up"):
        elsewhere.open(LocalGitForge(elsewhere.repo))
    assert "reclaim-follow-up" not in git(elsewhere.repo, "branch", "--list")
