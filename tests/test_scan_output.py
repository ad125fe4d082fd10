"""What `reclaim scan` tells a person beside the findings: why things were left alone, the
account, the regions and where they came from, and what a first run's clocks mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.report_stream import reason_group
from tests.conftest import ACCOUNT, make_volume


def only_ebs_unattached() -> str:
    from generator.rules import RULES

    others = "".join(
        f"  {name}: {{enabled: false}}\n" for name in RULES if name != "ebs-unattached"
    )
    return "rules:\n  ebs-unattached: {use_cloudtrail: false}\n" + others


def scan(tmp_path: Path, *args: str, config: str | None = None) -> Any:
    path = tmp_path / "reclaim.yml"
    path.write_text(
        config
        if config is not None
        else "regions: [us-east-1]\noutput:\n  state_file: state.json\n" + only_ebs_unattached()
    )
    return CliRunner().invoke(main, ["scan", "--config", str(path), *args])


def test_a_first_scan_explains_its_empty_result(ec2: Any, tmp_path: Path) -> None:
    for _ in range(3):
        make_volume(ec2)
    make_volume(ec2, tags={"reclaim:skip": "legal hold"})

    result = scan(tmp_path)

    assert result.exit_code == 0, result.output
    out = result.output
    assert "0 finding(s)" in out
    assert "regions: us-east-1 (regions in reclaim.yml)" in out
    assert "left alone: 4 resource(s), by reason" in out
    assert (
        "3  ebs-unattached  unattached N day(s) by first-seen, under min_unattached_days=7" in out
    )
    assert "1  ebs-unattached  carries the skip tag 'reclaim:skip'" in out
    assert "first run: 4 resource(s) seen idle for the first time" in out
    soon = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    assert (
        f"ebs-unattached (4 clock(s)) can report them after min_unattached_days=7, on {soon}" in out
    )
    assert "first-seen clocks saved in" in out and "state.json" in out

    second = scan(tmp_path)
    assert "first run" not in second.output  # the clocks are running now
    assert "seen idle for the first time" not in second.output


def test_findings_show_their_account_in_table_and_markdown(ec2: Any, tmp_path: Path) -> None:
    make_volume(ec2)
    scan(tmp_path)
    later = (datetime.now(UTC) + timedelta(days=9)).isoformat()

    table = scan(tmp_path, "--as-of", later)
    assert "account" in table.output and ACCOUNT in table.output

    markdown = scan(tmp_path, "--as-of", later, "--format", "markdown")
    assert "| account | region | finding |" in markdown.output
    assert f"| {ACCOUNT} | us-east-1 |" in markdown.output


def test_markdown_groups_what_was_left_alone(ec2: Any, tmp_path: Path) -> None:
    make_volume(ec2)
    make_volume(ec2)
    result = scan(tmp_path, "--format", "markdown")
    assert "**Left alone: 2 resource(s)**" in result.output
    assert "| 2 | ebs-unattached | unattached N day(s) by first-seen" in result.output
    assert "- first run: 2 resource(s)" in result.output


@pytest.mark.parametrize(
    ("env", "profile_region", "said"),
    [
        ({"AWS_REGION": "eu-west-1"}, None, "eu-west-1 (from AWS_REGION;"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, None, "ap-south-1 (from AWS_DEFAULT_REGION;"),
        ({"AWS_PROFILE": "work"}, "eu-central-1", "eu-central-1 (from the AWS profile 'work';"),
        (
            {},
            None,
            "us-east-1 (no region in AWS_REGION, AWS_DEFAULT_REGION or the AWS profile;",
        ),
    ],
)
def test_without_regions_in_reclaim_yml_the_profile_or_environment_decides_and_says_so(
    aws: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    profile_region: str | None,
    said: str,
) -> None:
    from generator.config import load_config
    from generator.scan import with_default_regions

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    config_file = tmp_path / "aws-config"
    config_file.write_text(
        f"[profile work]\nregion = {profile_region}\n" if profile_region else "[default]\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "reclaim.yml").write_text("rules:\n  ebs-unattached: {use_cloudtrail: false}\n")

    config, line = with_default_regions(load_config(tmp_path / "reclaim.yml"))

    assert line.startswith(said)
    assert config.regions == (said.split(" ")[0],)


def test_the_regions_line_is_printed_by_scan(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    result = scan(tmp_path, config=only_ebs_unattached())
    assert (
        "regions: us-west-2 (from AWS_DEFAULT_REGION; list regions: in reclaim.yml" in result.output
    )


def test_reason_groups_drop_what_differs_per_resource_and_keep_thresholds() -> None:
    assert reason_group("unattached 2 day(s) by first-seen, under min_unattached_days=7") == (
        reason_group("unattached 5 day(s) by first-seen, under min_unattached_days=7")
    )
    assert reason_group("backs AMI ami-0123456789abcdef0") == "backs AMI <id>"
    assert "min_unattached_days=7" in reason_group("under min_unattached_days=7")
    assert "us-east-1" in reason_group("in us-east-1")


def test_several_accounts_get_an_account_column_one_account_is_named_in_the_title() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from generator.findings import FindingsReport
    from generator.report_format import findings_table
    from tests.factories import volume_finding

    one = volume_finding()
    other = one.model_copy(update={"account": "222222222222", "id": one.id + "-b"})
    as_of = datetime(2026, 2, 1, tzinfo=UTC)

    def render(*findings: Any) -> str:
        console = Console(width=160, record=True)
        console.print(findings_table(FindingsReport(as_of=as_of, findings=findings)))
        return console.export_text()

    single = render(one)
    assert f"account {one.account}" in single and "│ account" not in single.replace("┃", "│")
    both = render(one, other)
    assert "account" in both.splitlines()[2] and "222222222222" in both


def test_a_region_from_the_environment_that_is_no_region_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "Frankfurt")
    result = scan(tmp_path, config=only_ebs_unattached())
    assert result.exit_code == 3
    assert (
        "AWS_REGION gives the region 'Frankfurt', which is not an AWS region name" in result.output
    )


def test_scan_shows_the_saving_net_of_the_backup_for_the_configured_retention(
    ec2: Any, tmp_path: Path
) -> None:
    volume = make_volume(ec2, Size=200, VolumeType="gp2")
    config = (
        "regions: [us-east-1]\noutput:\n  state_file: state.json\n"
        + only_ebs_unattached().replace(
            "{use_cloudtrail: false}", "{use_cloudtrail: false, backup_retention_days: 45}"
        )
    )
    scan(tmp_path, config=config)
    later = (datetime.now(UTC) + timedelta(days=9)).isoformat()

    markdown = scan(tmp_path, "--as-of", later, "--format", "markdown", config=config)
    assert markdown.exit_code == 0, markdown.output
    assert "| 20.00 |" in markdown.output  # the gross saving: 200 GiB gp2
    assert (
        f"- {volume}: the backup snapshot of {volume}: up to $10.00/month; "
        "net at least $10.00/month for the 45 days it is kept"
    ) in markdown.output
    table = scan(tmp_path, "--as-of", later, config=config)
    assert "net of the backups the plans keep:" in table.output
    assert "for the 45 days it is kept" in table.output

    # ... and the PR `reclaim plan` writes from that scan states the same retention.
    findings = tmp_path / "findings.json"
    scan(tmp_path, "--as-of", later, "--output", str(findings), config=config)
    planned = CliRunner().invoke(
        main, ["plan", "--findings", str(findings), "--out", str(tmp_path / "out")]
    )
    assert planned.exit_code == 0, planned.output
    (folder,) = (tmp_path / "out").iterdir()
    readme = (folder / "README.md").read_text()
    assert "net at least $10.00/month for the 45 days it is kept after the apply" in readme
    assert "The backup snapshot is kept 45 days after the apply" in readme
