"""The generated workflows: least privilege, pinned actions, no injection, and three linters."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.pipeline.actions import ACTIONS
from generator.pipeline.render import render_workflows
from generator.pipeline.spec import Fleet, PipelineOptions
from tests.pipeline.oidc import Job
from tests.pipeline.tools import run, tool

WORKFLOWS = ("reclaim-scan", "reclaim-validate", "reclaim-apply", "reclaim-rollback")
AWS_ACTION = ACTIONS["configure_aws_credentials"].repository
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w.-]+)*@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(rendered: Path, name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; GitHub reads it as "on".
    data: dict[Any, Any] = yaml.safe_load((rendered / f".github/workflows/{name}.yml").read_text())
    data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (job_id, job, step) for job_id, job in workflow["jobs"].items() for step in job["steps"]
    ]


def test_every_action_is_pinned_by_commit(rendered: Path, options: PipelineOptions) -> None:
    for name in WORKFLOWS:
        text = (rendered / f".github/workflows/{name}.yml").read_text()
        for line in re.findall(r"(?m)^\s*(?:- )?uses: (.*)", text):
            # reclaim's own action is named by the commit init chose (no tag to name)
            assert _PINNED.match(line) or line == options.action, line
    assert re.fullmatch(r"reclaim-dev/reclaim@[0-9a-f]{40}", options.action)


def test_every_job_that_runs_reclaim_installs_it_from_the_pinned_action(
    rendered: Path, options: PipelineOptions
) -> None:
    """And nothing is pip-installed by name: the action installs from its own checkout and
    the hash-locked lock file (what it does is run by the harness, test_install.py)."""
    for name in WORKFLOWS:
        for job_id, job in load(rendered, name)["jobs"].items():
            runs = [step.get("run", "") for step in job["steps"]]
            assert not any("pip " in run or "pip3 " in run for run in runs), job_id
            uses = [step.get("uses", "") for step in job["steps"]]
            if not any(re.search(r"(^|\s)reclaim ", run) for run in runs):
                assert options.action not in uses, job_id
                continue
            install = uses.index(options.action)
            python = next(i for i, u in enumerate(uses) if u.startswith("actions/setup-python@"))
            first_reclaim = next(
                i for i, step in enumerate(job["steps"]) if "reclaim " in step.get("run", "")
            )
            assert python < install < first_reclaim, job_id
            assert "with" not in job["steps"][install]  # PyPI: no index-url given


@pytest.mark.parametrize("name", WORKFLOWS)
def test_least_permissions_and_oidc_only_where_aws_is_reached(rendered: Path, name: str) -> None:
    workflow = load(rendered, name)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        uses_aws = any(AWS_ACTION in step.get("uses", "") for step in job["steps"])
        assert ("id-token" in job["permissions"]) is uses_aws, job_id
        assert "write-all" not in str(job["permissions"])
        if uses_aws:
            assert job["permissions"]["id-token"] == "write"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_expression_inside_a_run_script(rendered: Path, name: str) -> None:
    for job_id, _job, step in steps(load(rendered, name)):
        assert "${{" not in step.get("run", ""), (job_id, step.get("name"))


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_checkout_keeps_credentials_nor_checks_out_pull_request_code(
    rendered: Path, name: str
) -> None:
    for _job_id, _job, step in steps(load(rendered, name)):
        if "actions/checkout@" in step.get("uses", ""):
            assert step["with"]["persist-credentials"] is False
            assert step["with"].get("ref", "main") == "main"


def test_jobs_with_credentials_run_in_the_environment_of_the_role_they_assume(
    rendered: Path, options: PipelineOptions
) -> None:
    """The role each job assumes, its environment, and the subject GitHub would give it:
    exactly the jobs the role trusts, and no job of another branch."""
    assumed = {}
    for name in WORKFLOWS:
        for job_id, job in load(rendered, name)["jobs"].items():
            steps_ = [s for s in job["steps"] if AWS_ACTION in s.get("uses", "")]
            if not steps_:
                continue
            (step,) = steps_
            role = step["with"]["role-to-assume"]
            assumed[(name, job_id)] = (role, job.get("environment"))
            on_main = Job(options.repository, f"{name}.yml", environment=job.get("environment"))
            elsewhere = Job(
                options.repository,
                f"{name}.yml",
                ref="refs/heads/feature",
                environment=job.get("environment"),
            )
            trusted = {
                options.service_role_arn: options.write_subjects,
                options.scan_service_role_arn: options.scan_subjects,
            }
            for arn, subjects in trusted.items():
                assert (on_main.subject() in subjects) is (arn == role), (name, job_id, arn)
                assert elsewhere.subject() not in subjects
    assert assumed == {
        ("reclaim-scan", "scan"): (options.scan_service_role_arn, "reclaim-scan"),
        ("reclaim-scan", "fresh"): (options.scan_service_role_arn, "reclaim-scan"),
        ("reclaim-scan", "savings"): (options.scan_service_role_arn, "reclaim-scan"),
        ("reclaim-apply", "apply"): (options.service_role_arn, "reclaim-apply"),
        ("reclaim-apply", "restop"): (options.service_role_arn, "reclaim-apply"),
        ("reclaim-rollback", "rollback"): (options.service_role_arn, "reclaim-apply"),
    }


def test_secrets_are_read_only_by_jobs_of_an_environment(rendered: Path) -> None:
    """ExternalIds and the App's key are environment secrets: a job outside the environments
    (another branch's, the validate job, the gate) has no such secret to read."""
    for name in WORKFLOWS:
        for job_id, job in load(rendered, name)["jobs"].items():
            text = yaml.safe_dump(job)
            if "secrets." in text:
                assert job.get("environment") in ("reclaim-scan", "reclaim-apply"), job_id
    scan = load(rendered, "reclaim-scan")["jobs"]
    assert scan["propose"]["environment"] == "reclaim-scan"
    assert "RECLAIM_GITHUB_APP_PRIVATE_KEY" in yaml.safe_dump(scan["propose"])


def test_secrets_reach_only_the_steps_that_reach_aws_or_github(rendered: Path) -> None:
    for name in WORKFLOWS:
        for job_id, job, step in steps(load(rendered, name)):
            for key, value in (step.get("env") or {}).items():
                if "secrets." in str(value) and key.startswith("RECLAIM_EXTERNAL_ID"):
                    assert any(AWS_ACTION in s.get("uses", "") for s in job["steps"]), job_id


def test_triggers_environment_and_concurrency(rendered: Path) -> None:
    scan = load(rendered, "reclaim-scan")
    assert scan["on"]["schedule"] == [{"cron": "23 6 * * 1-5"}]
    assert "workflow_dispatch" in scan["on"]
    assert scan["jobs"]["scan"]["strategy"]["matrix"]["shard"] == [1, 2, 3]
    # propose (no AWS) waits for the shards' findings and the savings job's reading
    assert scan["jobs"]["propose"]["needs"] == ["scan", "savings"]
    assert scan["jobs"]["savings"]["permissions"] == {"contents": "read", "id-token": "write"}

    validate = load(rendered, "reclaim-validate")
    assert validate["on"] == {"pull_request": {"paths": ["remediations/**"]}}

    apply = load(rendered, "reclaim-apply")
    assert apply["on"] == {
        "push": {"branches": ["main"], "paths": ["remediations/**/plan.json"]},
        "schedule": [{"cron": "41 5 * * *"}],  # rds-idle/aurora-idle are on: the restop job
    }
    assert apply["concurrency"] == {"group": "reclaim-apply", "cancel-in-progress": False}
    assert apply["jobs"]["apply"]["environment"] == "reclaim-apply"
    assert apply["jobs"]["apply"]["if"] == "${{ github.event_name == 'push' }}"

    rollback = load(rendered, "reclaim-rollback")
    assert rollback["on"] == {"issue_comment": {"types": ["created"]}}
    assert "environment" not in rollback["jobs"]["gate"]
    assert rollback["jobs"]["rollback"]["environment"] == "reclaim-apply"
    assert rollback["jobs"]["rollback"]["needs"] == "gate"
    assert not any(AWS_ACTION in step.get("uses", "") for step in rollback["jobs"]["gate"]["steps"])


def test_the_restop_job_runs_only_on_schedule_in_the_apply_environment(rendered: Path) -> None:
    """AWS restarts a stopped database after 7 days. The daily re-stop needs the write role,
    so it lives in the apply workflow (the file the role trusts), behind the same
    environment and approval, and runs nothing but `reclaim restop-restarted`."""
    restop = load(rendered, "reclaim-apply")["jobs"]["restop"]
    assert restop["if"] == "${{ github.event_name == 'schedule' }}"
    assert restop["environment"] == "reclaim-apply"
    runs = [step["run"] for step in restop["steps"] if "run" in step]
    assert runs[0] == 'reclaim restop-restarted --config "$RECLAIM_CONFIG"'
    assert all("apply-merged" not in run for run in runs)


def test_without_a_database_rule_the_apply_workflow_has_no_schedule(
    tmp_path: Path, options: PipelineOptions, fleet: Fleet
) -> None:
    no_databases = replace(
        fleet,
        enabled_rules=tuple(r for r in fleet.enabled_rules if r not in {"rds-idle", "aurora-idle"}),
    )
    (tmp_path / ".github/workflows").mkdir(parents=True)
    for path, text in render_workflows(options, no_databases).items():
        (tmp_path / path).write_text(text)
    apply = load(tmp_path, "reclaim-apply")
    assert set(apply["on"]) == {"push"}
    assert set(apply["jobs"]) == {"apply"}


def test_no_workflow_can_be_called_or_chained_from_elsewhere(rendered: Path) -> None:
    """A reusable workflow's job carries the *called* file in job_workflow_ref: if the apply
    workflow were callable (workflow_call), a branch's workflow could call it at main and
    present the write role's subject. None is, and none runs on another workflow's or a
    fork's behalf."""
    for name in WORKFLOWS:
        triggers = set(load(rendered, name)["on"])
        assert not triggers & {"workflow_call", "workflow_run", "pull_request_target"}, name


def test_zizmor_reports_nothing(rendered: Path) -> None:
    zizmor = tool("zizmor")
    result = run([*zizmor, "--offline", "--persona", "pedantic", ".github/workflows"], rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_sees_injection_when_there_is_one(rendered: Path, tmp_path: Path) -> None:
    """The audit is real: the same workflow with the comment body in a run script fails."""
    zizmor = tool("zizmor")
    text = (rendered / ".github/workflows/reclaim-rollback.yml").read_text()
    broken = text.replace(
        'run: reclaim gate-rollback --config "$RECLAIM_CONFIG"',
        'run: echo "${{ github.event.comment.body }}"; reclaim gate-rollback --config x',
    )
    assert broken != text
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/reclaim-rollback.yml").write_text(broken)
    result = run([*zizmor, "--offline", ".github/workflows"], tmp_path)
    assert result.returncode != 0 and "template-injection" in result.stdout


def test_actionlint_is_clean(rendered: Path, tmp_path: Path) -> None:
    actionlint = tool("actionlint")
    result = run([*actionlint, str(rendered / ".github/workflows/*.yml")], rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed lint checks" in result.stdout
    # and it would say so if it were not
    broken = tmp_path / "broken.yml"
    text = (rendered / ".github/workflows/reclaim-apply.yml").read_text()
    broken.write_text(text.replace("needs.gate", "needz.gate").replace("runs-on:", "runs-onn:", 1))
    assert run([*actionlint, str(broken)], tmp_path).returncode != 0


def test_check_jsonschema_accepts_the_workflows(rendered: Path) -> None:
    checker = tool("check-jsonschema")
    files = [str(p) for p in sorted((rendered / ".github/workflows").glob("*.yml"))]
    result = run([*checker, "--builtin-schema", "vendor.github-workflows", *files], rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_the_workflows(rendered: Path, tmp_path: Path) -> None:
    checkov = tool("checkov")
    shutil.copytree(rendered / ".github", tmp_path / ".github")
    result = run(
        [
            *checkov,
            "--skip-download",
            "--quiet",
            "--compact",
            "-d",
            ".",
            "--framework",
            "github_actions",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_codeowners_names_each_accounts_owners_for_its_folders(rendered: Path) -> None:
    lines = (rendered / ".github/CODEOWNERS").read_text().splitlines()
    assert "/remediations/ebs-unattached-222222222222-*/ @acme/prod-oncall" in lines
    assert not any("/*-" in line for line in lines)  # anchored at the rule: see codeowners.py
    assert not any("333333333333" in line for line in lines)  # dev names no owners
    assert lines[0].startswith("# BEGIN reclaim") and lines[-1] == "# END reclaim"


# ---- code scanning: opt-in, one job with security-events: write --------------------------


@pytest.fixture(scope="module")
def scanning(
    tmp_path_factory: pytest.TempPathFactory, options: PipelineOptions, fleet: Fleet
) -> Path:
    root = tmp_path_factory.mktemp("code-scanning")
    with_upload = options.model_copy(update={"code_scanning": True})
    for path, content in render_workflows(with_upload, fleet).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return root


def test_code_scanning_is_off_by_default(rendered: Path) -> None:
    text = (rendered / ".github/workflows/reclaim-scan.yml").read_text()
    assert "security-events" not in text and "upload-sarif" not in text
    assert "reclaim sarif" not in text


def test_the_scan_writes_the_job_summary_itself(rendered: Path) -> None:
    (scan_step,) = [
        step
        for step in load(rendered, "reclaim-scan")["jobs"]["scan"]["steps"]
        if "reclaim scan" in step.get("run", "")
    ]
    assert "GITHUB_STEP_SUMMARY" not in scan_step["run"]  # reclaim appends to it: not twice
    assert "--format" not in scan_step["run"]


def test_only_the_code_scanning_job_may_write_security_events(scanning: Path) -> None:
    workflow = load(scanning, "reclaim-scan")
    writers = [
        job_id
        for job_id, job in workflow["jobs"].items()
        if "security-events" in job.get("permissions", {})
    ]
    assert writers == ["code-scanning"]
    job = workflow["jobs"]["code-scanning"]
    assert job["permissions"] == {"contents": "read", "security-events": "write"}
    assert "environment" not in job  # no secret, no AWS: it uploads one file
    assert not any(AWS_ACTION in step.get("uses", "") for step in job["steps"])
    (upload,) = [s for s in job["steps"] if "upload-sarif" in s.get("uses", "")]
    assert upload["uses"] == ACTIONS["upload_sarif"].uses.split(" # ")[0]
    assert upload["with"] == {"sarif_file": "reclaim.sarif", "category": "reclaim"}
    text = (scanning / ".github/workflows/reclaim-scan.yml").read_text()
    assert _PINNED.match(re.findall(r"uses: (github/codeql-action.*)", text)[0])


def test_only_a_complete_scan_is_uploaded(scanning: Path) -> None:
    """A scan with errors misses the findings of the units it did not reach; uploading it
    would close their alerts as fixed."""
    workflow = load(scanning, "reclaim-scan")
    propose = {s.get("id"): s for s in workflow["jobs"]["propose"]["steps"] if s.get("id")}
    assert "if" not in propose["merge"]  # exit code 1 when a shard or unit failed
    assert "steps.merge.outcome == 'success'" in propose["sarif"]["if"]
    assert propose["sarif"]["run"].startswith("reclaim sarif ")
    assert "steps.sarif.outcome == 'success'" in propose["sarif-upload"]["if"]
    assert workflow["jobs"]["propose"]["outputs"] == {"sarif": "${{ steps.sarif-upload.outcome }}"}
    job = workflow["jobs"]["code-scanning"]
    assert job["needs"] == "propose"
    assert "needs.propose.outputs.sarif == 'success'" in job["if"]


def test_the_code_scanning_workflow_passes_the_linters(scanning: Path, tmp_path: Path) -> None:
    files = [str(p) for p in sorted((scanning / ".github/workflows").glob("*.yml"))]
    zizmor = tool("zizmor")
    result = run([*zizmor, "--offline", "--persona", "pedantic", ".github/workflows"], scanning)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
    actionlint = tool("actionlint")
    result = run([*actionlint, str(scanning / ".github/workflows/*.yml")], scanning)
    assert result.returncode == 0, result.stdout + result.stderr
    checker = tool("check-jsonschema")
    result = run([*checker, "--builtin-schema", "vendor.github-workflows", *files], scanning)
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_is_installed_only_when_iac_names_terraform_roots(
    rendered: Path, options: PipelineOptions, fleet: Fleet, tmp_path: Path
) -> None:
    text = (rendered / ".github/workflows/reclaim-apply.yml").read_text()
    assert "setup-terraform" not in text and "iac.json" not in text
    for path, content in render_workflows(options, replace(fleet, terraform=True)).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    workflow = load(tmp_path, "reclaim-apply")
    # A merged code change (iac.json, no plan.json) triggers the apply workflow too.
    assert workflow["on"]["push"]["paths"] == [
        "remediations/**/plan.json",
        "remediations/**/iac.json",
    ]
    names = [step.get("name") for _, _, step in steps(workflow)]
    install = next(s for _, _, s in steps(workflow) if s.get("name") == "Install Terraform")
    assert install["uses"] == ACTIONS["setup_terraform"].uses.split(" # ")[0]
    assert install["with"] == {"terraform_wrapper": False}
    assert names.index("Install Terraform") < names.index(
        "Apply every merged plan without a journal"
    )
    text = (tmp_path / ".github/workflows/reclaim-apply.yml").read_text()
    assert _PINNED.match(re.findall(r"uses: (hashicorp/setup-terraform.*)", text)[0])
    # The rollback opens a rolled-back code change's follow-up PR: only then does its
    # step get the job's token.
    for directory, token in ((tmp_path, True), (rendered, False)):
        rollback = load(directory, "reclaim-rollback")
        (back,) = [s for _, _, s in steps(rollback) if s.get("name") == "Roll back from the backup"]
        assert ("GITHUB_TOKEN" in back["env"]) is token
    zizmor = tool("zizmor")
    result = run([*zizmor, "--offline", "--persona", "pedantic", ".github/workflows"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    actionlint = tool("actionlint")
    result = run([*actionlint, str(tmp_path / ".github/workflows/reclaim-apply.yml")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
