"""The validate workflow's step: only touched remediations, checked without AWS, summarized."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rich.console import Console

from generator.config import parse_config
from generator.pipeline.ci_commands import validate_changed
from generator.pipeline.summary import MARKER
from generator.planner import plan_finding, write_remediation
from tests.factories import volume_finding


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def repo_with_a_pr(tmp_path: Path) -> tuple[Path, list[str]]:
    sh(tmp_path, "init", "-q", "-b", "main")
    old = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000aa")), tmp_path / "remediations"
    )
    sh(tmp_path, "add", ".")
    sh(tmp_path, "commit", "-q", "-m", "base")
    sh(tmp_path, "checkout", "-q", "-b", "pr")
    good = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000bb", size_gib=200)),
        tmp_path / "remediations",
    )
    bad = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000cc")), tmp_path / "remediations"
    )
    plan = json.loads((bad / "plan.json").read_text())
    plan["steps"][3]["call"]["operation"] = "DeleteSnapshot"  # a hand-edited plan
    (bad / "plan.json").write_text(json.dumps(plan))
    sh(tmp_path, "add", ".")
    sh(tmp_path, "commit", "-q", "-m", "pr")
    return tmp_path, [old.name, good.name, bad.name]


def test_touched_remediations_are_validated_and_summed(tmp_path: Path) -> None:
    repo, (old, good, bad) = repo_with_a_pr(tmp_path)
    config = parse_config({}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)  # noqa: SIM115
    valid = validate_changed(
        config, "main", event_path=None, summary_path=summary, repo=repo, out=console, err=console
    )
    assert valid is False
    text = summary.read_text()
    assert text.startswith(MARKER)
    assert good in text and bad in text and old not in text
    assert f"**`remediations/{bad}` is invalid:**" in text
    # only the valid remediation counts toward the total: 200 GiB gp2 at $0.10
    assert "**$20.00/month** ($240.00/year) across 2 remediation(s)" in text
