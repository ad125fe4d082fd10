"""The local forge: one branch per finding, updates in place, never touches the work tree."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from generator.errors import ForgeError
from generator.forge.base import Outcome, Proposal
from generator.forge.local import LocalGitForge


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "reclaim.yml").write_text("version: 1\n")
    (tmp_path / "notes.txt").write_text("uncommitted work\n")
    git(tmp_path, "add", "reclaim.yml")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def proposal(body: str = "body") -> Proposal:
    return Proposal(
        finding_id="ebs-unattached-123456789012-us-east-1-vol-1",
        title="Delete vol-1",
        body=body,
        files={
            "remediations/ebs-unattached-123456789012-us-east-1-vol-1/plan.json": "{}\n",
            "remediations/ebs-unattached-123456789012-us-east-1-vol-1/README.md": body,
        },
    )


def test_create_then_unchanged_then_update_in_place(repo: Path):
    forge = LocalGitForge(repo)
    status_before = git(repo, "status", "--porcelain")

    assert forge.propose(proposal()).outcome is Outcome.CREATED
    head = git(repo, "rev-parse", "reclaim/ebs-unattached-123456789012-us-east-1-vol-1")
    assert forge.propose(proposal()).outcome is Outcome.UNCHANGED
    assert git(repo, "rev-parse", "reclaim/ebs-unattached-123456789012-us-east-1-vol-1") == head
    assert forge.propose(proposal("new evidence")).outcome is Outcome.UPDATED

    branch = "reclaim/ebs-unattached-123456789012-us-east-1-vol-1"
    assert git(repo, "rev-list", "--count", f"main..{branch}") == "2"  # same branch, new commit
    assert (
        git(
            repo,
            "show",
            f"{branch}:remediations/ebs-unattached-123456789012-us-east-1-vol-1/README.md",
        )
        == "new evidence"
    )
    assert git(repo, "status", "--porcelain") == status_before
    assert forge.open_proposals() == ["ebs-unattached-123456789012-us-east-1-vol-1"]


def test_merge_is_a_real_merge_and_a_merged_finding_is_not_proposed_again(repo: Path):
    forge = LocalGitForge(repo)
    forge.propose(proposal())
    forge.merge("ebs-unattached-123456789012-us-east-1-vol-1")
    assert (repo / "remediations/ebs-unattached-123456789012-us-east-1-vol-1/plan.json").exists()
    assert len(git(repo, "log", "-1", "--format=%P").split()) == 2
    assert forge.open_proposals() == []
    assert forge.propose(replace(proposal(), body="x")).outcome is Outcome.ALREADY_MERGED


def test_clear_errors_for_missing_repository_and_branch(tmp_path: Path, repo: Path):
    with pytest.raises(ForgeError, match="not a git repository"):
        LocalGitForge(tmp_path / "nope")
    with pytest.raises(ForgeError, match="no proposal branch"):
        LocalGitForge(repo).merge("ebs-unattached-123456789012-us-east-1-vol-9")
    with pytest.raises(ForgeError, match="base branch 'trunk'"):
        LocalGitForge(repo, "trunk").propose(proposal())
