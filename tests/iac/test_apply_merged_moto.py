"""apply-merged on a merged code-change folder (iac.json), with real Terraform on a moto
server: the finding is observed again through its rule, the saved plan is checked against
it and the default branch's state before any backup, the backup runs through the executor
and its journal, and only then is the saved plan applied.

Slow (each terraform plan against moto takes many seconds): one root, few runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from pydantic import JsonValue
from rich.console import Console

from generator.config import ReclaimConfig, parse_config
from generator.errors import AwsCallFailed
from generator.executor.observe import RuleObserver
from generator.executor.runner import Executor
from generator.findings import Finding
from generator.iac.apply import TerraformChange
from generator.iac.change import code_change
from generator.iac.managed import IacIndex
from generator.iac.proposal import iac_json, iac_readme, managed_by
from generator.iac.terraform import Terraform
from generator.pipeline.ci_commands import apply_merged
from generator.pipeline.runs import run_all
from generator.rules import RULES, rule_for
from generator.state import SeenState, state_key
from tests.factories import volume_finding
from tests.iac.roots import write_provider
from tests.pipeline.tools import terraform_plugin_dir, tool

ACCOUNT, REGION = "123456789012", "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "TF_CLI_CONFIG_FILE": "/dev/null",
}
MAIN_TF = """\
resource "aws_ebs_volume" "idle" {
  availability_zone = "us-east-1a"
  size              = 1
}

# keep this one
resource "aws_ebs_volume" "keep" {
  availability_zone = "us-east-1a"
  size              = 2
}
"""
KEEP_BLOCK = MAIN_TF[MAIN_TF.index("# keep this one") :]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends are one per process: a test that ran earlier in this worker (the
    # workflow harness's server, a mock_aws test) may have left snapshots and volumes behind.
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield url
    finally:
        server.stop()


@dataclass
class Ops:
    """The ops repository on the default branch, its Terraform root applied on moto."""

    repo: Path
    config: ReclaimConfig
    url: str
    terraform_args: tuple[str, tuple[str, ...]]
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, region: str = REGION) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service,
                endpoint_url=self.url,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self.clients[service]

    def terraform(self, root: Path) -> Terraform:
        binary, init_args = self.terraform_args
        return Terraform(root, CREDENTIALS, binary, init_args)

    def index(self) -> IacIndex:
        return IacIndex.load(self.config.iac, self.repo)

    def ids(self) -> dict[str, str]:
        return {i.address: i.id or "" for i in self.index().instances()}

    def volume_exists(self, volume_id: str) -> bool:
        volumes = self.client("ec2").describe_volumes()["Volumes"]
        return any(v["VolumeId"] == volume_id for v in volumes)

    def snapshots(self) -> list[dict[str, Any]]:
        """This account's snapshots (moto also lists its public AMIs' ones)."""
        snapshots = self.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
        return [s for s in snapshots if s["OwnerId"] == ACCOUNT]


@pytest.fixture(scope="module")
def ops(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Ops:
    repo = tmp_path_factory.mktemp("ops")
    root = repo / "infra"
    root.mkdir()
    (root / "main.tf").write_text(MAIN_TF)
    write_provider(root, moto_url)
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False, "min_unattached_days": 7}
    config = parse_config(
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
        base_dir=repo,
    )
    made = Ops(
        repo, config, moto_url, (tool("terraform")[0], (f"-plugin-dir={terraform_plugin_dir()}",))
    )
    terraform = made.terraform(root)
    terraform.init()
    terraform.plan()
    terraform.apply_saved()
    (repo / ".gitignore").write_text(".terraform/\n*.tfplan\n.terraform.lock.hcl\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "infra")
    return made


@dataclass
class FailsOnce:
    """The Terraform change, whose first apply fails (a runner lost mid-run, say)."""

    inner: TerraformChange
    step_id: str = "terraform-apply"
    description: str = "terraform apply of the saved, checked plan"
    failed: bool = False

    def check(self, observed: Finding) -> dict[str, JsonValue]:
        return self.inner.check(observed)

    def apply(self) -> dict[str, JsonValue]:
        if not self.failed:
            self.failed = True
            raise AwsCallFailed("the runner lost its connection (injected)")
        return self.inner.apply()


def scene(ops: Ops, volume_id: str, tmp_path: Path) -> tuple[Finding, Any]:
    """The finding as a scan 30 days after first seeing the volume makes it, and an
    executor_for that believes the default branch's reclaim.yml and state (never iac.json)."""
    state = SeenState(tmp_path / "state.json")
    now = datetime.now(UTC)
    state.first_seen("ebs-unattached", state_key(ACCOUNT, REGION, volume_id), now)
    later = now + timedelta(days=30)
    observer = RuleObserver(config=ops.config, state=state)
    placeholder = rule_for("ebs-unattached").build_plan(volume_finding(volume_id=volume_id))
    finding = observer.observe(placeholder, ops.client, later).finding
    change = FailsOnce(TerraformChange(ops.index(), lambda m, _f: ops.terraform(m.root_dir)))
    started = datetime.now(UTC)

    def executor_for(_path: Path, _kind: str) -> Executor:
        return Executor(
            client_for=ops.client,
            account_id=lambda: ACCOUNT,
            observer=observer,
            clock=lambda: later + (datetime.now(UTC) - started),
            lock_wait_seconds=0,
            code_change=change,
        )

    return finding, executor_for


def merge(ops: Ops, finding: Finding, main_tf: str) -> tuple[str, str]:
    """A merge of the code-change PR for ``finding`` whose .tf is ``main_tf``."""
    before = git(ops.repo, "rev-parse", "HEAD")
    change = code_change(finding, managed_by(ops.index(), finding), ops.repo)
    folder = ops.repo / "remediations" / finding.id
    folder.mkdir(parents=True)
    (folder / "iac.json").write_text(iac_json(change))
    (folder / "README.md").write_text(iac_readme(change))
    (ops.repo / "infra" / "main.tf").write_text(main_tf)
    git(ops.repo, "add", ".")
    git(ops.repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "merge")
    return before, git(ops.repo, "rev-parse", "HEAD")


def push(ops: Ops, before: str, after: str, tmp_path: Path) -> Path:
    event = tmp_path / "push.json"
    event.write_text(
        json.dumps(
            {
                "ref": "refs/heads/main",
                "before": before,
                "after": after,
                "repository": {"full_name": "acme/ops", "default_branch": "main"},
            }
        )
    )
    return event


def test_a_merged_terraform_change_is_checked_backed_up_once_and_applied(
    ops: Ops, tmp_path: Path
) -> None:
    ids = ops.ids()
    idle, keep = ids["aws_ebs_volume.idle"], ids["aws_ebs_volume.keep"]
    finding, executor_for = scene(ops, idle, tmp_path)
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)  # noqa: SIM115
    genuine = code_change(finding, managed_by(ops.index(), finding), ops.repo).edits[
        "infra/main.tf"
    ]
    assert "keep" in genuine and '"idle"' not in genuine

    # The merged edit also removes the keep block; iac.json is the genuine one.
    before, after = merge(ops, finding, genuine.replace(KEEP_BLOCK, ""))
    results = apply_merged(
        ops.config,
        push(ops, before, after, tmp_path),
        tmp_path / "results.json",
        executor_for,
        repo=ops.repo,
        out=console,
    )
    (outcome,) = results.outcomes
    assert outcome.status == "failed"
    assert "it would also delete aws_ebs_volume.keep" in outcome.message
    # Refused before any change: no snapshot, both volumes, both still in the state.
    assert ops.snapshots() == []
    assert ops.volume_exists(keep) and ops.volume_exists(idle)
    assert set(ops.ids()) == {"aws_ebs_volume.idle", "aws_ebs_volume.keep"}
    folder = ops.repo / "remediations" / finding.id
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["apply"]["status"] == "failed"
    assert [s["step_id"] for s in journal["apply"]["steps"] if s["status"] == "completed"] == [
        s.id for s in rule_for("ebs-unattached").build_plan(finding).steps if s.phase == "precheck"
    ]

    # The default branch's code fixed to the reviewed edit; the retry's apply fails after
    # the backup (injected), and the next retry resumes: one snapshot, then the change.
    (ops.repo / "infra" / "main.tf").write_text(genuine)
    runs = [
        run_all(ops.repo, [f"remediations/{finding.id}"], "apply", executor_for, tmp_path / "r")
        for _ in range(3)
    ]
    statuses = [r.outcomes[0].status for r in runs]
    assert statuses == ["failed", "completed", "nothing to do"]
    assert "the runner lost its connection" in runs[0].outcomes[0].message
    (snapshot,) = ops.snapshots()
    assert snapshot["VolumeId"] == idle
    assert not ops.volume_exists(idle) and ops.volume_exists(keep)
    assert set(ops.ids()) == {"aws_ebs_volume.keep"}
    journal = json.loads((folder / "journal.json").read_text())
    records = {s["step_id"]: s for s in journal["apply"]["steps"]}
    assert journal["apply"]["status"] == "completed"
    backup_outputs = [
        records[s.id]["outputs"]
        for s in rule_for("ebs-unattached").build_plan(finding).steps
        if s.phase == "backup" and s.mutates
    ]
    assert {"SnapshotId": snapshot["SnapshotId"]}.items() <= backup_outputs[0].items()
    assert records["terraform-apply"]["request"]["address"] == "aws_ebs_volume.idle"
    assert records["terraform-apply"]["status"] == "completed"
