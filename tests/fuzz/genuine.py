"""The genuine files the fuzz campaign varies: one remediation folder as reclaim plans it (with
an applied journal), reclaim.yml, a findings report, a state file, a results file and the
GitHub events of the apply and rollback workflows, in a git repository like an ops repo."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generator.findings import FindingsReport, ScanUnit
from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import Journal, RunRecord, StepRecord
from generator.pipeline.runs import RunOutcome, RunResults
from generator.planner import plan_finding, write_remediation
from tests.factories import ACCOUNT, volume_finding

WHEN = datetime(2026, 2, 1, tzinfo=UTC)

CONFIG = f"""\
version: 1
accounts:
  - id: "{ACCOUNT}"
    name: prod
regions: [us-east-1]
rules:
  ebs-unattached: {{enabled: true, min_unattached_days: 7}}
exclusions:
  skip_tag: "reclaim:skip"
output:
  remediations_dir: remediations
  state_file: .reclaim/state.json
forge:
  type: local
"""

GITHUB_CONFIG = CONFIG.replace("  type: local\n", "  type: github\n  repository: acme/ops\n")


@dataclass(frozen=True)
class Genuine:
    root: Path
    folder: str  # remediations/<finding-id>

    def bytes_of(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()


def _journal(folder: RemediationFolder) -> Journal:
    plan = folder.load_plan()
    steps = [
        StepRecord(
            step_id=step.id,
            status="completed",
            started_at=WHEN + timedelta(minutes=n),
            finished_at=WHEN + timedelta(minutes=n, seconds=30),
            outputs={"SnapshotId": "snap-0123456789abcdef0"} if step.phase == "backup" else {},
        )
        for n, step in enumerate(plan.steps)
    ]
    return Journal(
        plan_id=plan.plan_id,
        plan_sha256=digest(folder.plan_text()),
        rollback_sha256=digest(folder.rollback_text()),
        apply=RunRecord(
            kind="apply",
            status="completed",
            started_at=WHEN,
            finished_at=WHEN + timedelta(minutes=10),
            actor="alice",
            steps=steps,
            observed_at=WHEN,
        ),
    )


def _git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=reclaim", "-c", "user.email=r@x", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout


def build(root: Path) -> Genuine:
    finding = volume_finding()
    path = write_remediation(plan_finding(finding), root / "remediations")
    folder = RemediationFolder(path)
    (root / "reclaim.yml").write_text(CONFIG)
    (root / "reclaim-github.yml").write_text(GITHUB_CONFIG)
    key = f"{ACCOUNT}/us-east-1/{finding.resource_id}"
    state = {"first_seen": {"ebs-unattached": {key: "2026-01-02T00:00:00Z"}}}
    (root / ".reclaim").mkdir()
    (root / ".reclaim" / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    report = FindingsReport(
        as_of=WHEN,
        findings=(finding,),
        completed=(ScanUnit(account=ACCOUNT, region="us-east-1", rule="ebs-unattached"),),
        first_seen={"ebs-unattached": {key: WHEN - timedelta(days=30)}},
    )
    (root / "findings.json").write_text(report.model_dump_json(indent=2) + "\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "scan")
    before = _git(root, "rev-parse", "HEAD").strip()
    # The merge of the PR: the folder's journal arrives later, from reclaim's own run.
    folder.save_journal(_journal(folder))
    relative = path.relative_to(root).as_posix()
    RunResults(
        outcomes=[RunOutcome(kind="apply", folder=relative, status="completed", message="ok", pr=7)]
    ).save(root / "results.json")
    (root / "push.json").write_text(
        json.dumps(
            {
                "ref": "refs/heads/main",
                "before": before,
                "after": before,
                "repository": {"full_name": "acme/ops", "default_branch": "main"},
            }
        )
    )
    (root / "comment.json").write_text(
        json.dumps(
            {
                "action": "created",
                "comment": {
                    "id": 1,
                    "body": "/rollback",
                    "user": {"login": "alice", "type": "User"},
                },
                "issue": {"number": 7, "pull_request": {"url": "x"}, "state": "closed"},
                "repository": {"full_name": "acme/ops", "default_branch": "main"},
            }
        )
    )
    (root / "pull_request.json").write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": 7,
                "pull_request": {"number": 7},
                "repository": {"full_name": "acme/ops", "default_branch": "main"},
            }
        )
    )
    return Genuine(root=root, folder=relative)


@contextmanager
def copy_of(genuine: Genuine) -> Iterator[Path]:
    """A fresh copy of the genuine tree (git repository included) for one generated input."""
    scratch = Path(tempfile.mkdtemp(prefix="reclaim-fuzz-"))
    try:
        work = scratch / "ops"
        shutil.copytree(genuine.root, work, symlinks=True)
        yield work
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def manifest_data(path: Path) -> object:
    return json.loads(path.read_bytes())
