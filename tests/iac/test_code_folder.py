"""A code-change folder (iac.json, no plan.json) as validate-changed and apply read it: a
folder, not "removed"; iac.json must be what the default branch's Terraform state and the
rule derive; a folder not bound to its finding is refused before any AWS call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console

from generator.aws.session import AccountSession
from generator.config import parse_config
from generator.errors import ManifestError
from generator.iac.change import code_change
from generator.iac.folder import is_code_folder, load_code_folder
from generator.iac.managed import TerraformManaged
from generator.iac.merged import merged_edit_problems
from generator.iac.proposal import iac_json, iac_readme, managed_by
from generator.pipeline.ci_commands import validate_changed
from tests.factories import volume_finding
from tests.iac.roots import write_root
from tests.iac.test_propose_iac import KEEP, RED, STATE, git, index

IAC = {
    "terraform": [
        {"name": "storage", "path": "infra", "state": {"local": "infra/terraform.tfstate"}}
    ]
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The default branch: a Terraform root and its local state."""
    ops = tmp_path / "ops"
    ops.mkdir()
    git(ops, "init", "-q", "-b", "main")
    write_root(ops / "infra")
    (ops / "infra" / "terraform.tfstate").write_text(json.dumps(STATE))
    git(ops, "add", ".")
    git(ops, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return ops


def open_pr(repo: Path, iac_text: str | None = None, readme: str | None = None) -> Path:
    """A pull request branch as propose writes it (the .tf edit, iac.json, README.md), with
    iac.json or README.md replaced when given."""
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    git(repo, "checkout", "-q", "-b", "pr")
    folder = repo / "remediations" / finding.id
    folder.mkdir(parents=True)
    (folder / "iac.json").write_text(iac_text or iac_json(change))
    (folder / "README.md").write_text(readme or iac_readme(change))
    for path, text in change.edits.items():
        (repo / path).write_text(text)
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "pr")
    return folder


def validate(repo: Path, tmp_path: Path) -> tuple[bool, str]:
    config = parse_config({"iac": IAC}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)  # noqa: SIM115
    valid = validate_changed(
        config, "main", event_path=None, summary_path=summary, repo=repo, out=console, err=console
    )
    return valid, summary.read_text()


def test_a_code_change_folder_is_validated_as_a_folder(repo: Path, tmp_path: Path) -> None:
    folder = open_pr(repo)
    assert is_code_folder(folder)
    valid, text = validate(repo, tmp_path)
    assert valid is True, text
    assert 'aws_ebs_volume.by_team["red"], in code' in text
    assert "Removed" not in text and "valid" in text


def test_an_iac_json_naming_another_address_is_invalid(repo: Path, tmp_path: Path) -> None:
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    forged = json.loads(iac_json(change))
    forged["address"] = "aws_ebs_volume.keep"
    forged_text = json.dumps(forged, indent=2, sort_keys=True) + "\n"
    open_pr(repo, iac_text=forged_text, readme=iac_readme(change))
    valid, text = validate(repo, tmp_path)
    assert valid is False
    assert "iac.json's address is 'aws_ebs_volume.keep'" in text
    assert "README.md is not what reclaim renders from iac.json" in text


def test_a_code_folder_not_bound_to_its_finding_is_refused(repo: Path) -> None:
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    folder = repo / "remediations" / finding.id.replace(RED, KEEP)
    folder.mkdir(parents=True)
    (folder / "iac.json").write_text(iac_json(change))
    with pytest.raises(ManifestError, match="must both be"):
        load_code_folder(folder)
    (folder / "plan.json").write_text("{}")
    assert not is_code_folder(folder)
    with pytest.raises(ManifestError, match="never both"):
        load_code_folder(folder)


def test_terraform_gets_the_sessions_credentials_as_its_environment() -> None:
    session = AccountSession(
        lambda: boto3.Session(
            aws_access_key_id="AKIAROLE",
            aws_secret_access_key="secret",
            aws_session_token="token",
            region_name="us-east-1",
        )
    )
    assert session.credentials_env() == {
        "AWS_ACCESS_KEY_ID": "AKIAROLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    }


def merge_on_main(repo: Path, extra: dict[str, str]) -> str:
    """The PR merged onto main (one commit), with ``extra`` files changed as well."""
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    folder = repo / "remediations" / finding.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "iac.json").write_text(iac_json(change))
    (folder / "README.md").write_text(iac_readme(change))
    for path, text in {**change.edits, **extra}.items():
        (repo / path).write_text(text)
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "merge")
    return f"remediations/{finding.id}"


def test_apply_refuses_a_merge_that_is_more_than_reclaims_edit(repo: Path) -> None:
    finding = volume_finding(volume_id=RED)
    managed = managed_by(index(repo), finding)
    assert isinstance(managed, TerraformManaged)
    # terraform plan would run this (with the write role's credentials) before any check
    # of the saved plan could refuse it.
    evil = 'data "external" "x" {\n  program = ["sh", "-c", "echo {}"]\n}\n'
    folder = merge_on_main(repo, {"infra/extra.tf": evil})
    assert merged_edit_problems(repo, folder, finding, managed) == [
        "the merge also changes infra/extra.tf"
    ]


def test_apply_refuses_a_merge_whose_edit_is_not_reclaims(repo: Path) -> None:
    finding = volume_finding(volume_id=RED)
    managed = managed_by(index(repo), finding)
    assert isinstance(managed, TerraformManaged)
    genuine = code_change(finding, managed, repo).edits["infra/main.tf"]
    folder = merge_on_main(repo, {"infra/main.tf": genuine.replace("# keep this one\n", "")})
    assert merged_edit_problems(repo, folder, finding, managed) == [
        "the merge's infra/main.tf is not reclaim's edit of aws_ebs_volume.by_team[\"red\"]"
    ]


def test_the_genuine_merge_is_reclaims_edit(repo: Path) -> None:
    finding = volume_finding(volume_id=RED)
    managed = managed_by(index(repo), finding)
    assert isinstance(managed, TerraformManaged)
    folder = merge_on_main(repo, {})
    assert merged_edit_problems(repo, folder, finding, managed) == []


def test_the_apply_command_builds_the_checked_terraform_change(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.cli import _executor
    from generator.iac.apply import TerraformChange

    folder = merge_on_main(repo, {})
    (repo / "reclaim.yml").write_text(json.dumps({"iac": IAC}))
    monkeypatch.chdir(repo)
    executor = _executor(repo / folder, repo / "reclaim.yml", "octocat", "apply")
    change = executor.code_change
    assert isinstance(change, TerraformChange) and change.verify_code is not None
    finding = volume_finding(volume_id=RED)
    managed = managed_by(change.index, finding)
    assert isinstance(managed, TerraformManaged)
    assert managed.address == 'aws_ebs_volume.by_team["red"]'
    assert change.verify_code(managed, finding) == []


def open_tampered_pr(repo: Path, extra: dict[str, str]) -> None:
    """A code-change PR as propose writes it, with ``extra`` files changed as well."""
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    git(repo, "checkout", "-q", "-b", "pr")
    folder = repo / "remediations" / finding.id
    folder.mkdir(parents=True)
    (folder / "iac.json").write_text(iac_json(change))
    (folder / "README.md").write_text(iac_readme(change))
    for path, text in {**change.edits, **extra}.items():
        (repo / path).write_text(text)
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "pr")


def _genuine_edit(repo: Path) -> str:
    finding = volume_finding(volume_id=RED)
    return code_change(finding, managed_by(index(repo), finding), repo).edits["infra/main.tf"]


@pytest.mark.parametrize("s3_state", [False, True], ids=["local state", "s3 state"])
@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            lambda genuine: {"infra/main.tf": genuine.replace("# keep this one\n", "")},
            "the pull request's infra/main.tf is not reclaim's edit of "
            'aws_ebs_volume.by_team["red"]',
        ),
        (
            lambda genuine: {
                "infra/extra.tf": 'data "external" "x" {\n  program = ["sh", "-c", "id"]\n}\n'
            },
            "the pull request also changes infra/extra.tf",
        ),
    ],
    ids=["edit not reclaim's", "one more file"],
)
def test_a_pr_whose_code_edit_is_not_reclaims_is_red_before_merge(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tamper: Any,
    problem: str,
    s3_state: bool,
) -> None:
    """The reviewer sees a red check on the pull request, not only a refusal at apply; no
    Terraform runs (validate-changed has no AWS and runs none)."""
    from generator.iac.terraform import Terraform

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("terraform ran")

    monkeypatch.setattr(Terraform, "_run", never)
    open_tampered_pr(repo, tamper(_genuine_edit(repo)))
    iac = IAC
    if s3_state:  # no AWS here: the address iac.json names is checked against the code
        s3 = {"bucket": "acme-tfstate", "key": "storage.tfstate", "region": "us-east-1"}
        iac = {"terraform": [{**IAC["terraform"][0], "state": {"s3": s3}}]}
    config = parse_config({"iac": iac}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)  # noqa: SIM115
    valid = validate_changed(
        config, "main", event_path=None, summary_path=summary, repo=repo, out=console, err=console
    )
    text = summary.read_text()
    assert valid is False
    assert problem in text


def test_a_genuine_pr_is_green_with_s3_state_too(repo: Path, tmp_path: Path) -> None:
    open_tampered_pr(repo, {})
    s3 = {"bucket": "acme-tfstate", "key": "storage.tfstate", "region": "us-east-1"}
    iac = {"terraform": [{**IAC["terraform"][0], "state": {"s3": s3}}]}
    config = parse_config({"iac": iac}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)  # noqa: SIM115
    valid = validate_changed(
        config, "main", event_path=None, summary_path=summary, repo=repo, out=console, err=console
    )
    assert valid is True, summary.read_text()
