"""A repository that runs reclaim's pipeline: a bare origin, a merged remediation PR, a moto
server holding the idle volume, and real webhook payloads for the events that follow."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from generator.config import load_config
from generator.pipeline.render import render_workflows
from generator.pipeline.spec import Fleet, PipelineOptions
from generator.planner import plan_finding, write_remediation
from generator.scan import scan
from tests.pipeline.harness import load_workflow

REPOSITORY = "acme/infra"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account: the ambient credentials' account

CONFIG = f"""\
version: 1
accounts:
  - name: prod
regions: [{REGION}]
rules:
  ebs-unattached: {{use_cloudtrail: false}}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


@dataclass
class Pipeline:
    root: Path
    origin: Path
    work: Path
    moto_url: str
    workflows: dict[str, dict[str, Any]]

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
        return boto3.client("ec2", region_name=REGION, endpoint_url=self.moto_url)

    def checkout(self, name: str) -> Path:
        """What actions/checkout leaves for a job: the default branch, full history."""
        path = self.root / name
        git(self.root, "clone", "-q", "--branch", "main", str(self.origin), str(path))
        return path

    def event(self, name: str, payload: dict[str, Any]) -> Path:
        path = self.root / f"{name}.json"
        path.write_text(json.dumps(payload))
        return path

    def origin_file(self, path: str) -> str | None:
        result = subprocess.run(
            ["git", "show", f"main:{path}"], cwd=self.origin, capture_output=True, text=True
        )
        return result.stdout if result.returncode == 0 else None

    def merge_remediation_pr(self) -> tuple[str, str, str, str]:
        """Scan moto, plan the finding on a branch, merge it.

        Returns (finding ID, volume ID, main before the merge, the merge commit)."""
        volume = self.ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=50, VolumeType="gp3")
        config = load_config(self.work / "reclaim.yml")
        now = datetime.now(UTC)
        scan(config, as_of=now)
        report = scan(config, as_of=now + timedelta(days=10))
        (finding,) = [f for f in report.findings if f.resource_id == volume["VolumeId"]]
        before = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "-q", "-b", f"reclaim/{finding.id}")
        write_remediation(plan_finding(finding), self.work / "remediations")
        git(self.work, "add", "remediations")
        git(self.work, "commit", "-q", "-m", f"reclaim: {finding.title}")
        git(self.work, "checkout", "-q", "main")
        git(
            self.work,
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #7",
            f"reclaim/{finding.id}",
        )
        git(self.work, "push", "-q", "origin", "main")
        return finding.id, finding.resource_id, before, git(self.work, "rev-parse", "HEAD")


def make_pipeline(tmp_path: Path, moto_url: str) -> Pipeline:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "reclaim.yml").write_text(CONFIG)
    (work / ".gitignore").write_text(".reclaim/\n")
    options = PipelineOptions(repository=REPOSITORY, service_account_id="111111111111")
    fleet = Fleet(
        accounts=(),
        regions=(REGION,),
        enabled_rules=("ebs-unattached",),
        skip_tag="reclaim:skip",
        remediations_dir="remediations",
    )
    workflows = {}
    for path, text in render_workflows(options, fleet).items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
        workflows[Path(path).stem] = load_workflow(work / path)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "reclaim init")
    git(work, "push", "-q", "origin", "HEAD:main")
    return Pipeline(tmp_path, origin, work, moto_url, workflows)
