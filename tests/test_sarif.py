"""`reclaim scan --format sarif` for GitHub code scanning, and the job summary every scan
appends to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.findings import FindingsReport, ScanError
from generator.rules import RULES
from generator.sarif import FINGERPRINT_KEY, level_for, sarif_log
from tests.conftest import ACCOUNT, make_volume
from tests.test_scan_output import only_ebs_unattached

SCHEMA_FILE = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0-rtm.5.json"


def valid_sarif(document: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    return document


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "reclaim.yml"
    # moto has no Recycle Bin: without asking it, the run has no warning to notify.
    rules = only_ebs_unattached().replace(
        "{use_cloudtrail: false}", "{use_cloudtrail: false, use_recycle_bin: false}"
    )
    path.write_text("regions: [us-east-1]\noutput:\n  state_file: state.json\n" + rules)
    return path


def run_scan(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    config = write_config(tmp_path)
    return CliRunner().invoke(main, ["scan", "--config", str(config), *args], env=env)


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def sarif_scan(tmp_path: Path, as_of: str) -> dict[str, Any]:
    result = run_scan(tmp_path, "--as-of", as_of, "--format", "sarif")
    assert result.exit_code == 0, result.output + result.stderr
    return valid_sarif(json.loads(result.stdout))


def by_resource(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["properties"]["resourceId"]: r for r in document["runs"][0]["results"]}


def test_scan_writes_one_valid_sarif_result_per_finding(ec2: Any, tmp_path: Path) -> None:
    volumes = [make_volume(ec2), make_volume(ec2, Size=20)]
    run_scan(tmp_path)  # starts the first-seen clocks
    document = sarif_scan(tmp_path, later(9))

    run = document["runs"][0]
    assert document["version"] == "2.1.0"
    assert run["tool"]["driver"]["name"] == "reclaim"
    results = by_resource(document)
    assert sorted(results) == sorted(volumes)
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][: len(RULES)] == list(RULES)
    rule = RULES["ebs-unattached"]
    for volume, result in results.items():
        finding_id = f"ebs-unattached-{ACCOUNT}-us-east-1-{volume}"
        assert result["ruleId"] == "ebs-unattached"
        assert rules[result["ruleIndex"]]["id"] == "ebs-unattached"
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location == {"uri": f"remediations/{finding_id}/plan.json", "uriBaseId": "%SRCROOT%"}
        assert result["properties"]["findingId"] == finding_id
        assert result["properties"]["reportOnly"] is False
        assert result["level"] == level_for(result["properties"]["risk"])
        assert rule.docs.change is not None and rule.docs.change in result["message"]["text"]
    big = results[volumes[0]]
    assert f"${big['properties']['monthlyUsd']:,.2f}/month" in big["message"]["text"]
    assert big["properties"]["monthlyUsd"] > results[volumes[1]]["properties"]["monthlyUsd"] > 0

    described = rules[big["ruleIndex"]]
    assert described["shortDescription"]["text"] == rule.summary
    assert rule.docs.finds in described["help"]["text"]
    assert rule.docs.undo is not None and rule.docs.undo in described["help"]["markdown"]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert "toolExecutionNotifications" not in run["invocations"][0]


def test_fingerprints_keep_a_findings_identity_across_scans(ec2: Any, tmp_path: Path) -> None:
    first, second = make_volume(ec2), make_volume(ec2)
    run_scan(tmp_path)
    one = by_resource(sarif_scan(tmp_path, later(9)))
    two = by_resource(sarif_scan(tmp_path, later(12)))  # another scan, days later

    assert set(one) == set(two) == {first, second}
    for volume in (first, second):
        assert one[volume]["partialFingerprints"] == two[volume]["partialFingerprints"]
    for key in (FINGERPRINT_KEY, "primaryLocationLineHash"):
        assert one[first]["partialFingerprints"][key] != one[second]["partialFingerprints"][key]


def test_a_fingerprint_depends_on_the_resource_not_on_what_a_scan_measured(
    ec2: Any, tmp_path: Path
) -> None:
    make_volume(ec2)
    run_scan(tmp_path)
    output = tmp_path / "findings.json"
    run_scan(tmp_path, "--as-of", later(9), "--output", str(output))
    report = FindingsReport.model_validate_json(output.read_text())
    finding = report.findings[0]
    cost = finding.cost.model_copy(update={"monthly_usd": finding.cost.monthly_usd * 3})
    cheaper = finding.model_copy(update={"cost": cost, "title": "another title", "risk": "high"})
    other_region = finding.model_copy(
        update={"id": finding.id.replace("us-east-1", "eu-west-1"), "region": "eu-west-1"}
    )

    def prints(*findings: Any) -> list[dict[str, str]]:
        log = sarif_log(report.model_copy(update={"findings": findings}))
        return [r["partialFingerprints"] for r in valid_sarif(log)["runs"][0]["results"]]

    assert prints(finding) == prints(cheaper)
    assert prints(finding) != prints(other_region)


def test_report_only_findings_are_included_and_say_so(ec2: Any, tmp_path: Path) -> None:
    make_volume(ec2)
    run_scan(tmp_path)
    output = tmp_path / "findings.json"
    run_scan(tmp_path, "--as-of", later(9), "--output", str(output))
    report = FindingsReport.model_validate_json(output.read_text())
    planned = report.findings[0]
    reported = planned.model_copy(update={"reversibility": "report-only"})

    log = valid_sarif(sarif_log(report.model_copy(update={"findings": (reported,)}), "infra/r"))
    (result,) = log["runs"][0]["results"]
    assert result["properties"]["reportOnly"] is True
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == f"infra/r/{planned.id}/README.md"
    assert "proposes no change" in result["message"]["text"]
    assert "the plan in its pull request" not in result["message"]["text"]


def test_scan_errors_and_warnings_are_tool_execution_notifications() -> None:
    report = FindingsReport(
        as_of=datetime(2026, 11, 28, tzinfo=UTC),
        findings=(),
        errors=(
            ScanError(
                account="prod",
                region="*",
                rule="*",
                message="AssumeRole refused",
                hint="check the trust policy",
            ),
        ),
        warnings=(
            ScanError(
                account=ACCOUNT,
                region="us-east-1",
                rule="ebs-unattached",
                message="CloudTrail refused: ages from first-seen",
            ),
        ),
    )
    run = valid_sarif(sarif_log(report))["runs"][0]
    assert run["results"] == []
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    error, warning = invocation["toolExecutionNotifications"]
    assert error["level"] == "error"
    assert error["message"]["text"] == "prod/*/*: AssumeRole refused (hint: check the trust policy)"
    assert "associatedRule" not in error
    assert warning["level"] == "warning"
    assert warning["associatedRule"] == {"id": "ebs-unattached"}
    assert "CloudTrail refused" in warning["message"]["text"]


def test_a_finding_id_with_characters_outside_a_uri_path_is_encoded(
    ec2: Any, tmp_path: Path
) -> None:
    make_volume(ec2)
    run_scan(tmp_path)
    output = tmp_path / "findings.json"
    run_scan(tmp_path, "--as-of", later(9), "--output", str(output))
    report = FindingsReport.model_validate_json(output.read_text())
    odd = report.findings[0].model_copy(update={"id": report.findings[0].id + ":a b"})
    log = valid_sarif(sarif_log(report.model_copy(update={"findings": (odd,)})))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"].endswith("%3Aa%20b/plan.json")


def test_the_sarif_file_passes_check_jsonschema(ec2: Any, tmp_path: Path) -> None:
    from tests.pipeline.tools import run, tool

    checker = tool("check-jsonschema")
    make_volume(ec2)
    run_scan(tmp_path)
    sarif = tmp_path / "reclaim.sarif"
    sarif.write_text(json.dumps(sarif_scan(tmp_path, later(9))))
    # The schema's toolComponent.language pattern has a stray "]" that ECMAScript's unicode
    # mode (check-jsonschema's default) refuses as a regex; its non-unicode mode reads it.
    check = [*checker, "--regex-variant", "nonunicode", "--schemafile", str(SCHEMA_FILE)]
    result = run([*check, str(sarif)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.sarif"
    broken.write_text(json.dumps({"version": "2.1.0", "runs": [{"results": []}]}))  # no tool
    assert run([*check, str(broken)], tmp_path).returncode != 0


# ---- the job summary ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "sarif"])
def test_a_scan_appends_its_summary_when_github_step_summary_is_set(
    ec2: Any, tmp_path: Path, fmt: str
) -> None:
    make_volume(ec2)
    make_volume(ec2, tags={"reclaim:skip": "legal hold"})
    run_scan(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")

    result = run_scan(
        tmp_path,
        "--as-of",
        later(9),
        "--format",
        fmt,
        "--shard",
        "1/1",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )

    assert result.exit_code == 0, result.output
    text = summary.read_text()
    assert text.startswith("earlier step\n## reclaim scan, shard 1/1\n")  # appended
    assert "**1 finding(s), $" in text
    assert f"| {ACCOUNT} | us-east-1 |" in text  # the finding's row, with its cost
    assert "**Left alone: 1 resource(s)**" in text
    assert "| 1 | ebs-unattached | carries the skip tag 'reclaim:skip' |" in text
    if fmt != "table":
        assert "## reclaim scan" not in result.stdout  # the document on stdout is untouched


def test_the_summary_carries_warnings_and_errors(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import scan as scan_module

    make_volume(ec2)
    original = scan_module.scan_into

    def failing(config: Any, sink: Any, **kwargs: Any) -> Any:
        summary = original(config, sink, **kwargs)
        warning = ScanError(account=ACCOUNT, region="us-east-1", rule="x", message="a warning")
        error = ScanError(account="other", region="*", rule="*", message="an error")
        sink.add_error(error)
        summary.warnings.append(warning)
        summary.errors.append(error)
        return summary

    monkeypatch.setattr(scan_module, "scan_into", failing)
    summary = tmp_path / "summary.md"
    result = run_scan(tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)})

    assert result.exit_code == 1  # some unit failed: still summarised
    text = summary.read_text()
    assert "- warning in 123456789012/us-east-1/x: a warning" in text
    assert "- error in other/*/*: an error" in text


def test_no_summary_without_github_step_summary_or_with_no_step_summary(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_volume(ec2)
    monkeypatch.chdir(tmp_path)
    result = run_scan(tmp_path)  # the environment has no GITHUB_STEP_SUMMARY (conftest)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reclaim.yml", "state.json"]

    summary = tmp_path / "summary.md"
    result = run_scan(tmp_path, "--no-step-summary", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0, result.output
    assert not summary.exists()


def test_reclaim_sarif_writes_a_findings_file_with_the_configured_folder(
    ec2: Any, tmp_path: Path
) -> None:
    """What the workflow uploads: the merged findings of a sharded scan, as SARIF."""
    volume = make_volume(ec2)
    run_scan(tmp_path)
    findings = tmp_path / "findings.json"
    run_scan(tmp_path, "--as-of", later(9), "--output", str(findings))
    config = tmp_path / "reclaim.yml"
    config.write_text(
        config.read_text().replace("output:\n", "output:\n  remediations_dir: ops/r\n")
    )
    sarif = tmp_path / "out" / "reclaim.sarif"

    result = CliRunner().invoke(
        main,
        ["sarif", "--config", str(config), "--findings", str(findings), "--output", str(sarif)],
    )

    assert result.exit_code == 0, result.output
    assert f"wrote 1 result(s) to {sarif}" in result.output
    (entry,) = valid_sarif(json.loads(sarif.read_text()))["runs"][0]["results"]
    uri = entry["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == f"ops/r/ebs-unattached-{ACCOUNT}-us-east-1-{volume}/plan.json"
