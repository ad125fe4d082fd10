"""`reclaim doctor`'s GitHub checks against a local API that answers as GitHub documents
(the AWS checks run against moto in test_terraform_apply.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.pipeline.doctor import check_github, http_getter
from generator.pipeline.spec import Fleet, PipelineOptions
from tests.github_standin.server import GitHubStandIn

REPO = "repos/acme/cost"
TOKEN = "doctor-token"
CUSTOM = {"protected_branches": False, "custom_branch_policies": True}


@pytest.fixture
def bare_github(tmp_path: Path) -> Iterator[GitHubStandIn]:
    """A repository with nothing set: no environments, the default OIDC subjects."""
    server = GitHubStandIn(
        tmp_path / "github", name="cost", token=TOKEN, collaborators=("alice", "bo"), teams=("ops",)
    ).start()
    try:
        yield server
    finally:
        server.stop()
    if server.violations:
        pytest.fail(
            "exchanges that break GitHub's API description:\n" + "\n".join(server.violations)
        )


@pytest.fixture
def github(bare_github: GitHubStandIn, fleet: Fleet) -> GitHubStandIn:
    """Every setting as init and the setup steps make it."""
    bare_github.oidc_template = {
        "use_default": False,
        "include_claim_keys": ["repo", "context", "job_workflow_ref"],
    }
    bare_github.human_environment(
        "reclaim-scan",
        branch_policy=CUSTOM,
        policies=("main",),
        secrets=[*fleet.external_id_envs, "RECLAIM_GITHUB_APP_PRIVATE_KEY"],
    )
    bare_github.human_environment(
        "reclaim-apply",
        branch_policy=CUSTOM,
        policies=("main",),
        secrets=list(fleet.external_id_envs),
        reviewers=[("Team", "ops")],
    )
    bare_github.variables = {
        "RECLAIM_GITHUB_APP_ID": "1",
        "RECLAIM_GITHUB_APP_INSTALLATION_ID": "2",
    }
    bare_github.protection["main"] = ["Validate remediations"]
    return bare_github


def _failed(options: PipelineOptions, fleet: Fleet, url: str) -> dict[str, str]:
    checks = check_github(options, fleet, http_getter(url, TOKEN))
    return {c.what: c.fix for c in checks if not c.ok}


def test_a_healthy_setup_passes_every_check(github: GitHubStandIn, options, fleet) -> None:  # type: ignore[no-untyped-def]
    assert _failed(options, fleet, github.api_url) == {}
    checks = {
        c.what: c.detail for c in check_github(options, fleet, http_getter(github.api_url, TOKEN))
    }
    # GitHub names each required check twice (`contexts` and `checks`): said once
    assert checks["branch protection of main"] == "required checks ['Validate remediations']"


def test_each_broken_setting_is_named_with_its_fix(github: GitHubStandIn, options, fleet) -> None:  # type: ignore[no-untyped-def]
    github.oidc_template = {"use_default": True}
    apply = github.environments["reclaim-apply"]
    apply.branch_policy, apply.reviewers = None, []
    github.repo_secrets = ["RECLAIM_EXTERNAL_ID_PROD"]
    github.environments["reclaim-scan"].secrets = []
    del github.protection["main"]
    failed = _failed(options, fleet, github.api_url)
    assert set(failed) == {
        "OIDC subject template",
        "environment reclaim-apply: branches",
        "environment reclaim-apply: required reviewers",
        "environment reclaim-scan: secrets",
        "no ExternalId or App key as a repository secret",
        "branch protection of main",
    }
    assert "actions/oidc/customization/sub" in failed["OIDC subject template"]
    assert "deployment-branch-policies" in failed["environment reclaim-apply: branches"]
    assert failed["no ExternalId or App key as a repository secret"] == (
        "gh secret delete RECLAIM_EXTERNAL_ID_PROD --repo acme/cost"
    )
    assert "--env reclaim-scan" in failed["environment reclaim-scan: secrets"]
    assert "Validate remediations" in failed["branch protection of main"]


def test_settings_past_the_first_page_are_found(github: GitHubStandIn, options, fleet) -> None:  # type: ignore[no-untyped-def]
    """GitHub lists 10 variables and 30 secrets a page: the App's variables and the
    ExternalIds may be on a later one."""
    github.variables = {
        **{f"OTHER_{i:02}": "x" for i in range(40)},
        "RECLAIM_GITHUB_APP_ID": "1",
        "RECLAIM_GITHUB_APP_INSTALLATION_ID": "2",
    }
    scan = github.environments["reclaim-scan"]
    scan.secrets = [f"OTHER_{i:03}" for i in range(120)] + scan.secrets
    github.repo_secrets = [f"OTHER_{i:03}" for i in range(120)] + ["RECLAIM_EXTERNAL_ID_DEV"]
    failed = _failed(options, fleet, github.api_url)
    assert set(failed) == {"no ExternalId or App key as a repository secret"}
    assert "RECLAIM_EXTERNAL_ID_DEV" in failed["no ExternalId or App key as a repository secret"]


def test_the_command_exits_3_and_prints_the_fixes(github: GitHubStandIn, tmp_path: Path) -> None:
    init = CliRunner().invoke(
        main,
        [
            "init",
            "--dir",
            str(tmp_path),
            "--repo",
            "acme/cost",
            "--service-account",
            "111111111111",
            "--account",
            "id=222222222222,name=prod",
        ],
    )
    assert init.exit_code == 0, init.output
    config = tmp_path / "reclaim.yml"
    config.write_text(
        config.read_text().replace(
            "  base_branch: main", f"  base_branch: main\n  api_url: {github.api_url}"
        )
    )
    github.environments["reclaim-scan"].secrets = ["RECLAIM_GITHUB_APP_PRIVATE_KEY"]
    result = CliRunner().invoke(
        main, ["doctor", "--dir", str(tmp_path), "--no-aws"], env={"RECLAIM_DOCTOR_TOKEN": TOKEN}
    )
    assert result.exit_code == 3, result.output
    assert (
        "FAIL environment reclaim-scan: secrets: missing ['RECLAIM_EXTERNAL_ID_PROD']"
        in result.output
    )
    assert (
        "fix: gh secret set RECLAIM_EXTERNAL_ID_PROD --repo acme/cost --env reclaim-scan"
        in result.output
    )
    assert "ok   OIDC subject template" in result.output


def _config(root: Path, api_url: str) -> None:
    (root / "reclaim.yml").write_text(
        "version: 1\naccounts:\n  - id: '222222222222'\n    name: prod\n"
        "    role_arn: arn:aws:iam::222222222222:role/reclaim-remediation\n"
        "    scan_role_arn: arn:aws:iam::222222222222:role/reclaim-scan\n"
        "    external_id_env: RECLAIM_EXTERNAL_ID_PROD\n"
        f"forge:\n  type: github\n  repository: acme/cost\n  api_url: {api_url}\n"
    )


def test_init_with_a_token_sets_the_template_and_the_environments_then_doctor_agrees(
    bare_github: GitHubStandIn, tmp_path: Path
) -> None:
    """Starting from a repository with nothing set, and an environment someone opened to a
    feature branch: init sets what a token can, and prints only the rest."""
    github = bare_github
    github.human_environment(
        "reclaim-apply",
        reviewers=[("Team", "ops")],
        prevent_self_review=True,
        branch_policy=CUSTOM,
        policies=("feature/*",),
    )
    _config(tmp_path, github.api_url)
    result = CliRunner().invoke(
        main,
        [
            "init",
            "--dir",
            str(tmp_path),
            "--repo",
            "acme/cost",
            "--service-account",
            "111111111111",
            "--approver",
            "@acme/ops",
            "--approver",
            "@alice",
        ],
        env={"RECLAIM_SETUP_TOKEN": TOKEN},
    )
    assert result.exit_code == 0, result.output
    writes = [(e.method, e.path) for e in github.writes()]
    assert writes[0] == ("PUT", f"/{REPO}/actions/oidc/customization/sub")
    assert github.oidc_template == {
        "use_default": False,
        "include_claim_keys": ["repo", "context", "job_workflow_ref"],
    }
    scan, apply = github.environments["reclaim-scan"], github.environments["reclaim-apply"]
    assert scan.branch_policy == apply.branch_policy == CUSTOM
    assert (scan.reviewers, scan.prevent_self_review) == ([], False)
    # the approvers given, found by the IDs GitHub has for them
    assert apply.reviewers == [("Team", "ops"), ("User", "alice")]
    assert apply.prevent_self_review
    assert (
        "set on GitHub: environment reclaim-apply: required reviewers @acme/ops, @alice"
        in result.output
    )
    assert list(scan.policies.values()) == list(apply.policies.values()) == ["main"]
    assert ("DELETE", f"/{REPO}/environments/reclaim-apply/deployment-branch-policies/") in [
        (m, p.rstrip("0123456789")) for m, p in writes
    ]
    assert "set on GitHub: OIDC subject template" in result.output
    assert "customization/sub" not in result.output  # not printed as a command any more
    assert (
        "gh secret set RECLAIM_EXTERNAL_ID_PROD --repo acme/cost --env reclaim-apply"
        in result.output
    )
    options = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
    from generator.pipeline.init import load_fleet

    fleet, _ = load_fleet(tmp_path, options, None)
    checks = {
        c.what: c.ok for c in check_github(options, fleet, http_getter(github.api_url, TOKEN))
    }
    assert checks["OIDC subject template"] and checks["environment reclaim-scan: branches"]
    assert checks["environment reclaim-apply: branches"]
    assert checks["environment reclaim-apply: required reviewers"]
    assert not checks["environment reclaim-scan: secrets"]  # values only a person has


def test_a_refused_token_is_a_clear_error_after_the_files_are_written(
    bare_github: GitHubStandIn, tmp_path: Path
) -> None:
    _config(tmp_path, bare_github.api_url)
    result = CliRunner().invoke(
        main,
        [
            "init",
            "--dir",
            str(tmp_path),
            "--repo",
            "acme/cost",
            "--service-account",
            "111111111111",
        ],
        env={"RECLAIM_SETUP_TOKEN": "wrong"},
    )
    assert result.exit_code == 8, result.output
    assert "GitHub answered 401" in result.output
    assert (tmp_path / ".github/workflows/reclaim-apply.yml").is_file()
    assert bare_github.oidc_template == {"use_default": True}


def test_reviewers_already_set_are_kept_when_init_sets_the_branch_policy(
    bare_github: GitHubStandIn,
) -> None:
    from generator.pipeline.setup_steps import apply_settings, http_requester

    bare_github.human_environment(
        "reclaim-apply", reviewers=[("User", "bo")], prevent_self_review=False, wait_timer=30
    )
    options = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
    apply_settings(options, http_requester(bare_github.api_url, TOKEN))
    apply = bare_github.environments["reclaim-apply"]
    assert apply.branch_policy == CUSTOM
    assert apply.reviewers == [("User", "bo")]
    assert (apply.prevent_self_review, apply.wait_timer) == (False, 30)
    assert list(apply.policies.values()) == ["main"]


def test_init_removes_every_other_branch_policy_past_the_first_page(
    bare_github: GitHubStandIn,
) -> None:
    from generator.pipeline.setup_steps import apply_settings, http_requester

    bare_github.human_environment(
        "reclaim-scan", branch_policy=CUSTOM, policies=tuple(f"old/{i}" for i in range(35))
    )
    options = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
    apply_settings(options, http_requester(bare_github.api_url, TOKEN))
    assert list(bare_github.environments["reclaim-scan"].policies.values()) == ["main"]


def test_an_edited_workflow_is_a_setup_problem(tmp_path: Path) -> None:
    init = CliRunner().invoke(
        main,
        [
            "init",
            "--dir",
            str(tmp_path),
            "--repo",
            "acme/cost",
            "--service-account",
            "111111111111",
            "--account",
            "id=222222222222,name=prod",
        ],
    )
    assert init.exit_code == 0, init.output
    clean = CliRunner().invoke(main, ["doctor", "--dir", str(tmp_path), "--no-aws"], env={})
    assert clean.exit_code == 0, clean.output
    assert "ok   generated files: up to date" in clean.output
    assert "GitHub: not checked" in clean.output
    workflow = tmp_path / ".github/workflows/reclaim-apply.yml"
    workflow.write_text(
        workflow.read_text().replace("environment: reclaim-apply", "environment: other")
    )
    edited = CliRunner().invoke(main, ["doctor", "--dir", str(tmp_path), "--no-aws"], env={})
    assert edited.exit_code == 3, edited.output
    assert (
        "FAIL generated files: differ from what init generates: .github/workflows/reclaim-apply.yml"
        in edited.output
    )
    assert "fix: reclaim init" in edited.output


def test_doctor_says_whether_the_fresh_status_is_required(
    github: GitHubStandIn, options, fleet
) -> None:  # type: ignore[no-untyped-def]
    def fresh(**given: int) -> tuple[bool, str, str]:
        (check,) = [
            c
            for c in check_github(options, fleet, http_getter(github.api_url, TOKEN), **given)
            if c.what == "reclaim/fresh status"
        ]
        return check.ok, check.detail, check.fix

    ok, detail, _ = fresh()
    assert ok and detail.startswith("not required by branch protection of main")
    # the default schedule (weekdays) leaves three days between Friday's scan and Monday's
    assert f"scans {options.scan_cron!r} run up to 72 h apart" in detail

    github.protection["main"] = ["Validate remediations", "reclaim/fresh"]
    ok, detail, fix = fresh()
    assert not ok and detail.startswith("required by branch protection of main")
    assert "forge.max_evidence_age_hours 24" in detail and "--scan-cron" in fix
    ok, _, _ = fresh(max_evidence_age_hours=72)
    assert ok


def test_cron_gaps() -> None:
    from datetime import timedelta

    from generator.pipeline.cron import longest_gap

    assert longest_gap("23 6 * * 1-5") == timedelta(days=3)
    assert longest_gap("0 */6 * * *") == timedelta(hours=6)
    assert longest_gap("0 6 1,15 * *") == timedelta(days=17)  # the 15th to the 1st of March
    assert longest_gap("0 6 * * MON") is None  # names: not worked out, and said so
