"""Finding the plans a push merged, and pushing journals while another run pushes too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator.pipeline.gitops import (
    ZERO_SHA,
    adding_commit,
    commit_journals,
    plans_added,
    without_journal,
)


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_file(repo: Path, path: str, text: str = "{}\n") -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    sh(repo, "add", path)
    sh(repo, "commit", "-q", "-m", f"add {path}")
    return sh(repo, "rev-parse", "HEAD")


def make_origin(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    sh(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    sh(tmp_path, "clone", "-q", str(origin), str(work))
    commit_file(work, "README.md", "hi\n")
    sh(work, "push", "-q", "origin", "HEAD:main")
    return origin, work


def test_plans_added_by_a_push_and_plans_without_journal(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    before = sh(repo, "rev-parse", "HEAD")
    commit_file(repo, "remediations/a/plan.json")
    commit_file(repo, "remediations/a/journal.json")
    merge_b = commit_file(repo, "remediations/b/plan.json")
    commit_file(repo, "remediations/c/README.md")
    after = sh(repo, "rev-parse", "HEAD")
    assert plans_added(repo, before, after, "remediations") == ["remediations/a", "remediations/b"]
    assert without_journal(repo, "remediations") == ["remediations/b"]
    assert adding_commit(repo, "remediations/b") == merge_b
    # a changed plan is not an added one
    commit_file(repo, "remediations/b/plan.json", '{"changed": true}\n')
    assert plans_added(repo, after, sh(repo, "rev-parse", "HEAD"), "remediations") == []


def test_unknown_history_falls_back_to_plans_without_journal(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    after = commit_file(repo, "remediations/a/plan.json")
    assert plans_added(repo, ZERO_SHA, after, "remediations") == []
    assert plans_added(repo, "f" * 40, after, "remediations") == []


def test_journals_from_two_racing_runs_both_land(tmp_path: Path) -> None:
    origin, first = make_origin(tmp_path)
    commit_file(first, "remediations/a/plan.json")
    commit_file(first, "remediations/b/plan.json")
    sh(first, "push", "-q", "origin", "HEAD:main")
    second = tmp_path / "second"
    sh(tmp_path, "clone", "-q", str(origin), str(second))
    # both runs checked out the same commit; each writes its own plan's journal
    (first / "remediations/a/journal.json").write_text('{"a": 1}\n')
    (second / "remediations/b/journal.json").write_text('{"b": 1}\n')
    (second / "remediations/b/scratch.txt").write_text("not a journal\n")
    assert commit_journals(first, remediations_dir="remediations", branch="main", message="a")
    assert commit_journals(second, remediations_dir="remediations", branch="main", message="b")
    check = tmp_path / "check"
    sh(tmp_path, "clone", "-q", str(origin), str(check))
    assert (check / "remediations/a/journal.json").read_text() == '{"a": 1}\n'
    assert (check / "remediations/b/journal.json").read_text() == '{"b": 1}\n'
    assert not (check / "remediations/b/scratch.txt").exists()
    assert sh(check, "log", "-1", "--format=%an") == "github-actions[bot]"
    # nothing new: nothing committed
    assert (
        commit_journals(second, remediations_dir="remediations", branch="main", message="c") is None
    )
