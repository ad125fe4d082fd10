"""Fresh before merge: the scheduled scan re-checks every open reclaim pull request.

A PR is reviewed days after the scan that opened it; by then the volume may be attached
again. So each scheduled run (read-only role, on the default branch) looks at every open
PR's resource again and sets a commit status, context ``reclaim/fresh``, on the PR's head:
"still idle as of <time>: pre-checks pass" or "changed as of <time>: <what>". Branch
protection can require it; `reclaim doctor` says whether it does.

What the check believes is what apply believes. The PR's branch name only locates the
folder, and its plan.json only says which resource to look at: the resource is observed
again through its rule with the default branch's reclaim.yml and state file, and the PR's
manifests must be exactly what that observation derives (and its README what reclaim
renders from them); then the plan's read-only pre-checks run. The status is set on the head
SHA whose files were checked, never on a branch name, so a push after the check has none.

The dry run cannot be part of it: DryRun asks AWS whether the caller may make the change,
and the scan's credentials may not (their session policy allows reads only). Apply runs it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from generator.config import ReclaimConfig
from generator.errors import ConfigError, ForgeError, ManifestError, PrecheckFailed, ReclaimError
from generator.executor.observe import ClientFor, Observer, RuleObserver, check_observed
from generator.executor.runner import run_prechecks
from generator.findings import Finding
from generator.folder_checks import load_checked
from generator.forge.base import branch_for
from generator.manifest.folder import JOURNAL_FILE, PLAN_FILE, README_FILE, ROLLBACK_FILE
from generator.manifest.models import Plan
from generator.pipeline.gitops import _auth_env, git

CONTEXT = "reclaim/fresh"
"""The commit status context branch protection can require."""
DESCRIPTION_LIMIT = 140  # GitHub refuses a longer status description (422)
BRANCH_PREFIX = branch_for("")

State = Literal["success", "failure", "error"]


@dataclass(frozen=True)
class Verdict:
    state: State
    """success: the finding holds; failure: it does not (changed, invalid); error: not
    checked (AWS or the role refused, the account is not configured)."""
    summary: str
    """One line without the plan ID, for the status description."""
    plan: Plan | None = None
    observed: Finding | None = None
    """The finding as observed now, when it still holds."""

    def description(self, as_of: datetime) -> str:
        lead = {"success": "still idle", "failure": "changed", "error": "not checked"}
        text = f"{lead[self.state]} as of {as_of:%Y-%m-%d %H:%M} UTC: {self.summary}"
        if len(text) <= DESCRIPTION_LIMIT:
            return text
        return text[: DESCRIPTION_LIMIT - 1].rstrip() + "…"


def _without_plan_id(message: str, plan_id: str) -> str:
    text = message.removeprefix(f"{plan_id}: ").split("\n", 1)[0]
    for tail in ("; nothing was changed", ", nothing was changed"):
        text = text.replace(tail, "")
    return text.strip().rstrip(":;,")


def recheck(
    path: Path, observer: Observer, client_for: Callable[[Plan], ClientFor], as_of: datetime
) -> Verdict:
    """Is the finding of the remediation folder at ``path`` still what its rule finds now?"""
    try:
        plan, rollback = load_checked(path)
    except ManifestError as error:
        return Verdict("failure", f"the folder is not reclaim's: {error.message}")
    try:
        clients = client_for(plan)
        observation = observer.observe(plan, clients, as_of)
        check_observed(plan, rollback, observation.finding)
        checks = run_prechecks(plan, clients)
    except PrecheckFailed as error:
        return Verdict("failure", _without_plan_id(error.message, plan.plan_id))
    except ConfigError as error:
        return Verdict("failure", _without_plan_id(error.message, plan.plan_id))
    except ReclaimError as error:
        return Verdict("error", _without_plan_id(error.message, plan.plan_id))
    except (BotoCoreError, ClientError) as error:
        return Verdict("error", f"AWS: {error}")
    summary = f"re-observed, {checks} pre-check(s) pass; dry run at apply"
    return Verdict("success", summary, plan, observation.finding)


@dataclass(frozen=True)
class OpenPull:
    number: int
    finding_id: str
    head_sha: str


def reclaim_pulls(repo: Any, base: str) -> list[OpenPull]:
    """Open PRs from this repository's reclaim/ branches into ``base`` (PyGithub)."""
    found = []
    for pull in repo.get_pulls(state="open", base=base, sort="created", direction="asc"):
        head = pull.head
        if not head.ref.startswith(BRANCH_PREFIX) or head.repo is None:
            continue
        if head.repo.full_name.lower() != repo.full_name.lower():
            continue  # a fork's branch named like reclaim's is not a proposal
        found.append(OpenPull(pull.number, head.ref.removeprefix(BRANCH_PREFIX), head.sha))
    return found


def _blob(checkout: Path, sha: str, path: str) -> bytes | None:
    """The exact bytes of ``path`` in commit ``sha``; None when it has no such file."""
    shown = subprocess.run(
        ["git", "cat-file", "blob", f"{sha}:{path}"], cwd=checkout, capture_output=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


def folder_at(
    checkout: Path, sha: str, folder: str, into: Path, env: Mapping[str, str]
) -> Path | None:
    """The remediation folder as it is in commit ``sha`` (fetched by SHA, so what is checked
    is that commit whatever the branch does meanwhile), copied into ``into``; None when that
    commit has no plan there."""
    git(checkout, "fetch", "--quiet", "--no-tags", "--depth=1", "origin", sha, env=dict(env))
    target = into / folder.rsplit("/", 1)[-1]
    target.mkdir(parents=True)
    for file in (PLAN_FILE, ROLLBACK_FILE, README_FILE, JOURNAL_FILE):
        content = _blob(checkout, sha, f"{folder}/{file}")
        if content is None and file == PLAN_FILE:
            return None
        if content is not None:
            (target / file).write_bytes(content)
    return target


@dataclass(frozen=True)
class Checked:
    pull: OpenPull
    verdict: Verdict
    refused: str | None
    """Why GitHub refused the status; None when it was set."""

    @property
    def posted(self) -> bool:
        return self.refused is None


def check_open_pulls(
    config: ReclaimConfig,
    repo: Any,
    checkout: Path,
    remediations_dir: str,
    client_for: Callable[[Plan], ClientFor],
    as_of: datetime,
    *,
    git_env: Mapping[str, str],
    target_url: str | None,
    observer: Observer | None = None,
) -> list[Checked]:
    observer = observer or RuleObserver.from_config(config)
    results = []
    for pull in reclaim_pulls(repo, config.forge.base_branch if config.forge else "main"):
        with tempfile.TemporaryDirectory(prefix="reclaim-fresh-") as scratch:
            folder = f"{remediations_dir}/{pull.finding_id}"
            try:
                path = folder_at(checkout, pull.head_sha, folder, Path(scratch), git_env)
            except (ForgeError, OSError) as error:
                verdict = Verdict("error", f"could not fetch the PR's head: {error}")
            else:
                if path is None:
                    verdict = Verdict("failure", f"the PR's head has no {folder}/{PLAN_FILE}")
                elif (path / JOURNAL_FILE).exists():
                    verdict = Verdict(
                        "failure",
                        f"the PR carries {JOURNAL_FILE}: journals come only from reclaim's own "
                        "runs, and apply refuses it",
                    )
                else:
                    verdict = recheck(path, observer, client_for, as_of)
        results.append(Checked(pull, verdict, _post(repo, pull, verdict, as_of, target_url)))
    return results


def _post(
    repo: Any, pull: OpenPull, verdict: Verdict, as_of: datetime, target_url: str | None
) -> str | None:
    from github import GithubException

    try:
        # POST .../statuses/{sha} itself: PyGithub's Commit.create_status would first GET
        # the commit to learn the SHA it already has.
        body = {"state": verdict.state, "description": verdict.description(as_of)}
        body["context"] = CONTEXT
        if target_url:
            body["target_url"] = target_url
        repo.requester.requestJsonAndCheck(
            "POST", f"{repo.url}/statuses/{pull.head_sha}", input=body
        )
    except GithubException as error:
        message = error.data.get("message") if isinstance(error.data, dict) else error.data
        return f"GitHub refused the status: {error.status} {message}"
    return None


def _client_for(config: ReclaimConfig) -> Callable[[Plan], ClientFor]:
    """Read-only clients in the plan's account, through the scan's role chain."""
    from generator.aws.chain import RoleChain, RunIdentity

    chain = RoleChain(config, RunIdentity.current("scan"))
    sessions: dict[str, Any] = {}

    def for_plan(plan: Plan) -> ClientFor:
        account = config.account_for_id(plan.account)
        if account is None:
            unnamed = [a for a in config.accounts if a.expected_id is None]
            if not unnamed:
                raise ConfigError(f"account {plan.account} is not in reclaim.yml")
            account = unnamed[0]
        if account.name not in sessions:
            sessions[account.name] = chain.session_for(account)
        session = sessions[account.name]
        return lambda service, region: session.client(service, region)

    return for_plan


def check_open_command(
    config: ReclaimConfig,
    as_of: datetime,
    *,
    repo_root: Path,
    out: Console,
    err: Console,
    environ: Mapping[str, str] = os.environ,
    client_for: Callable[[Plan], ClientFor] | None = None,
) -> FreshRun:
    """`reclaim check-open`: re-check every open reclaim PR and set its ``reclaim/fresh``
    status, then every merged plan whose apply failed (generator.pipeline.failed_applies).
    Exit code 1 (by the caller) when a status or comment could not be posted."""
    from github import Auth

    from generator.forge.github import GitHubSettings, connect
    from generator.pipeline.ci_commands import remediations_dir
    from generator.pipeline.failed_applies import recheck_failed_applies

    if config.forge.type != "github" or config.forge.repository is None:
        raise ConfigError(
            "check-open sets commit statuses on GitHub, but reclaim.yml's forge.type is not github",
            hint="set forge: {type: github, repository: owner/name}",
        )
    token = environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "$GITHUB_TOKEN is not set",
            hint="give the step the workflow's token (permissions: statuses: write, "
            "pull-requests: read)",
        )
    repository = config.forge.repository
    # The workflow's own token: statuses need no App (its PRs trigger nothing here).
    forge = connect(
        GitHubSettings(repository=repository, api_url=config.forge.api_url), Auth.Token(token)
    )
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    run_id = environ.get("GITHUB_RUN_ID")
    target = f"{server}/{repository}/actions/runs/{run_id}" if run_id else None
    clients = client_for or _client_for(config)
    observer = RuleObserver.from_config(config)
    directory = remediations_dir(config, repo_root)
    results = check_open_pulls(
        config,
        forge.repo,
        repo_root,
        directory,
        clients,
        as_of,
        git_env=_auth_env(token, server),
        target_url=target,
        observer=observer,
    )
    from generator.pipeline.github_api import PyGithubView
    from generator.pipeline.second_opinion import comment_second_opinions

    if config.forge.second_opinion:
        comment_second_opinions(
            [c.verdict for c in results],
            clients,
            PyGithubView(forge.repo),
            {c.verdict.observed.id: c.pull.number for c in results if c.verdict.observed},
            out,
        )
    if not results:
        out.print("no open reclaim pull request", highlight=False)
    for checked in results:
        line = f"#{checked.pull.number} {checked.verdict.state}: {checked.verdict.summary}"
        out.print(line, markup=False, highlight=False)
        if not checked.posted:
            err.print(f"#{checked.pull.number}: {checked.refused}", markup=False, highlight=False)
    failed = recheck_failed_applies(
        repo_root, directory, observer, clients, as_of, forge.comment_result
    )
    for item in failed:
        state = item.verdict.state if item.verdict else "not re-checked (change started)"
        where = item.posted or f"not commented: {item.problem}"
        out.print(f"failed apply {item.folder}: {state} ({where})", markup=False, highlight=False)
    return FreshRun(results, failed)


@dataclass(frozen=True)
class FreshRun:
    open_pulls: list[Checked]
    failed_applies: list[Any]
    """generator.pipeline.failed_applies.Rechecked, one per merged plan whose apply failed."""

    @property
    def complete(self) -> bool:
        return all(c.posted and c.verdict.state != "error" for c in self.open_pulls) and all(
            f.posted is not None for f in self.failed_applies
        )
