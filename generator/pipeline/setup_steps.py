"""What `reclaim init` cannot write into the repository: GitHub settings, as exact commands.

The roles' trust depends on settings Terraform in the AWS accounts cannot make: the
repository's OIDC subject template (without it no job presents a subject either role trusts:
the pipeline fails closed), the two environments admitting only the default branch, the
ExternalIds as secrets of those environments (a repository secret is readable by any
branch's workflow), the GitHub App that opens pull requests which trigger `reclaim validate`,
and branch protection requiring that check. Each is printed as a `gh` command with its body.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from generator.errors import ForgeError
from generator.pipeline.spec import OIDC_CLAIM_KEYS, Fleet, PipelineOptions

VALIDATE_CHECK = "Validate remediations"
"""The validate job's name: the status check branch protection requires."""


@dataclass(frozen=True)
class SetupStep:
    why: str
    commands: tuple[str, ...]
    applied_by_token: bool = False
    """`reclaim init --github-token` does this step itself (apply_settings)."""


def _api(method: str, path: str, body: object) -> str:
    text = json.dumps(body, separators=(",", ":"))
    return f"echo '{text}' | gh api -X {method} {path} --input -"


def environment_body() -> dict[str, object]:
    """The environment: only branches matching a custom policy (the default branch) deploy."""
    return {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}
    }


def oidc_template_body() -> dict[str, object]:
    return {"use_default": False, "include_claim_keys": list(OIDC_CLAIM_KEYS)}


def reviewer_lookup(approver: str) -> tuple[str, str]:
    """(reviewer type, API path whose `id` is the reviewer's ID) of @user or @org/team."""
    name = approver.removeprefix("@")
    if "/" in name:
        org, team = name.split("/", 1)
        return "Team", f"orgs/{org}/teams/{team}"
    return "User", f"users/{name}"


def reviewers_step(options: PipelineOptions) -> SetupStep:
    repo = f"repos/{options.repository}"
    path = f"{repo}/environments/{options.environment}"
    if not options.approvers:
        return SetupStep(
            f"required reviewers of {options.environment}, who approve every apply and "
            "rollback run: re-run `reclaim init --approver @org/team` (or @user), which "
            "prints the command, or sets it with --github-token",
            (),
        )
    entries = ",".join(
        f'{{"type":"{kind}","id":\'"$(gh api {lookup} --jq .id)"\'}}'
        for kind, lookup in map(reviewer_lookup, options.approvers)
    )
    policy = json.dumps(environment_body()["deployment_branch_policy"], separators=(",", ":"))
    body = (
        f'{{"deployment_branch_policy":{policy},"prevent_self_review":true,'
        f'"reviewers":[{entries}]}}'
    )
    return SetupStep(
        f"required reviewers of {options.environment} ({', '.join(options.approvers)}), who "
        "approve every apply and rollback run",
        (f"echo '{body}' | gh api -X PUT {path} --input -",),
        applied_by_token=True,
    )


def setup_steps(options: PipelineOptions, fleet: Fleet) -> list[SetupStep]:
    repo = f"repos/{options.repository}"
    branch = options.default_branch
    steps = [
        SetupStep(
            "OIDC subjects that name the workflow file and branch (both roles trust only "
            "these; until this is set, no job can assume either role)",
            (_api("PUT", f"{repo}/actions/oidc/customization/sub", oidc_template_body()),),
            applied_by_token=True,
        )
    ]
    for environment, purpose in (
        (options.scan_environment, "scan and propose"),
        (options.environment, "apply and rollback"),
    ):
        steps.append(
            SetupStep(
                f"the environment {environment} ({purpose}), admitting only {branch}",
                (
                    _api(
                        "PUT",
                        f"{repo}/environments/{environment}",
                        environment_body(),
                    ),
                    _api(
                        "POST",
                        f"{repo}/environments/{environment}/deployment-branch-policies",
                        {"name": branch, "type": "branch"},
                    ),
                ),
                applied_by_token=True,
            )
        )
    steps.append(reviewers_step(options))
    secrets = [
        f"gh secret set {name} --repo {options.repository} --env {environment}"
        for name in fleet.external_id_envs
        for environment in (options.scan_environment, options.environment)
    ]
    if secrets:
        steps.append(
            SetupStep(
                "each account's ExternalId, as a secret of both environments (the value "
                "you gave Terraform as external_id; never a repository secret)",
                tuple(secrets),
            )
        )
    steps.append(
        SetupStep(
            "a GitHub App (contents, pull requests and issues: write) whose token opens the "
            "pull requests, so that they trigger the validate check (the workflow's own "
            "token's do not); its key is a secret of the scan environment only",
            (
                f"gh variable set RECLAIM_GITHUB_APP_ID --repo {options.repository} --body APP_ID",
                f"gh variable set RECLAIM_GITHUB_APP_INSTALLATION_ID --repo {options.repository}"
                " --body INSTALLATION_ID",
                f"gh secret set RECLAIM_GITHUB_APP_PRIVATE_KEY --repo {options.repository} "
                f"--env {options.scan_environment} < app-private-key.pem",
            ),
        )
    )
    steps.append(
        SetupStep(
            f"branch protection of {branch}: the validate check must pass and a review "
            "approve before a merge",
            (
                _api(
                    "PUT",
                    f"{repo}/branches/{branch}/protection",
                    {
                        "required_status_checks": {"strict": True, "contexts": [VALIDATE_CHECK]},
                        "enforce_admins": True,
                        "required_pull_request_reviews": {
                            "require_code_owner_reviews": True,
                            "required_approving_review_count": 1,
                        },
                        "restrictions": None,
                    },
                ),
            ),
        )
    )
    return steps


Request = Callable[[str, str, object | None], tuple[int, Any]]
"""(method, API path, JSON body) → (status, decoded JSON or None)."""


def http_requester(api_url: str, token: str) -> Request:
    def request(method: str, path: str, body: object | None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        sent = urllib.request.Request(
            f"{api_url.rstrip('/')}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(sent, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, None

    return request


def _keeping_rules(status: int, existing: Any) -> dict[str, object]:
    """The PUT body: the default-branch policy, and the reviewers, wait timer and
    self-review setting the environment already has (a PUT replaces them all)."""
    body = environment_body()
    if status != 200 or not isinstance(existing, dict):
        return body
    for rule in existing.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers" and rule.get("reviewers"):
            body["reviewers"] = [
                {"type": r["type"], "id": r["reviewer"]["id"]} for r in rule["reviewers"]
            ]
            if "prevent_self_review" in rule:
                body["prevent_self_review"] = rule["prevent_self_review"]
        if rule.get("type") == "wait_timer" and rule.get("wait_timer"):
            body["wait_timer"] = rule["wait_timer"]
    return body


def apply_settings(options: PipelineOptions, request: Request) -> list[str]:
    """Set what a token can set without knowing anything init does not: the OIDC subject
    template and both environments' default-branch policy. Returns what was done. Reviewers,
    secrets, the App and branch protection need IDs, values or a merge with existing rules:
    those stay printed commands. Raises ForgeError when GitHub refuses."""
    repo = f"repos/{options.repository}"
    done = []

    def call(method: str, path: str, body: object | None) -> Any:
        status, answer = request(method, path, body)
        if status >= 300:
            raise ForgeError(
                f"GitHub answered {status} to {method} {path}",
                hint="the token needs administration write on the repository (and the "
                "environments feature: a public repository, or a plan that has it)",
            )
        return answer

    call("PUT", f"{repo}/actions/oidc/customization/sub", oidc_template_body())
    done.append("OIDC subject template: repo, context, job_workflow_ref")
    reviewers = []
    for approver in options.approvers:
        kind, lookup = reviewer_lookup(approver)
        reviewers.append({"type": kind, "id": call("GET", lookup, None)["id"]})
    for environment in (options.scan_environment, options.environment):
        status, existing = request("GET", f"{repo}/environments/{environment}", None)
        body = _keeping_rules(status, existing)
        if environment == options.environment and reviewers:
            body.update(reviewers=reviewers, prevent_self_review=True)
        call("PUT", f"{repo}/environments/{environment}", body)
        listed = call("GET", f"{repo}/environments/{environment}/deployment-branch-policies", None)
        policies = (listed or {}).get("branch_policies", [])
        for policy in policies:
            if policy.get("name") != options.default_branch:
                call(
                    "DELETE",
                    f"{repo}/environments/{environment}/deployment-branch-policies/{policy['id']}",
                    None,
                )
        if not any(p.get("name") == options.default_branch for p in policies):
            call(
                "POST",
                f"{repo}/environments/{environment}/deployment-branch-policies",
                {"name": options.default_branch, "type": "branch"},
            )
        done.append(f"environment {environment}: deploys only from {options.default_branch}")
    if reviewers:
        done.append(
            f"environment {options.environment}: required reviewers {', '.join(options.approvers)}"
        )
    return done
