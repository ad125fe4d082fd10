"""A repository running reclaim's generated pipeline: the GitHub stand-in (its bare repository
is the origin), moto on 127.0.0.1 for AWS, a remediation PR opened by `reclaim propose`, and
real webhook payloads for what happens next."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.forge import throttle
from generator.pipeline.render import render_workflows
from generator.pipeline.spec import Fleet, PipelineOptions
from tests.github_standin.server import GitHubStandIn
from tests.pipeline.harness import JobRun, load_workflow, run_job

REPOSITORY = "acme/infra"
REGION = "us-east-1"
TOKEN = "test-token"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Pipeline:
    root: Path
    standin: GitHubStandIn
    work: Path
    moto_url: str
    workflows: dict[str, dict[str, Any]]
    runs: int = 0
    as_of: str | None = None
    """The instant of the last scan: apply and rollback judge the rule's thresholds then."""

    @property
    def origin(self) -> Path:
        return self.standin.git.path

    @property
    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def ec2(self) -> Any:
        return self.ec2_in(REGION)

    def ec2_in(self, region: str) -> Any:
        # Explicit keys: boto3's default session caches whatever credentials an earlier test
        # left in the environment.
        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.moto_url,
            aws_access_key_id=self.aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.aws_env["AWS_SECRET_ACCESS_KEY"],
        )

    def main_sha(self) -> str:
        return git(self.origin, "rev-parse", "refs/heads/main")

    def push_unrelated_commit(self, path: str) -> str:
        """Someone else's change lands on main (a merge, a commit of another run)."""
        clone = self.checkout()
        (clone / path).write_text("unrelated\n")
        git(clone, "add", path)
        git(clone, "commit", "-q", "-m", f"add {path}")
        git(clone, "push", "-q", "origin", "HEAD:main")
        return git(clone, "rev-parse", "HEAD")

    def origin_file(self, path: str) -> str | None:
        return self.standin.git.show("refs/heads/main", path)

    def open_prs(
        self, monkeypatch: pytest.MonkeyPatch, count: int = 1
    ) -> list[tuple[int, str, str]]:
        """Idle volumes, scanned twice, proposed: (PR number, finding ID, volume ID) each."""
        ids = [
            self.ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=50, VolumeType="gp3")[
                "VolumeId"
            ]
            for _ in range(count)
        ]
        self.propose_twice(monkeypatch)
        opened = []
        for volume in ids:
            (pull,) = [p for p in self.standin.pulls.values() if p.head_ref.endswith(volume)]
            opened.append((pull.number, pull.head_ref.removeprefix("reclaim/"), volume))
        return opened

    def propose_twice(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Two scans ten days apart (long enough unattached), as the scan workflow's propose
        job runs them, and the state they leave committed."""
        monkeypatch.setattr(throttle, "_sleep", lambda _s: None)
        config = str(self.work / "reclaim.yml")
        now = datetime.now(UTC)
        for days in (0, 10):
            as_of = (now + timedelta(days=days)).isoformat()
            result = CliRunner().invoke(
                main, ["propose", "--config", config, "--as-of", as_of], catch_exceptions=False
            )
            assert result.exit_code == 0, result.output
        self.as_of = as_of
        self.commit_state()

    def commit_state(self) -> None:
        """The first-seen clocks reach main, as the scan workflow's commit-state pushes them:
        apply looks at the resource again with the default branch's state file."""
        git(self.work, "pull", "-q", "--rebase", "origin", "main")
        git(self.work, "add", ".reclaim/state.json")
        git(self.work, "commit", "-q", "-m", "reclaim: first-seen clocks")
        git(self.work, "push", "-q", "origin", "HEAD:main")

    def open_pr(self, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
        (only,) = self.open_prs(monkeypatch)
        return only

    def checkout(self) -> Path:
        """What actions/checkout leaves for a job: the default branch as it is now."""
        self.runs += 1
        path = self.root / f"run-{self.runs}"
        git(self.root, "clone", "-q", "--branch", "main", str(self.origin), str(path))
        return path

    def event(self, payload: dict[str, Any]) -> Path:
        path = self.root / f"event-{self.runs}.json"
        path.write_text(json.dumps(payload))
        return path

    def run(
        self,
        workflow: str,
        job: str,
        payload: dict[str, Any],
        *,
        actor: str,
        needs: dict[str, Any] | None = None,
        honour_job_if: bool = True,
        workdir: Path | None = None,
    ) -> JobRun:
        workdir = workdir or self.checkout()
        event_name = {
            "reclaim-apply": "push",
            "reclaim-rollback": "issue_comment",
            "reclaim-validate": "pull_request",
        }[workflow]
        sha = self.main_sha()
        return run_job(
            self.workflows[workflow],
            job,
            workdir=workdir,
            event_path=self.event(payload),
            github={
                "event_name": event_name,
                "event": payload,
                "repository": REPOSITORY,
                "actor": actor,
                "run_id": f"{4000 + self.runs}",
                "sha": sha,
                "ref": "refs/heads/main",
                "token": TOKEN,
            },
            secrets={},
            aws_env=self.aws_env,
            extra_env={
                "GITHUB_API_URL": self.standin.api_url,
                "GITHUB_SERVER_URL": self.standin.web,
                **({"RECLAIM_AS_OF": self.as_of} if self.as_of else {}),
            },
            needs=needs,
            honour_job_if=honour_job_if,
        )


@dataclass
class Opened:
    """One proposed finding's pull request in a pipeline."""

    pipeline: Pipeline
    number: int
    finding: str
    volume: str

    @property
    def folder(self) -> str:
        return f"remediations/{self.finding}"

    @property
    def branch(self) -> str:
        return f"reclaim/{self.finding}"


def make_pipeline(tmp_path: Path, standin: GitHubStandIn, moto_url: str) -> Pipeline:
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(standin.git.path), str(work))
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
    )
    options = PipelineOptions(repository=REPOSITORY, service_account_id="111111111111")
    fleet = Fleet(
        accounts=(),
        regions=(REGION,),
        enabled_rules=("ebs-unattached",),
        skip_tag="reclaim:skip",
        remediations_dir="remediations",
    )
    return init_pipeline(tmp_path, standin, work, moto_url, options, fleet)


def init_pipeline(
    tmp_path: Path,
    standin: GitHubStandIn,
    work: Path,
    moto_url: str,
    options: PipelineOptions,
    fleet: Fleet,
    message: str = "reclaim init",
) -> Pipeline:
    """What `reclaim init` writes for ``options`` and ``fleet``, committed in ``work`` (a
    clone of the stand-in's repository, its reclaim.yml written) and pushed to main."""
    workflows = {}
    for path, text in render_workflows(options, fleet).items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
        workflows[Path(path).stem] = load_workflow(work / path)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", message)
    git(work, "push", "-q", "origin", "HEAD:main")
    return Pipeline(tmp_path, standin, work, moto_url, workflows)
