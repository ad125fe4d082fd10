"""`reclaim doctor`: check a live setup against what `reclaim init` generated, and say what is
wrong with its fix.

AWS (with credentials of the service account that may read IAM): GitHub's OIDC provider and
its audience; each hop-1 role's trust (the provider, the audience, exactly its subjects, no
wildcard) and that it may assume only its own hop-2 roles. GitHub (with a token that may read
the repository's administration): the OIDC subject template, both environments' branch
policies, reviewers on the approval environment, secrets where the jobs read them (names
only: ExternalIds in both environments and not in the repository), the App for propose,
branch protection requiring the validate check, and whether it requires the reclaim/fresh
status (and, if so, whether scans run often enough for forge.max_evidence_age_hours). The
customer accounts' roles are checked by `terraform plan` in each account (doctor has no
credentials there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rich.console import Console

from generator.config import load_config
from generator.errors import ConfigError
from generator.pipeline.setup_steps import VALIDATE_CHECK, http_requester, list_all, setup_steps
from generator.pipeline.spec import OIDC_CLAIM_KEYS, Fleet, PipelineOptions

OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
APP_KEY = "RECLAIM_GITHUB_APP_PRIVATE_KEY"


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""
    fix: str = ""


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded JSON (boto3 decodes them; raw APIs do not)."""
    if isinstance(value, str):
        return dict(json.loads(unquote(value)))
    return dict(value)


def _fix_terraform(options: PipelineOptions) -> str:
    return f"terraform apply {options.terraform_dir}/service-role in {options.service_account_id}"


def _trust_problems(
    trust: dict[str, Any], provider: str | None, subjects: Iterable[str]
) -> list[str]:
    problems = []
    expected = sorted(subjects)
    statements = trust.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = _list(statement.get("Principal", {}).get("Federated"))
        if provider and principal != [provider]:
            problems.append(f"trusts {principal or statement.get('Principal')}, not {provider}")
        conditions = statement.get("Condition", {})
        for test in conditions:
            if test not in ("StringEquals",):
                problems.append(f"a {test} condition (wildcards admit other workflows)")
        equals = conditions.get("StringEquals", {})
        if _list(equals.get(f"{OIDC_HOST}:aud")) != [AUDIENCE]:
            problems.append(f"audience is {_list(equals.get(f'{OIDC_HOST}:aud'))}, not {AUDIENCE}")
        actual = sorted(_list(equals.get(f"{OIDC_HOST}:sub")))
        if actual != expected:
            extra = sorted(set(actual) - set(expected))
            missing = sorted(set(expected) - set(actual))
            problems.append(f"subjects differ: extra {extra}, missing {missing}")
    if not statements:
        problems.append("no statement")
    return problems


def check_aws(options: PipelineOptions, fleet: Fleet, iam: Any) -> list[Check]:
    checks = []
    providers = [
        p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    ]
    provider = next((arn for arn in providers if arn.endswith(f"/{OIDC_HOST}")), None)
    if provider is None:
        checks.append(
            Check(
                "GitHub OIDC provider",
                False,
                f"no provider for {OIDC_HOST}",
                _fix_terraform(options),
            )
        )
    else:
        audiences = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)[
            "ClientIDList"
        ]
        ok = AUDIENCE in audiences
        checks.append(
            Check(
                "GitHub OIDC provider",
                ok,
                f"{provider}, audiences {audiences}",
                "" if ok else f"add the audience {AUDIENCE} ({_fix_terraform(options)})",
            )
        )
    for label, name, subjects, may_assume in (
        (
            "scan role (hop 1)",
            options.scan_service_role_name,
            options.scan_subjects,
            fleet.scan_role_arns(options.customer_scan_role_name),
        ),
        (
            "write role (hop 1)",
            options.service_role_name,
            options.write_subjects,
            fleet.customer_role_arns,
        ),
    ):
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            checks.append(Check(label, False, f"no role {name}", _fix_terraform(options)))
            continue
        problems = _trust_problems(_document(role["AssumeRolePolicyDocument"]), provider, subjects)
        checks.append(
            Check(
                f"{label} trust",
                not problems,
                "; ".join(problems) or f"{name}: exactly {len(tuple(subjects))} subject(s)",
                _fix_terraform(options) if problems else "",
            )
        )
        granted: set[str] = set()
        actions: set[str] = set()
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = _document(
                iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            )
            for statement in document.get("Statement", []):
                if statement.get("Effect") == "Allow":
                    actions |= set(_list(statement.get("Action")))
                    granted |= set(_list(statement.get("Resource")))
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        problems = []
        if attached:
            problems.append(f"managed policies attached: {[p['PolicyName'] for p in attached]}")
        if not actions <= {"sts:AssumeRole", "sts:SetSourceIdentity"}:
            problems.append(
                f"allows {sorted(actions - {'sts:AssumeRole', 'sts:SetSourceIdentity'})}"
            )
        if granted != set(may_assume):
            problems.append(f"may assume {sorted(granted)}, expected exactly {sorted(may_assume)}")
        checks.append(
            Check(
                f"{label} permissions",
                not problems,
                "; ".join(problems) or "assumes only its own hop-2 roles",
                _fix_terraform(options) if problems else "",
            )
        )
    return checks


Getter = Callable[[str], tuple[int, Any]]
"""GET a GitHub API path: (status, decoded JSON or None)."""


def http_getter(api_url: str, token: str) -> Getter:
    request = http_requester(api_url, token)
    return lambda path: request("GET", path, None)


def _commands(options: PipelineOptions, fleet: Fleet, word: str) -> str:
    for step in setup_steps(options, fleet):
        if word in step.why:
            return " && ".join(step.commands) or step.why
    return ""


def check_github(
    options: PipelineOptions, fleet: Fleet, get: Getter, *, max_evidence_age_hours: int = 24
) -> list[Check]:
    repo = f"repos/{options.repository}"
    checks = []
    status, template = get(f"{repo}/actions/oidc/customization/sub")
    ok = (
        status == 200
        and not template.get("use_default", True)
        and list(template.get("include_claim_keys", [])) == list(OIDC_CLAIM_KEYS)
    )
    checks.append(
        Check(
            "OIDC subject template",
            ok,
            f"{template}" if status == 200 else f"HTTP {status}",
            "" if ok else _commands(options, fleet, "OIDC subjects"),
        )
    )
    for environment, needs_reviewers in (
        (options.scan_environment, False),
        (options.environment, True),
    ):
        status, body = get(f"{repo}/environments/{environment}")
        if status != 200:
            checks.append(
                Check(
                    f"environment {environment}",
                    False,
                    f"HTTP {status}",
                    _commands(options, fleet, f"the environment {environment}"),
                )
            )
            continue
        policy = body.get("deployment_branch_policy") or {}
        branches: list[str] = []
        if policy.get("custom_branch_policies"):
            _, policies = list_all(
                get,
                f"{repo}/environments/{environment}/deployment-branch-policies",
                "branch_policies",
            )
            branches = [p["name"] for p in policies]
        ok = branches == [options.default_branch]
        checks.append(
            Check(
                f"environment {environment}: branches",
                ok,
                f"deploys from {branches or 'any branch'}",
                "" if ok else _commands(options, fleet, f"the environment {environment}"),
            )
        )
        if needs_reviewers:
            reviewers = [
                rule
                for rule in body.get("protection_rules", [])
                if rule.get("type") == "required_reviewers" and rule.get("reviewers")
            ]
            checks.append(
                Check(
                    f"environment {environment}: required reviewers",
                    bool(reviewers),
                    f"{sum(len(r['reviewers']) for r in reviewers)} reviewer(s)",
                    "" if reviewers else _commands(options, fleet, "required reviewers"),
                )
            )
        _, secrets = list_all(get, f"{repo}/environments/{environment}/secrets", "secrets")
        names = {s["name"] for s in secrets}
        wanted = set(fleet.external_id_envs) | (
            {APP_KEY} if environment == options.scan_environment else set()
        )
        missing = sorted(wanted - names)
        checks.append(
            Check(
                f"environment {environment}: secrets",
                not missing,
                f"missing {missing}" if missing else f"{sorted(wanted)} present",
                " && ".join(
                    f"gh secret set {name} --repo {options.repository} --env {environment}"
                    for name in missing
                ),
            )
        )
    _, secrets = list_all(get, f"{repo}/actions/secrets", "secrets")
    exposed = sorted({s["name"] for s in secrets} & (set(fleet.external_id_envs) | {APP_KEY}))
    checks.append(
        Check(
            "no ExternalId or App key as a repository secret",
            not exposed,
            f"repository secrets readable from any branch: {exposed}" if exposed else "none",
            " && ".join(f"gh secret delete {n} --repo {options.repository}" for n in exposed),
        )
    )
    _, listed = list_all(get, f"{repo}/actions/variables", "variables", per_page=30)
    variables = {v["name"] for v in listed}
    app = {"RECLAIM_GITHUB_APP_ID", "RECLAIM_GITHUB_APP_INSTALLATION_ID"}
    checks.append(
        Check(
            "GitHub App for propose",
            app <= variables,
            f"missing variables {sorted(app - variables)}" if not app <= variables else "set",
            "" if app <= variables else _commands(options, fleet, "GitHub App"),
        )
    )
    status, protection = get(f"{repo}/branches/{options.default_branch}/protection")
    contexts: list[str] = []
    if status == 200:
        required = protection.get("required_status_checks") or {}
        # `contexts` is the older list of `checks`' names: GitHub answers both
        contexts = sorted(
            {
                *required.get("contexts", []),
                *(c.get("context", "") for c in required.get("checks", [])),
            }
        )
    ok = VALIDATE_CHECK in contexts
    checks.append(
        Check(
            f"branch protection of {options.default_branch}",
            ok,
            f"required checks {contexts}" if status == 200 else f"HTTP {status}",
            "" if ok else _commands(options, fleet, "branch protection"),
        )
    )
    checks.append(fresh_check(options, contexts, status == 200, max_evidence_age_hours))
    return checks


def fresh_check(
    options: PipelineOptions, contexts: list[str], protected: bool, max_age_hours: int
) -> Check:
    """Whether merging waits for a recent re-check: branch protection requiring the
    reclaim/fresh status, and scans run at least every max_evidence_age_hours."""
    from generator.pipeline.cron import longest_gap
    from generator.pipeline.freshness import CONTEXT

    required = protected and CONTEXT in contexts
    gap = longest_gap(options.scan_cron)
    cadence = (
        f"scans {options.scan_cron!r} run up to {gap.total_seconds() / 3600:.0f} h apart"
        if gap is not None
        else f"cannot tell how far apart {options.scan_cron!r} runs"
    )
    limit = f"forge.max_evidence_age_hours {max_age_hours}"
    if not required:
        return Check(
            f"{CONTEXT} status",
            True,
            f"not required by branch protection of {options.default_branch} (optional: a PR "
            f"can be merged without a recent re-check); {cadence}, {limit}",
        )
    ok = gap is not None and gap.total_seconds() <= max_age_hours * 3600
    return Check(
        f"{CONTEXT} status",
        ok,
        f"required by branch protection of {options.default_branch}; {cadence}, {limit}",
        ""
        if ok
        else "scan more often (`reclaim init --scan-cron ...`, e.g. '23 6 * * *'), or raise "
        "forge.max_evidence_age_hours in reclaim.yml to what the schedule gives",
    )


def check_files(root: Path, options: PipelineOptions) -> Check:
    """The workflows and Terraform are what `reclaim init` generates from reclaim.yml now
    (an edited trust policy or workflow is a setup problem too)."""
    from generator.pipeline.init import plan_init
    from generator.pipeline.writer import Action

    report = plan_init(root, options, None, force=False)
    changed = [c.generated.path for c in report.changes if c.action is not Action.UNCHANGED]
    return Check(
        "generated files",
        not changed,
        f"differ from what init generates: {', '.join(changed)}" if changed else "up to date",
        "reclaim init (it shows each diff; commit the result)" if changed else "",
    )


class SetupProblems(ConfigError):
    """doctor found something wrong; each line says what and how to fix it."""


def print_checks(checks: list[Check], out: Console) -> None:
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {check.what}: ", end="", highlight=False)
        out.print(check.detail, markup=False, highlight=False)
        if not check.ok and check.fix:
            out.print("      fix: ", end="", highlight=False)
            out.print(check.fix, markup=False, highlight=False, soft_wrap=True)


def doctor_command(
    root: Path,
    *,
    github_token: str | None,
    aws: bool,
    out: Console,
    iam: Any = None,
    api_url: str | None = None,
) -> list[Check]:
    from generator.pipeline.cli_support import build_options
    from generator.pipeline.init import load_fleet

    options = build_options(root, {})
    fleet, _ = load_fleet(root, options, None)
    checks: list[Check] = [check_files(root, options)]
    if aws:
        if iam is None:
            from generator.aws.session import new_session

            iam = new_session().client("iam")
        checks += check_aws(options, fleet, iam)
    else:
        out.print("AWS: not checked (--no-aws)", highlight=False)
    if github_token:
        config = load_config(root / options.config_file)
        if api_url is None:
            api_url = config.forge.api_url if config.forge else "https://api.github.com"
        checks += check_github(
            options,
            fleet,
            http_getter(api_url, github_token),
            max_evidence_age_hours=config.forge.max_evidence_age_hours,
        )
    else:
        out.print(
            "GitHub: not checked (give --github-token, or RECLAIM_DOCTOR_TOKEN, of someone who "
            "may read the repository's settings)",
            highlight=False,
        )
    print_checks(checks, out)
    failed = [c.what for c in checks if not c.ok]
    if failed:
        raise SetupProblems(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return checks
