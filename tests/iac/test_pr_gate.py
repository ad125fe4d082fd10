"""A pull request may not rewrite the Terraform state files apply believes (iac: local or
show_json in the repository): validate-changed refuses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rich.console import Console

from generator.config import parse_config
from generator.pipeline.ci_commands import validate_changed

IAC = {
    "terraform": [
        {"name": "storage", "path": "infra", "state": {"local": "infra/terraform.tfstate"}}
    ]
}


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _validate(repo: Path, tmp_path: Path) -> tuple[bool, str]:
    config = parse_config({"iac": IAC}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)  # noqa: SIM115
    valid = validate_changed(
        config, "main", event_path=None, summary_path=summary, repo=repo, out=console, err=console
    )
    return valid, summary.read_text()


def test_a_pr_that_edits_the_terraform_state_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "infra").mkdir(parents=True)
    sh(repo, "init", "-q", "-b", "main")
    (repo / "infra" / "terraform.tfstate").write_text('{"version": 4, "resources": []}\n')
    (repo / "infra" / "main.tf").write_text('resource "aws_ebs_volume" "a" {\n  size = 1\n}\n')
    sh(repo, "add", ".")
    sh(repo, "commit", "-q", "-m", "base")
    sh(repo, "checkout", "-q", "-b", "pr")
    (repo / "infra" / "main.tf").write_text("")
    sh(repo, "commit", "-q", "-am", "code only")
    assert _validate(repo, tmp_path)[0] is True  # a code change alone is not refused here
    (repo / "infra" / "terraform.tfstate").write_text('{"version": 4, "resources": [], "x": 1}\n')
    sh(repo, "commit", "-q", "-am", "state too")
    valid, text = _validate(repo, tmp_path)
    assert valid is False
    assert "the Terraform state of iac root 'storage'" in text and "infra/terraform.tfstate" in text
