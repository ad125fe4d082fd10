"""The CLI over a fleet: exit codes, CI log lines, apply/rollback through the chain."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.findings import FindingsReport
from generator.planner import plan_finding, write_remediation
from tests.fleet.support import (
    CUSTOMER_A,
    CUSTOMER_B,
    REGION,
    SERVICE_ROLE,
    only_ebs_unattached,
    session_in,
    unattached_volumes,
)

ROLE_A = f"arn:aws:iam::{CUSTOMER_A}:role/reclaim-remediation"
ROLE_B = f"arn:aws:iam::{CUSTOMER_B}:role/reclaim-remediation"


def _config(tmp_path: Path, *accounts: dict) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "reclaim.yml"
    path.write_text(
        json.dumps(
            {
                "service_role": {"role_arn": SERVICE_ROLE},
                "regions": [REGION],
                "accounts": list(accounts),
                "rules": only_ebs_unattached(),
            }
        )
    )
    return path


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_scan_reports_a_failed_account_in_the_summary_and_exit_code_in_ci(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CI", "true")
    volume = unattached_volumes(CUSTOMER_A, REGION, 1)[0]
    config = _config(
        tmp_path,
        {"name": "a", "role_arn": ROLE_A},
        {"name": "b", "role_arn": ROLE_B, "external_id_env": "EXT_B"},
    )
    start = datetime.now(UTC)
    _invoke("scan", "--config", str(config), "--as-of", start.isoformat())
    out = tmp_path / "findings.json"
    result = _invoke(
        "scan",
        "--config",
        str(config),
        "--as-of",
        AS_OF,
        "--output",
        str(out),
    )
    assert result.exit_code == 1
    assert f"account {CUSTOMER_B} FAILED" in result.output  # plain CI log line
    assert re.search(
        rf"\d+/\d+ {CUSTOMER_A}/{REGION}/ebs-unattached: 1 finding\(s\)", result.output
    )
    report = FindingsReport.model_validate_json(out.read_text())
    assert [f.resource_id for f in report.findings] == [volume]
    assert "EXT_B is not set" in report.errors[0].message


AS_OF = (datetime.now(UTC) + timedelta(days=30)).isoformat()
"""The second scan's instant: apply and rollback judge the rule's thresholds then too."""


def _remediation(tmp_path: Path, config: Path) -> tuple[str, Path]:
    volume = unattached_volumes(CUSTOMER_A, REGION, 1)[0]
    start = datetime.fromisoformat(AS_OF) - timedelta(days=30)
    _invoke("scan", "--config", str(config), "--as-of", start.isoformat())
    out = tmp_path / "findings.json"
    _invoke(
        "scan",
        "--config",
        str(config),
        "--as-of",
        AS_OF,
        "--output",
        str(out),
    )
    (finding,) = FindingsReport.model_validate_json(out.read_text()).findings
    return volume, write_remediation(plan_finding(finding), tmp_path / "remediations")


def _volume_exists(volume: str) -> bool:
    ec2 = session_in(CUSTOMER_A).client("ec2")
    filters = [{"Name": "volume-id", "Values": [volume]}]
    return bool(ec2.describe_volumes(Filters=filters)["Volumes"])


def test_apply_and_rollback_act_in_the_plans_account_through_the_chain(aws, tmp_path: Path):
    config = _config(tmp_path, {"name": "a", "role_arn": ROLE_A}, {"name": "b", "role_arn": ROLE_B})
    volume, folder = _remediation(tmp_path, config)

    applied = _invoke(
        "apply", str(folder), "--config", str(config), "--actor", "alice", "--as-of", AS_OF
    )
    assert applied.exit_code == 0, applied.output
    assert not _volume_exists(volume)
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["apply"]["actor"] == "alice"

    rolled_back = _invoke(
        "rollback", str(folder), "--config", str(config), "--actor", "bob", "--as-of", AS_OF
    )
    assert rolled_back.exit_code == 0, rolled_back.output
    ec2 = session_in(CUSTOMER_A).client("ec2")
    restored = [v for v in ec2.describe_volumes()["Volumes"] if v["VolumeId"] != volume]
    assert len(restored) == 1


def test_apply_refuses_a_plan_whose_account_is_not_in_the_config(aws, tmp_path: Path):
    config = _config(tmp_path, {"name": "a", "role_arn": ROLE_A})
    volume, folder = _remediation(tmp_path, config)
    other = _config(tmp_path / "other", {"name": "b", "role_arn": ROLE_B})

    result = _invoke("apply", str(folder), "--config", str(other))
    assert result.exit_code == 3
    assert f"belongs to account {CUSTOMER_A}, which is not in the configuration" in result.output
    assert _volume_exists(volume)
    assert not (folder / "journal.json").exists()


def test_propose_accepts_merged_findings_instead_of_scanning(aws, tmp_path: Path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        check=True,
    )
    config = _config(tmp_path, {"name": "a", "role_arn": ROLE_A})
    data = json.loads(config.read_text())
    data["forge"] = {"type": "local", "path": "repo"}
    data["output"] = {"remediations_dir": "repo/remediations"}
    config.write_text(json.dumps(data))
    volume, _folder = _remediation(tmp_path, config)
    findings = tmp_path / "findings.json"
    # Had propose scanned, it would find nothing: the volume is gone from AWS by now.
    session_in(CUSTOMER_A).client("ec2").delete_volume(VolumeId=volume)

    result = _invoke("propose", "--config", str(config), "--findings", str(findings))
    assert result.exit_code == 0, result.output
    assert volume in result.output


def test_the_terminal_summary_counts_the_whole_scan_and_shows_the_largest(aws, tmp_path: Path):
    unattached_volumes(CUSTOMER_A, REGION, 30)
    config = _config(tmp_path, {"name": "a", "role_arn": ROLE_A})
    start = datetime.now(UTC)
    first = _invoke("scan", "--config", str(config), "--as-of", start.isoformat())
    assert "0 finding(s), $0.00/month; 30 resource(s) left alone; 0 error(s)" in first.output

    later = (start + timedelta(days=30)).isoformat()
    out = tmp_path / "findings.json"
    result = _invoke("scan", "--config", str(config), "--as-of", later, "--output", str(out))
    assert "30 finding(s) (the 25 largest shown)" in result.output
    assert f"all in {out}" in result.output
    assert len(FindingsReport.model_validate_json(out.read_text()).findings) == 30
