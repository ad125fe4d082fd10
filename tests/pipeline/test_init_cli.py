"""`reclaim init` through the CLI: a new repository, a re-run, an edit, --check, existing
Terraform, and this repository's own generated workflows being up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.config import load_config
from generator.errors import ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST_RUN = [
    "init",
    "--repo",
    "acme/cost",
    "--service-account",
    "111111111111",
    "--account",
    "id=222222222222,name=prod,regions=us-east-1+eu-west-1,owners=@acme/prod-oncall",
    "--account",
    "id=333333333333,name=dev",
    "--region",
    "us-east-1",
]


def init(root: Path, *args: str) -> object:
    return CliRunner().invoke(main, [*args[:1], "--dir", str(root), *args[1:]])


def test_a_new_repository_gets_the_whole_pipeline(tmp_path: Path) -> None:
    result = init(tmp_path, *FIRST_RUN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    for path in (
        "reclaim.yml",
        ".github/workflows/reclaim-scan.yml",
        ".github/workflows/reclaim-validate.yml",
        ".github/workflows/reclaim-apply.yml",
        ".github/workflows/reclaim-rollback.yml",
        "terraform/service-role/main.tf",
        "terraform/customer-role/main.tf",
        "terraform/customer-role/accounts/prod.tfvars",
        ".github/CODEOWNERS",
        ".reclaim/pipeline.json",
    ):
        assert (tmp_path / path).is_file(), path
    config = load_config(tmp_path / "reclaim.yml")
    prod, dev = config.accounts
    assert dev.regions is None and dev.owners == ()
    assert prod.role_arn == "arn:aws:iam::222222222222:role/reclaim-remediation"
    assert prod.external_id_env == "RECLAIM_EXTERNAL_ID_PROD"
    assert prod.regions == ("us-east-1", "eu-west-1") and prod.owners == ("@acme/prod-oncall",)
    assert config.forge.type == "github" and config.forge.repository == "acme/cost"
    scan = yaml.safe_load((tmp_path / ".github/workflows/reclaim-scan.yml").read_text())
    env = scan["jobs"]["scan"]["steps"][-2]["env"]
    assert env["RECLAIM_EXTERNAL_ID_DEV"] == "${{ secrets.RECLAIM_EXTERNAL_ID_DEV }}"


def test_re_running_is_idempotent_and_remembers_the_options(tmp_path: Path) -> None:
    assert init(tmp_path, *FIRST_RUN).exit_code == 0  # type: ignore[attr-defined]
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    again = init(tmp_path, "init")
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    assert "create" not in again.output and "update" not in again.output  # type: ignore[attr-defined]
    assert "no longer generated" not in again.output  # type: ignore[attr-defined]
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert init(tmp_path, "init", "--check").exit_code == 0  # type: ignore[attr-defined]


def test_an_edit_is_kept_and_shown_until_force(tmp_path: Path) -> None:
    assert init(tmp_path, *FIRST_RUN).exit_code == 0  # type: ignore[attr-defined]
    workflow = tmp_path / ".github/workflows/reclaim-apply.yml"
    workflow.write_text(workflow.read_text() + "# my note\n")
    config = tmp_path / "reclaim.yml"
    config.write_text(config.read_text().replace('name: "dev"', 'name: "development"'))
    refused = init(tmp_path, "init")
    assert refused.exit_code == ExitCode.STATE, refused.output  # type: ignore[attr-defined]
    assert "-# my note" in refused.output  # type: ignore[attr-defined]
    assert workflow.read_text().endswith("# my note\n")
    assert init(tmp_path, "init", "--check").exit_code == ExitCode.STATE  # type: ignore[attr-defined]
    forced = init(tmp_path, "init", "--force")
    assert forced.exit_code == 0, forced.output  # type: ignore[attr-defined]
    assert "# my note" not in workflow.read_text()
    assert (tmp_path / "terraform/customer-role/accounts/development.tfvars").exists()


def test_an_existing_oidc_provider_is_referenced_not_declared(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra/github.tf").write_text(
        'resource "aws_iam_openid_connect_provider" "github" {\n'
        '  url            = "https://token.actions.githubusercontent.com"\n'
        '  client_id_list = ["sts.amazonaws.com"]\n}\n'
    )
    result = init(tmp_path, *FIRST_RUN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "already declared in infra/github.tf" in result.output  # type: ignore[attr-defined]
    variables = (tmp_path / "terraform/service-role/variables.tf").read_text()
    assert 'variable "create_oidc_provider"' in variables
    assert "default     = false" in variables


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    result = init(tmp_path, "init", "--repo", "acme/cost")
    assert result.exit_code == ExitCode.USAGE  # type: ignore[attr-defined]
    assert "--service-account is required" in result.output  # type: ignore[attr-defined]
    result = init(
        tmp_path, "init", "--repo", "acme/cost", "--service-account", "111111111111",
        "--region", "eu-west-1",
    )  # fmt: skip
    assert result.exit_code == ExitCode.USAGE  # type: ignore[attr-defined]
    assert "give --account too" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / ".github").exists()
    result = init(tmp_path, "init", "--repo", "acme/cost", "--service-account", "111111111111")
    assert result.exit_code == ExitCode.CONFIG  # type: ignore[attr-defined]
    assert "reclaim.yml does not exist" in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_this_repositorys_own_workflows_are_up_to_date() -> None:
    """.github/workflows/reclaim-*.yml are what `reclaim init` makes from .github/reclaim.yml
    and .reclaim/pipeline.json: regenerate with `reclaim init` after changing either."""
    manifest = json.loads((REPO_ROOT / ".reclaim/pipeline.json").read_text())
    assert manifest["options"]["config_file"] == ".github/reclaim.yml"
    result = CliRunner().invoke(main, ["init", "--dir", str(REPO_ROOT), "--check"])
    assert result.exit_code == 0, result.output


def test_a_removed_account_leaves_a_stale_file_that_init_names(tmp_path: Path) -> None:
    assert init(tmp_path, *FIRST_RUN).exit_code == 0  # type: ignore[attr-defined]
    config = tmp_path / "reclaim.yml"
    text = config.read_text()
    config.write_text(
        text[: text.index('  - id: "333333333333"')] + text[text.index("\nregions:") :]
    )
    result = init(tmp_path, "init")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "no longer generated: terraform/customer-role/accounts/dev.tfvars" in result.output  # type: ignore[attr-defined]
    assert "333333333333" not in (tmp_path / "terraform/service-role/variables.tf").read_text()


def _install_step(root: Path, workflow: str = "reclaim-apply") -> dict[str, object]:
    """The apply job's (every job of a workflow installs reclaim the same way)."""
    data = yaml.safe_load((root / f".github/workflows/{workflow}.yml").read_text())
    installs = [
        s
        for job in data["jobs"].values()
        for s in job["steps"]
        if s.get("name") == "Install reclaim"
    ]
    assert all(step == installs[0] for step in installs)
    return installs[0]  # type: ignore[no-any-return]


def test_the_workflows_install_the_commit_this_reclaim_runs_from(tmp_path: Path) -> None:
    import subprocess

    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result = init(tmp_path, *FIRST_RUN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    uses = str(_install_step(tmp_path)["uses"])
    assert uses.endswith(f"@{head}") and "/" in uses.split("@")[0]
    assert f"the workflows install reclaim from {uses}" in result.output  # type: ignore[attr-defined]
    manifest = json.loads((tmp_path / ".reclaim/pipeline.json").read_text())
    assert manifest["options"]["action"] == uses
    assert "pip install" not in (tmp_path / ".github/workflows/reclaim-scan.yml").read_text()


def test_a_fork_and_a_private_index_are_used_and_remembered(tmp_path: Path) -> None:
    fork = "acme/reclaim-fork@" + "a" * 40
    result = init(
        tmp_path, *FIRST_RUN, "--action", fork, "--index-url", "https://pypi.acme.internal/simple"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    for workflow in ("reclaim-apply", "reclaim-validate"):
        step = _install_step(tmp_path, workflow)
        assert step["uses"] == fork
        assert step["with"] == {"index-url": "https://pypi.acme.internal/simple"}
    assert init(tmp_path, "init", "--check").exit_code == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "action",
    ["reclaim-dev/reclaim@v0.1.0", "reclaim-dev/reclaim@main", "reclaim-dev/reclaim@abc123"],
)
def test_an_action_not_named_by_full_commit_is_refused(tmp_path: Path, action: str) -> None:
    result = init(tmp_path, *FIRST_RUN, "--action", action)
    assert result.exit_code == ExitCode.CONFIG, result.output  # type: ignore[attr-defined]
    assert not (tmp_path / ".github").exists()


def test_next_steps_are_the_exact_github_settings(tmp_path: Path) -> None:
    result = init(tmp_path, *FIRST_RUN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    output: str = result.output  # type: ignore[attr-defined]
    assert (
        """echo '{"use_default":false,"include_claim_keys":["repo","context","job_workflow_ref"]}' """
        "| gh api -X PUT repos/acme/cost/actions/oidc/customization/sub --input -"
    ) in output
    for environment in ("reclaim-scan", "reclaim-apply"):
        assert (
            f"gh api -X POST repos/acme/cost/environments/{environment}/deployment-branch-policies"
            in output
        )
        assert (
            f"gh secret set RECLAIM_EXTERNAL_ID_PROD --repo acme/cost --env {environment}" in output
        )
    assert (
        "gh secret set RECLAIM_GITHUB_APP_PRIVATE_KEY --repo acme/cost --env reclaim-scan" in output
    )
    # no ExternalId is ever a repository secret
    assert not [
        line
        for line in output.splitlines()
        if "gh secret set RECLAIM_EXTERNAL_ID" in line and "--env" not in line
    ]


def test_the_printed_reviewers_command_sends_the_approvers_ids(tmp_path: Path) -> None:
    """Run the printed command with a `gh` that answers the ID look-ups and shows the body."""
    import os
    import subprocess

    result = init(tmp_path / "repo", *FIRST_RUN, "--approver", "@acme/ops", "--approver", "@alice")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (command,) = [
        line.strip()
        for line in result.output.splitlines()  # type: ignore[attr-defined]
        if "environments/reclaim-apply --input -" in line and "reviewers" in line
    ]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        "  orgs/acme/teams/ops) echo 42 ;;\n"
        "  users/alice) echo 7 ;;\n"
        '  *) echo "$@" > "$GH_ARGS"; cat ;;\n'
        "esac\n"
    )
    (bin_dir / "gh").chmod(0o755)
    args = tmp_path / "args"
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GH_ARGS": str(args),
        },
        check=True,
    )
    assert json.loads(done.stdout) == {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        "prevent_self_review": True,
        "reviewers": [{"type": "Team", "id": 42}, {"type": "User", "id": 7}],
    }
    assert args.read_text().split() == [
        "api",
        "-X",
        "PUT",
        "repos/acme/cost/environments/reclaim-apply",
        "--input",
        "-",
    ]


def test_the_environments_admit_only_the_default_branch(tmp_path: Path) -> None:
    """The deployment-branch policies init prints, matched the way GitHub matches branch
    names against them (fnmatch-style patterns): the default branch deploys, a writer's
    branch (even one named to look like it) does not, so its job never gets the secrets."""
    import fnmatch

    result = init(tmp_path, *FIRST_RUN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    for environment in ("reclaim-scan", "reclaim-apply"):
        (line,) = [
            line
            for line in result.output.splitlines()  # type: ignore[attr-defined]
            if f"environments/{environment}/deployment-branch-policies" in line
        ]
        body = json.loads(line.split("echo '", 1)[1].split("' |", 1)[0])
        assert body == {"name": "main", "type": "branch"}
        (put,) = [
            line
            for line in result.output.splitlines()  # type: ignore[attr-defined]
            if f"-X PUT repos/acme/cost/environments/{environment} " in line
            and "reviewers" not in line
        ]
        settings = json.loads(put.split("echo '", 1)[1].split("' |", 1)[0])
        assert settings["deployment_branch_policy"] == {
            "protected_branches": False,
            "custom_branch_policies": True,
        }
        for branch, deploys in (
            ("main", True),
            ("steal", False),
            ("main-copy", False),
            ("feature/main", False),
            ("refs/heads/main", False),
        ):
            assert fnmatch.fnmatchcase(branch, body["name"]) is deploys, (environment, branch)


def test_code_scanning_is_opted_into_remembered_and_removed(tmp_path: Path) -> None:
    def scan_jobs() -> set[str]:
        text = (tmp_path / ".github/workflows/reclaim-scan.yml").read_text()
        return set(yaml.safe_load(text)["jobs"])

    assert init(tmp_path, *FIRST_RUN).exit_code == 0  # type: ignore[attr-defined]
    assert "code-scanning" not in scan_jobs()
    result = init(tmp_path, "init", "--code-scanning")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "code-scanning" in scan_jobs()
    assert init(tmp_path, "init").exit_code == 0  # type: ignore[attr-defined]
    assert "code-scanning" in scan_jobs()  # remembered in .reclaim/pipeline.json
    assert init(tmp_path, "init", "--no-code-scanning").exit_code == 0  # type: ignore[attr-defined]
    assert "code-scanning" not in scan_jobs()
