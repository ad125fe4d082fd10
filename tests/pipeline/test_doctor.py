"""`reclaim doctor`'s GitHub checks against a local API that answers as GitHub documents
(the AWS checks run against moto in test_terraform_apply.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
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


@pytest.fixture
def github(options: PipelineOptions, fleet: Fleet) -> Iterator[tuple[str, dict[str, Any]]]:
    answers = healthy(options, fleet)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = answers.get(self.path)
            authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            status = 401 if not authorized else 200 if body is not None else 404
            data = json.dumps(body if status == 200 else {"message": "Not Found"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", answers
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
