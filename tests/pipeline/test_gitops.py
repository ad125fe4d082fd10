"""Finding the plans a push merged, and pushing journals while another run pushes too."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from generator.config import ReclaimConfig, parse_config
from generator.errors import ConfigError, ForgeError
from generator.pipeline.ci_commands import push_state
from generator.pipeline.gitops import (
    ZERO_SHA,
    adding_commit,
    commit_journals,
    plans_added,
    without_journal,
)
from generator.state import load_clocks, save_clocks

NOW = datetime(2026, 3, 1, tzinfo=UTC)


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


def _state_config(repo: Path) -> ReclaimConfig:
    return parse_config(
        {"output": {"state_file": ".reclaim/state.json"}}, source="reclaim.yml", base_dir=repo
    )


def test_the_state_file_is_pushed_onto_a_concurrent_push(tmp_path: Path) -> None:
    origin, work = make_origin(tmp_path)
    other = tmp_path / "other"
    sh(tmp_path, "clone", "-q", str(origin), str(other))
    commit_file(other, "remediations/a/journal.json")
    sh(other, "push", "-q", "origin", "HEAD:main")  # lands while the scan runs
    save_clocks(work / ".reclaim/state.json", {"ebs-unattached": {"1/us-east-1/vol-1": NOW}})
    out = Console(file=io.StringIO())
    push_state(_state_config(work), branch="main", message="clocks", repo=work, out=out)
    check = tmp_path / "check"
    sh(tmp_path, "clone", "-q", str(origin), str(check))
    assert load_clocks(check / ".reclaim/state.json") == {
        "ebs-unattached": {"1/us-east-1/vol-1": NOW}
    }
    assert (check / "remediations/a/journal.json").exists()
    # unchanged: no commit
    head = sh(check, "rev-parse", "HEAD")
    push_state(_state_config(work), branch="main", message="clocks", repo=work, out=out)
    assert sh(origin, "rev-parse", "main") == head
    assert "unchanged" in out.file.getvalue()  # type: ignore[attr-defined]


def test_a_conflicting_state_file_is_refused_and_the_checkout_left_clean(tmp_path: Path) -> None:
    origin, work = make_origin(tmp_path)
    commit_file(work, ".reclaim/state.json", '{"schema_version": 1, "first_seen": {}}\n')
    sh(work, "push", "-q", "origin", "HEAD:main")
    other = tmp_path / "other"
    sh(tmp_path, "clone", "-q", str(origin), str(other))
    commit_file(other, ".reclaim/state.json", '{"edited": "by hand"}\n')
    sh(other, "push", "-q", "origin", "HEAD:main")
    save_clocks(work / ".reclaim/state.json", {"ebs-unattached": {"1/us-east-1/vol-1": NOW}})
    with pytest.raises(ForgeError) as raised:
        push_state(_state_config(work), branch="main", message="clocks", repo=work, out=Console())
    assert "the state file conflict" in raised.value.message
    assert "nothing was pushed" in (raised.value.hint or "")
    assert not (work / ".git/rebase-merge").exists() and not (work / ".git/rebase-apply").exists()
    assert sh(origin, "show", "main:.reclaim/state.json") == '{"edited": "by hand"}'


def test_an_ignored_state_file_is_a_clear_error(tmp_path: Path) -> None:
    _origin, work = make_origin(tmp_path)
    (work / ".gitignore").write_text(".reclaim/\n")
    save_clocks(work / ".reclaim/state.json", {"ebs-unattached": {"1/us-east-1/vol-1": NOW}})
    with pytest.raises(ConfigError) as raised:
        push_state(_state_config(work), branch="main", message="m", repo=work, out=Console())
    assert "ignored by git" in raised.value.message
    assert "git check-ignore -v .reclaim/state.json" in (raised.value.hint or "")


def test_no_state_file_yet_is_nothing_to_commit(tmp_path: Path) -> None:
    origin, work = make_origin(tmp_path)
    head = sh(origin, "rev-parse", "main")
    out = Console(file=io.StringIO())
    push_state(_state_config(work), branch="main", message="m", repo=work, out=out)
    assert sh(origin, "rev-parse", "main") == head
    assert "no scan has seen a resource idle yet" in out.file.getvalue()  # type: ignore[attr-defined]


def test_the_proposals_file_is_pushed_beside_the_state_file(tmp_path: Path) -> None:
    """commit-state also commits what propose last saw the forge hold, even before any
    clock exists (the propose job's second commit-state step)."""
    origin, work = make_origin(tmp_path)
    proposals = work / ".reclaim/proposals.json"
    proposals.parent.mkdir(parents=True)
    proposals.write_text('{"version": 1}\n')
    out = Console(file=io.StringIO())
    push_state(_state_config(work), branch="main", message="held", repo=work, out=out)
    assert sh(origin, "show", "main:.reclaim/proposals.json") == '{"version": 1}'
    assert "pushed" in out.file.getvalue()  # type: ignore[attr-defined]
