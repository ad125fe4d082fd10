"""`reclaim doctor`'s GitHub checks against a local API that answers as GitHub documents
(the AWS checks run against moto in test_terraform_apply.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.pipeline.doctor import check_github, http_getter
from generator.pipeline.spec import Fleet, PipelineOptions

REPO = "repos/acme/cost"
TOKEN = "doctor-token"


def healthy(options: PipelineOptions, fleet: Fleet) -> dict[str, Any]:
    env_secrets = [{"name": n} for n in fleet.external_id_envs]
    return {
        f"/{REPO}/actions/oidc/customization/sub": {
            "use_default": False,
            "include_claim_keys": ["repo", "context", "job_workflow_ref"],
        },
        f"/{REPO}/environments/reclaim-scan": {
            "name": "reclaim-scan",
            "protection_rules": [{"type": "branch_policy"}],
            "deployment_branch_policy": {
                "protected_branches": False,
                "custom_branch_policies": True,
            },
        },
        f"/{REPO}/environments/reclaim-apply": {
            "name": "reclaim-apply",
            "protection_rules": [
                {
                    "type": "required_reviewers",
                    "reviewers": [{"type": "Team", "reviewer": {"id": 1}}],
                },
                {"type": "branch_policy"},
            ],
            "deployment_branch_policy": {
                "protected_branches": False,
                "custom_branch_policies": True,
            },
        },
        f"/{REPO}/environments/reclaim-scan/deployment-branch-policies": {
            "total_count": 1,
            "branch_policies": [{"name": "main", "type": "branch"}],
        },
        f"/{REPO}/environments/reclaim-apply/deployment-branch-policies": {
            "total_count": 1,
            "branch_policies": [{"name": "main", "type": "branch"}],
        },
        f"/{REPO}/environments/reclaim-scan/secrets": {
            "total_count": 3,
            "secrets": [*env_secrets, {"name": "RECLAIM_GITHUB_APP_PRIVATE_KEY"}],
        },
        f"/{REPO}/environments/reclaim-apply/secrets": {"total_count": 2, "secrets": env_secrets},
        f"/{REPO}/actions/secrets": {"total_count": 0, "secrets": []},
        f"/{REPO}/actions/variables": {
            "total_count": 2,
            "variables": [
                {"name": "RECLAIM_GITHUB_APP_ID", "value": "1"},
                {"name": "RECLAIM_GITHUB_APP_INSTALLATION_ID", "value": "2"},
            ],
        },
        f"/{REPO}/branches/main/protection": {
            "required_status_checks": {"strict": True, "contexts": ["Validate remediations"]}
        },
    }


class FakeGitHub:
    """Answers GETs from ``answers``; PUT, POST and DELETE change them as GitHub would for
    the endpoints init uses, and every request is recorded."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Any]] = []

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if method == "GET":
            found = self.answers.get(path)
            return (200, found) if found is not None else (404, {"message": "Not Found"})
        if path.endswith("/actions/oidc/customization/sub") and method == "PUT":
            self.answers[path] = body
            return 201, {}
        if "/environments/" in path and method == "PUT":
            name = path.rsplit("/", 1)[1]
            self.answers[path] = {"name": name, "protection_rules": [], **body}
            self.answers.setdefault(
                f"{path}/deployment-branch-policies", {"total_count": 0, "branch_policies": []}
            )
            return 200, self.answers[path]
        if path.endswith("/deployment-branch-policies") and method == "POST":
            listed = self.answers[path]
            policy = {"id": len(listed["branch_policies"]) + 1, **body}
            listed["branch_policies"].append(policy)
            listed["total_count"] = len(listed["branch_policies"])
            return 200, policy
        if "/deployment-branch-policies/" in path and method == "DELETE":
            listing, _, policy_id = path.rpartition("/")
            listed = self.answers[listing]
            listed["branch_policies"] = [
                p for p in listed["branch_policies"] if str(p["id"]) != policy_id
            ]
            return 204, None
        return 404, {"message": "Not Found"}


@pytest.fixture
def github(options: PipelineOptions, fleet: Fleet) -> Iterator[tuple[str, dict[str, Any]]]:
    with _serve(FakeGitHub(healthy(options, fleet))) as (url, fake):
        yield url, fake.answers


@contextmanager
def _serve(fake: FakeGitHub) -> Iterator[tuple[str, FakeGitHub]]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, answer = 401, {"message": "Bad credentials"}
            else:
                status, answer = fake.handle(self.command, self.path, body)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _failed(options: PipelineOptions, fleet: Fleet, url: str) -> dict[str, str]:
    checks = check_github(options, fleet, http_getter(url, TOKEN))
    return {c.what: c.fix for c in checks if not c.ok}


def test_a_healthy_setup_passes_every_check(github, options, fleet) -> None:  # type: ignore[no-untyped-def]
    url, _ = github
    assert _failed(options, fleet, url) == {}


def test_each_broken_setting_is_named_with_its_fix(github, options, fleet) -> None:  # type: ignore[no-untyped-def]
    url, answers = github
    answers[f"/{REPO}/actions/oidc/customization/sub"] = {"use_default": True}
    answers[f"/{REPO}/environments/reclaim-apply"]["deployment_branch_policy"] = None
    answers[f"/{REPO}/environments/reclaim-apply"]["protection_rules"] = []
    answers[f"/{REPO}/actions/secrets"] = {
        "total_count": 1,
        "secrets": [{"name": "RECLAIM_EXTERNAL_ID_PROD"}],
    }
    answers[f"/{REPO}/environments/reclaim-scan/secrets"] = {"total_count": 0, "secrets": []}
    del answers[f"/{REPO}/branches/main/protection"]
    failed = _failed(options, fleet, url)
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


def test_the_command_exits_3_and_prints_the_fixes(github, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, answers = github
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
        config.read_text().replace("  base_branch: main", f"  base_branch: main\n  api_url: {url}")
    )
    answers[f"/{REPO}/environments/reclaim-scan/secrets"] = {
        "total_count": 1,
        "secrets": [{"name": "RECLAIM_GITHUB_APP_PRIVATE_KEY"}],
    }
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


def test_init_with_a_token_sets_the_template_and_the_environments_then_doctor_agrees(
    tmp_path: Path,
) -> None:
    """Starting from a repository with nothing set, and an environment someone opened to a
    feature branch: init sets what a token can, and prints only the rest."""
    fake = FakeGitHub(
        {
            f"/{REPO}/environments/reclaim-apply": {
                "name": "reclaim-apply",
                "protection_rules": [
                    {
                        "type": "required_reviewers",
                        "prevent_self_review": True,
                        "reviewers": [{"type": "Team", "reviewer": {"id": 42, "slug": "ops"}}],
                    }
                ],
            },
            f"/{REPO}/environments/reclaim-apply/deployment-branch-policies": {
                "total_count": 1,
                "branch_policies": [{"id": 7, "name": "feature/*", "type": "branch"}],
            },
        }
    )
    with _serve(fake) as (url, _):
        config = tmp_path / "reclaim.yml"
        config.write_text(
            "version: 1\naccounts:\n  - id: '222222222222'\n    name: prod\n"
            "    role_arn: arn:aws:iam::222222222222:role/reclaim-remediation\n"
            "    scan_role_arn: arn:aws:iam::222222222222:role/reclaim-scan\n"
            "    external_id_env: RECLAIM_EXTERNAL_ID_PROD\n"
            f"forge:\n  type: github\n  repository: acme/cost\n  api_url: {url}\n"
        )
        fake.answers["/orgs/acme/teams/ops"] = {"id": 42, "slug": "ops"}
        fake.answers["/users/alice"] = {"id": 7, "login": "alice"}
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
        writes = [(m, p, b) for m, p, b in fake.requests if m != "GET"]
        assert writes[0] == (
            "PUT",
            f"/{REPO}/actions/oidc/customization/sub",
            {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]},
        )
        branch_policy = {"protected_branches": False, "custom_branch_policies": True}
        assert (
            "PUT",
            f"/{REPO}/environments/reclaim-scan",
            {"deployment_branch_policy": branch_policy},
        ) in writes
        # the approvers given, by the IDs GitHub has for them
        assert (
            "PUT",
            f"/{REPO}/environments/reclaim-apply",
            {
                "deployment_branch_policy": branch_policy,
                "reviewers": [{"type": "Team", "id": 42}, {"type": "User", "id": 7}],
                "prevent_self_review": True,
            },
        ) in writes
        assert (
            "set on GitHub: environment reclaim-apply: required reviewers @acme/ops, @alice"
            in result.output
        )
        for environment in ("reclaim-scan", "reclaim-apply"):
            listed = fake.answers[f"/{REPO}/environments/{environment}/deployment-branch-policies"]
            assert [p["name"] for p in listed["branch_policies"]] == ["main"]
        assert (
            "DELETE",
            f"/{REPO}/environments/reclaim-apply/deployment-branch-policies/7",
            None,
        ) in writes
        assert "set on GitHub: OIDC subject template" in result.output
        assert "customization/sub" not in result.output  # not printed as a command any more
        assert (
            "gh secret set RECLAIM_EXTERNAL_ID_PROD --repo acme/cost --env reclaim-apply"
            in result.output
        )
        options = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
        from generator.pipeline.init import load_fleet

        fleet, _ = load_fleet(tmp_path, options, None)
        checks = {c.what: c.ok for c in check_github(options, fleet, http_getter(url, TOKEN))}
        assert checks["OIDC subject template"] and checks["environment reclaim-scan: branches"]
        assert checks["environment reclaim-apply: branches"]
        assert not checks["environment reclaim-scan: secrets"]  # values only a person has


def test_a_refused_token_is_a_clear_error_after_the_files_are_written(tmp_path: Path) -> None:
    fake = FakeGitHub({})
    with _serve(fake) as (url, _):
        (tmp_path / "reclaim.yml").write_text(
            "version: 1\naccounts:\n  - id: '222222222222'\n    name: prod\n"
            "    role_arn: arn:aws:iam::222222222222:role/reclaim-remediation\n"
            f"forge:\n  type: github\n  repository: acme/cost\n  api_url: {url}\n"
        )
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


def test_reviewers_already_set_are_kept_when_init_sets_the_branch_policy() -> None:
    from generator.pipeline.setup_steps import apply_settings, http_requester

    rules = [
        {
            "type": "required_reviewers",
            "prevent_self_review": False,
            "reviewers": [{"type": "User", "reviewer": {"id": 9, "login": "bo"}}],
        },
        {"type": "wait_timer", "wait_timer": 30},
    ]
    fake = FakeGitHub(
        {
            f"/{REPO}/environments/reclaim-apply": {
                "name": "reclaim-apply",
                "protection_rules": rules,
            }
        }
    )
    with _serve(fake) as (url, _):
        options = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
        apply_settings(options, http_requester(url, TOKEN))
    (put,) = [b for m, p, b in fake.requests if m == "PUT" and p.endswith("/reclaim-apply")]
    assert put == {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        "reviewers": [{"type": "User", "id": 9}],
        "prevent_self_review": False,
        "wait_timer": 30,
    }


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
