"""A remediation folder's names and README are bound to its plan (`reclaim validate`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ManifestError
from generator.findings import Finding, FindingsReport
from generator.folder_checks import check_folder, load_checked
from generator.manifest.validation import validate_pair
from generator.planner import Remediation, plan_finding, pr_body, write_remediation
from generator.rules import RULES, rule_for
from tests.factories import ACCOUNT, volume_finding

OTHER = "222222222222"
VOLUME = "vol-0123456789abcdef0"


def genuine(tmp_path: Path) -> Path:
    return write_remediation(plan_finding(volume_finding(volume_id=VOLUME)), tmp_path / "rem")


def validate(folder: Path) -> Any:
    return CliRunner().invoke(main, ["validate", str(folder)])


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def forged_remediation(finding: Finding) -> Remediation:
    """What a hand-written (or older) planner makes of a finding: the rule's own builders,
    without the planner's check that the finding's ID is the derived one."""
    rule = rule_for(finding.rule)
    plan, rollback = rule.build_plan(finding), rule.build_rollback(finding)
    return Remediation(finding, plan, rollback, pr_body(finding, plan, rollback))


def test_the_manifest_checks_alone_accept_a_forged_id(tmp_path: Path) -> None:
    """What the name check adds: without it, the forged folder passes every other check."""
    forged = planned_under_another_accounts_id(genuine(tmp_path))
    remediation = forged_remediation(
        volume_finding(volume_id=VOLUME).model_copy(update={"id": forged.name})
    )
    validate_pair(remediation.plan, remediation.rollback, RULES)


def test_the_planner_refuses_a_finding_named_for_another_account(tmp_path: Path) -> None:
    finding = volume_finding(volume_id=VOLUME)
    forged = finding.model_copy(update={"id": finding.id.replace(ACCOUNT, OTHER)})
    with pytest.raises(ManifestError, match="is not named for what it acts on"):
        plan_finding(forged)
    report = FindingsReport(as_of=finding.observed_at, findings=(finding, forged))
    (tmp_path / "findings.json").write_text(report.model_dump_json())
    result = CliRunner().invoke(
        main,
        ["plan", "--findings", str(tmp_path / "findings.json"), "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 4, result.output
    assert not (tmp_path / "out").exists()  # the genuine one is not written either


def test_a_genuine_folder_is_valid(tmp_path: Path) -> None:
    folder = genuine(tmp_path)
    plan, rollback = load_checked(folder)
    assert folder.name == plan.plan_id == rule_for(plan.rule).derived_id(plan.finding)
    check_folder(folder, plan, rollback)
    result = validate(folder)
    assert result.exit_code == 0 and "is valid and derivable" in result.output


def renamed_to_other_account(folder: Path) -> Path:
    target = folder.with_name(folder.name.replace(ACCOUNT, OTHER))
    folder.rename(target)
    return target


def planned_under_another_accounts_id(folder: Path) -> Path:
    """reclaim's own planner run on a finding whose ID names the other account: plan_id,
    finding.id, rollback.plan_id, the lookups and the folder all agree, and validate_pair
    finds nothing to object to; only the derivation from the account does."""
    finding = volume_finding(volume_id=VOLUME)
    forged = finding.model_copy(update={"id": finding.id.replace(ACCOUNT, OTHER)})
    return write_remediation(forged_remediation(forged), folder.parent)


def resource_swapped(folder: Path) -> Path:
    """The finding names another volume than the record its manifests act on."""

    def swap(data: dict[str, Any]) -> None:
        data["finding"]["resource_id"] = "vol-0fedcba9876543210"

    edit_json(folder / "plan.json", swap)
    return folder


def record_malformed(folder: Path) -> Path:
    """The recorded resource is not in the rule's shape (the builders cannot read it)."""

    def drop(data: dict[str, Any]) -> None:
        data["finding"]["resource"] = {"volume": "gone"}

    edit_json(folder / "plan.json", drop)
    return folder


def readme_edited(folder: Path) -> Path:
    readme = folder / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    lines[2] = "Nothing is deleted: this only adds a tag.\n"
    readme.write_text("".join(lines))
    return folder


def readme_extended(folder: Path) -> Path:
    with open(folder / "README.md", "a") as readme:
        readme.write("Approving this also approves #42.\n")
    return folder


def readme_missing(folder: Path) -> Path:
    (folder / "README.md").unlink()
    return folder


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (renamed_to_other_account, f"folder name is 'ebs-unattached-{OTHER}-"),
        (planned_under_another_accounts_id, f"folder name is 'ebs-unattached-{OTHER}-"),
        (resource_swapped, "the finding names resource 'vol-0fedcba9876543210'"),
        (record_malformed, "finding.resource is not valid"),
        (readme_edited, "line 3 is 'Nothing is deleted: this only adds a tag.'"),
        (readme_extended, "'Approving this also approves #42.') is not in what reclaim renders"),
        (readme_missing, "README.md does not exist"),
    ],
)
def test_a_folder_not_bound_to_its_plan_is_refused_with_exit_4(
    tmp_path: Path, tamper: Callable[[Path], Path], said: str
) -> None:
    folder = tamper(genuine(tmp_path))
    result = validate(folder)
    assert result.exit_code == 4, result.output
    assert said in " ".join(result.output.split()), result.output
    if tamper in (renamed_to_other_account, planned_under_another_accounts_id):
        # the refusal names the one ID reclaim accepts for this plan
        assert f"ebs-unattached-{ACCOUNT}-us-east-1-{VOLUME}" in result.output.replace("\n", "")


def test_a_log_groups_id_part_is_its_slug_derived_from_the_record() -> None:
    rule = rule_for("logs-retention")
    assert rule.id_part("/aws/lambda/x") == rule.id_part("/aws/lambda/x")
    assert rule.id_part("/aws/lambda/x") != rule.id_part("/aws/lambda/X")
    assert "/" not in rule.id_part("/aws/lambda/x")
