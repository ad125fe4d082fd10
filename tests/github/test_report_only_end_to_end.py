"""Report-only findings end to end: `reclaim scan` lists and prices them, `reclaim propose`
opens no pull request for them and lists them on the dashboard (moto for AWS, the stand-in
for GitHub)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from generator.cli import main
from tests.conftest import make_volume
from tests.github.test_propose_command import cli_env  # noqa: F401  (the fixture)
from tests.github_standin.server import GitHubStandIn


def test_a_report_only_finding_is_scanned_priced_listed_and_never_proposed(
    ec2: Any,
    standin: GitHubStandIn,
    cli_env: Path,  # noqa: F811  (the imported fixture)
    tmp_path: Path,
) -> None:
    old = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m4.large"
    )["Instances"][0]["InstanceId"]
    volume = make_volume(ec2)  # an executable finding beside it, which is proposed
    as_of = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    findings = tmp_path / "findings.json"
    # first sighting today: the volume's unattached clock starts (the state file's)
    assert CliRunner().invoke(main, ["scan", "--config", str(cli_env)]).exit_code == 0

    scanned = CliRunner().invoke(
        main,
        ["scan", "--config", str(cli_env), "--as-of", as_of, "--output", str(findings),
         "--format", "markdown"],
    )  # fmt: skip

    assert scanned.exit_code == 0, scanned.output
    assert old in scanned.output and "report-only" in scanned.output
    report = json.loads(findings.read_text())
    (reported,) = [f for f in report["findings"] if f["rule"] == "ec2-previous-generation"]
    assert reported["cost"]["monthly_usd"] == 2.92 and reported["reversibility"] == "report-only"

    proposed = CliRunner().invoke(main, ["propose", "--config", str(cli_env), "--as-of", as_of])

    assert proposed.exit_code == 0, proposed.output
    (pull,) = standin.pulls.values()  # the volume's, and only it
    assert pull.head_ref.endswith(volume)
    assert not any(old in (p.head_ref + p.title) for p in standin.pulls.values())
    # no branch, tree or pull request was written for it
    assert not any(old in e.path for e in standin.writes())
    assert standin.pull_by_head(f"reclaim/{reported['id']}") == []
    dashboard = standin.issues[max(standin.issues)].body or ""
    listed = dashboard.split("## Report-only findings (1)")[1].split("##")[0]
    assert reported["id"] in listed and "$2.92/month" in listed
