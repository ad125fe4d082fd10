"""The command line: documented exit codes, formats, and no traceback for expected failures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ExitCode
from tests.conftest import make_volume


def run(*args: str, cwd: Path | None = None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_config(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "reclaim.yml"
    path.write_text(
        "regions: [us-east-1]\nrules:\n  ebs-unattached: {use_cloudtrail: false}\n" + text
    )
    return path


def test_help_documents_every_command_and_the_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("scan", "plan", "propose", "apply", "rollback", "validate", "demo", "schema"):
        assert command in result.output
    for code in ExitCode:
        assert f"{int(code):>4}  " in result.output


def test_invalid_config_exits_3_with_the_key_path(tmp_path):
    path = tmp_path / "reclaim.yml"
    path.write_text("rules:\n  ebs-unattached:\n    min_unattached_days: -1\n")
    result = run("scan", "--config", str(path))
    assert result.exit_code == ExitCode.CONFIG
    assert "rules.ebs-unattached.min_unattached_days" in result.output
    assert "Traceback" not in result.output


def test_bad_as_of_is_a_usage_error():
    result = run("scan", "--as-of", "last tuesday")
    assert result.exit_code == ExitCode.USAGE
    assert "ISO 8601" in result.output


def test_scan_plan_validate_apply_rollback_round_trip(ec2, tmp_path):
    volume = make_volume(ec2, tags={"Name": "old"})
    config = write_config(tmp_path)
    findings = tmp_path / "findings.json"
    assert run("scan", "--config", str(config), "--format", "json").exit_code == 0
    as_of = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    result = run(
        "scan",
        "--config",
        str(config),
        "--as-of",
        as_of,
        "--output",
        str(findings),
        "--format",
        "markdown",
    )
    assert result.exit_code == 0, result.output
    assert "1 finding(s), $10.00/month" in result.output
    report = json.loads(findings.read_text())
    (finding,) = report["findings"]

    out = tmp_path / "remediations"
    assert run("plan", "--findings", str(findings), "--out", str(out)).exit_code == 0
    folder = out / finding["id"]
    assert {p.name for p in folder.iterdir()} == {"plan.json", "rollback.json", "README.md"}

    validated = run("validate", str(folder))
    assert validated.exit_code == 0 and "is valid and derivable" in validated.output

    trusted = ("--config", str(config), "--as-of", as_of)
    applied = run("apply", str(folder), "--actor", "alice", *trusted)
    assert applied.exit_code == 0, applied.output
    assert (
        ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"] == []
    )
    assert "already applied" in run("apply", str(folder), *trusted).output

    restored = run("rollback", str(folder), *trusted)
    assert restored.exit_code == 0, restored.output
    second = run("rollback", str(folder), *trusted)
    assert second.exit_code == ExitCode.STATE and "already rolled back" in second.output


def test_validate_refuses_a_tampered_plan_with_exit_4(tmp_path):
    from generator.planner import plan_finding, write_remediation
    from tests.factories import volume_finding

    folder = write_remediation(plan_finding(volume_finding()), tmp_path)
    plan = json.loads((folder / "plan.json").read_text())
    plan["steps"][3]["call"]["params"]["VolumeId"] = "vol-0fffffffffffffff0"
    (folder / "plan.json").write_text(json.dumps(plan))
    result = run("validate", str(folder))
    assert result.exit_code == ExitCode.MANIFEST
    assert "differs from what rule 'ebs-unattached' derives" in result.output
    assert "steps[3].call.params.VolumeId" in result.output


def test_broken_findings_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "findings.json"
    bad.write_text("{not json")
    result = run("plan", "--findings", str(bad), "--out", str(tmp_path / "r"))
    assert result.exit_code == ExitCode.MANIFEST and "not valid JSON" in result.output


def test_schema_is_published():
    result = run("schema", "plan")
    schema = json.loads(result.output)
    assert schema["properties"]["kind"]["const"] == "plan"
    assert "Step" in schema["$defs"]


def test_python_dash_m_works():
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "reclaim" in result.stdout


@pytest.mark.parametrize("command", ["apply", "rollback", "validate"])
def test_folder_without_plan_is_exit_4_not_a_traceback(tmp_path, command):
    result = run(command, str(tmp_path))
    assert result.exit_code == ExitCode.MANIFEST
    assert "plan.json does not exist" in result.output
