"""The local git forge under a whole propose run: stale proposals closed, dashboard file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.config import parse_config
from generator.errors import ConfigError
from generator.forge.base import Outcome, ProposalState
from generator.forge.local import LocalGitForge
from generator.propose import forge_from_config, sync_proposals
from tests.github.helpers import after_scan_1, finding, report


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "reclaim.yml").write_text("version: 1\n")
    git(tmp_path, "add", "reclaim.yml")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_rerun_close_and_dashboard_on_a_local_repository(repo: Path):
    dashboard = repo / ".reclaim" / "dashboard.md"
    forge = LocalGitForge(repo, dashboard_path=dashboard)
    one, two = finding(1), finding(2)

    first = sync_proposals(report(one, two), forge, "remediations")
    assert {r.outcome for r in first.results} == {Outcome.CREATED}
    assert dashboard.read_text().startswith("<!-- reclaim:dashboard -->")
    written = dashboard.stat().st_mtime_ns

    # A later scan: nothing material changed for one; two is gone.
    second = sync_proposals(
        report(finding(1, as_of=after_scan_1(3)), as_of=after_scan_1(3)), forge, "remediations"
    )

    assert {r.finding_id: r.outcome for r in second.results} == {
        one.id: Outcome.UNCHANGED,
        two.id: Outcome.CLOSED,
    }
    held = forge.existing_proposals()
    assert held[two.id].state is ProposalState.CLOSED_BY_RECLAIM
    assert held[one.id].state is ProposalState.OPEN and held[one.id].fingerprint
    assert git(repo, "branch", "--list", f"reclaim/{two.id}") == ""
    closed_tip = git(repo, "log", "-1", "--format=%B", f"refs/reclaim/closed/{two.id}")
    assert "in use again or was deleted" in closed_tip
    assert forge.open_proposals() == [one.id]
    assert dashboard.stat().st_mtime_ns != written  # two is no longer listed

    # A human declines one by moving its branch aside: it is not proposed again.
    git(repo, "update-ref", f"refs/reclaim/declined/{one.id}", f"reclaim/{one.id}")
    git(repo, "update-ref", "-d", f"refs/heads/reclaim/{one.id}")
    third = sync_proposals(report(one), forge, "remediations")
    assert {r.finding_id: r.outcome for r in third.results}[one.id] is Outcome.DECLINED


def test_forge_config_selects_github_and_validates_its_keys(tmp_path: Path):
    config = parse_config(
        {
            "forge": {
                "type": "github",
                "repository": "acme/infra",
                "api_url": "https://ghe.example.com/api/v3",
                "reviewers": ["@acme/platform"],
                "max_open_prs": 3,
                "reopen_cost_ratio": 1.5,
                "app": {"app_id": 1, "installation_id": 2},
            }
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )
    assert config.forge.max_new_prs_per_run == 5 and config.forge.max_open_prs == 3
    with pytest.raises(ConfigError, match=r"forge\.repository"):
        parse_config({"forge": {"type": "github"}}, source="reclaim.yml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="reopen_cost_ratio"):
        parse_config(
            {"forge": {"type": "github", "repository": "a/b", "reopen_cost_ratio": 1}},
            source="reclaim.yml",
            base_dir=tmp_path,
        )
    with pytest.raises(ConfigError, match="GitHub App 1 is configured but"):
        forge_from_config(config, env={})
