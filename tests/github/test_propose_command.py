"""`reclaim propose` end to end: moto for AWS, the stand-in for GitHub, config selects it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ExitCode
from generator.forge import throttle
from tests.conftest import make_volume
from tests.github.helpers import FakeTime
from tests.github_standin.server import GitHubStandIn


@pytest.fixture
def cli_env(
    standin: GitHubStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> Path:
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", "test-token")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    # the command builds its own write pacer: give it the fake clock so the test never sleeps
    monkeypatch.setattr(throttle, "_sleep", fake_time.sleep)
    monkeypatch.setattr(throttle, "_monotonic", fake_time.clock)
    config = tmp_path / "reclaim.yml"
    config.write_text(
        "version: 1\n"
        "regions: [us-east-1]\n"
        "rules: {ebs-unattached: {use_cloudtrail: false}}\n"
        "forge:\n"
        "  type: github\n"
        "  repository: acme/infra\n"
        f"  api_url: {standin.api_url}\n"
        "  reviewers: [alice]\n"
    )
    return config


def propose(config: Path, days: int) -> Any:
    as_of = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    return CliRunner().invoke(main, ["propose", "--config", str(config), "--as-of", as_of])


def test_propose_opens_leaves_alone_then_closes_through_the_cli(
    ec2: Any, standin: GitHubStandIn, cli_env: Path
):
    volume = make_volume(ec2, tags={"Name": "scratch"})
    assert CliRunner().invoke(main, ["scan", "--config", str(cli_env)]).exit_code == 0

    first = propose(cli_env, days=9)

    assert first.exit_code == 0, first.output
    assert "created" in first.output and volume in first.output
    assert "dashboard: http://127.0.0.1:" in first.output
    (pull,) = standin.pulls.values()
    assert pull.reviewers == ["alice"] and pull.head_ref.endswith(volume)

    mark = standin.mark()
    again = propose(cli_env, days=10)
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.output
    assert [e for e in standin.since(mark) if e.method != "GET"] == []

    ec2.delete_volume(VolumeId=volume)
    gone = propose(cli_env, days=11)
    assert gone.exit_code == 0, gone.output
    assert "closed (stale)" in gone.output
    assert pull.state == "closed"
    assert "in use again or was deleted" in standin.comments_on(pull.number)[0].body


def test_propose_stopped_by_github_exits_8_and_lists_what_remains(
    ec2: Any, standin: GitHubStandIn, cli_env: Path
):
    make_volume(ec2)
    CliRunner().invoke(main, ["scan", "--config", str(cli_env)])
    standin.fail_next(
        "POST",
        r"/git/trees$",
        403,
        body={"message": "Resource not accessible by integration", "documentation_url": "x"},
    )

    result = propose(cli_env, days=9)

    assert result.exit_code == ExitCode.FORGE
    assert "stopped before: open ebs-unattached-" in result.output
    assert "update the dashboard" in result.output
    assert "Resource not accessible by integration" in result.output
    assert "write permission" in result.output  # the hint says what to grant
    assert "Traceback" not in result.output


def held_file(config: Path) -> dict[str, Any]:
    """The proposals file propose writes beside the state file, read as the scan reads it."""
    from generator.config import load_config
    from generator.held import ProposalsFile, proposals_path

    path = proposals_path(load_config(config).state_path)
    return ProposalsFile.model_validate_json(path.read_text()).model_dump(mode="json")


def test_propose_writes_what_the_forge_holds_for_the_next_scan(
    ec2: Any, standin: GitHubStandIn, cli_env: Path
):
    """Open and merged PRs and those a human closed are held; one reclaim closed as stale
    is a candidate again, so it is not."""
    volumes = sorted(make_volume(ec2, Size=size) for size in (100, 200, 300, 400))
    ids = {v: f"ebs-unattached-123456789012-us-east-1-{v}" for v in volumes}
    assert CliRunner().invoke(main, ["scan", "--config", str(cli_env)]).exit_code == 0

    first = propose(cli_env, days=9)
    assert first.exit_code == 0, first.output
    written = held_file(cli_env)
    assert written["open"] == sorted(ids.values())
    assert written["open_count"] == 4
    assert written["merged"] == [] and written["declined"] == {}
    assert written["as_of"].startswith(f"{datetime.now(UTC) + timedelta(days=9):%Y-%m-%d}")

    by_volume = {
        v: p.number for p in standin.pulls.values() for v in volumes if p.head_ref.endswith(v)
    }
    merged, declined, stale, kept = volumes
    standin.human_merge(by_volume[merged])
    standin.human_close(by_volume[declined])
    ec2.delete_volume(VolumeId=stale)

    again = propose(cli_env, days=10)
    assert again.exit_code == 0, again.output
    assert "closed (stale)" in again.output
    written = held_file(cli_env)
    assert written["open"] == [ids[kept]] and written["open_count"] == 1
    assert written["merged"] == [ids[merged]]
    assert list(written["declined"]) == [ids[declined]]
    assert written["declined"][ids[declined]] > 0  # the saving the human said no to

    # Nothing changed on the forge: the file is not rewritten (no commit on the default
    # branch), and keeps the as-of time of the run that found it so.
    before = held_file(cli_env)
    assert propose(cli_env, days=11).exit_code == 0
    assert held_file(cli_env) == before
