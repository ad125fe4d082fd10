"""`reclaim demo` runs the whole path offline and leaves a repository to inspect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator.demo import MARKER, run_demo
from generator.errors import ReclaimError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_demo_end_to_end(tmp_path: Path):
    from rich.console import Console

    console = Console(file=open(tmp_path / "out.txt", "w"), width=120)  # noqa: SIM115
    result = run_demo(tmp_path / "demo", console)
    console.file.close()

    assert result.findings == 4
    assert result.monthly_usd == 530.0
    assert result.mismatches == ()
    repo = result.repo
    branches = git(repo, "branch", "--list", "reclaim/*").split()
    # the 4 findings of the day-10 scan, and the idle database's
    assert len(branches) == 5
    assert "reclaim/rds-idle-123456789012-us-east-1-reports-staging" in branches
    journal = repo / "remediations" / result.merged_finding / "journal.json"
    assert '"rollback"' in journal.read_text()
    assert git(repo, "status", "--porcelain") == ""
    log = git(repo, "log", "--format=%s", "main")
    assert f"Merge reclaim/{result.merged_finding}" in log
    assert "reclaim rollback" in log
    output = (tmp_path / "out.txt").read_text()
    assert "identical on every recorded attribute" in output
    # an idle RDS instance stopped and started again, priced as compute only
    assert "Stop idle postgres db.t3.micro (Single-AZ) DB instance reports-staging" in output
    assert "stopped reports-staging ($13.14/month compute; storage still billed)" in output
    assert "started again: available" in output
    assert "5 reclaim/* branches" in output
    rds_journal = repo / "remediations" / "rds-idle-123456789012-us-east-1-reports-staging"
    assert '"rollback"' in (rds_journal / "journal.json").read_text()
    # What was left alone adds up: the caption's count is the grouped lines' sum and the
    # summary's, and the volumes listed are the summary's volumes.
    import re

    caption = int(re.search(r"(\d+) resource\(s\) left alone", output).group(1))
    grouped = output.split("by reason\n", 1)[1].split("(each resource", 1)[0]
    assert sum(int(n) for n in re.findall(r"^\s+(\d+)\s+\S", grouped, re.M)) == caption
    volumes = len(re.findall(r"unattached volume left alone: vol-", output))
    assert f"{caption} resource(s): {volumes} unattached volume(s)" in output
    assert f"and {caption - volumes} judged by the other rules" in output


def test_demo_refuses_a_directory_that_is_not_a_demo(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    from rich.console import Console

    with pytest.raises(ReclaimError, match="not a previous reclaim demo"):
        run_demo(tmp_path, Console(file=open(tmp_path / "o.txt", "w")))  # noqa: SIM115
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_demo_command_runs_as_a_newcomer_would(tmp_path: Path):
    """The README's first command, in a subprocess: exit 0 and a summary."""
    result = subprocess.run(
        [sys.executable, "-m", "generator", "demo", "--dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Summary" in result.stdout
    assert (tmp_path / "d" / MARKER).exists()
    rerun = subprocess.run(
        [sys.executable, "-m", "generator", "demo", "--dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert rerun.returncode == 0, "a previous demo directory is replaced"
