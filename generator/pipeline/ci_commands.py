"""The commands the generated workflows run, between the CLI and the pipeline modules.

They read what GitHub Actions provides (GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_TOKEN,
GITHUB_API_URL, GITHUB_SERVER_URL, GITHUB_OUTPUT) and work in the current directory, the
checkout of the default branch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from rich.console import Console

from generator.config import ReclaimConfig
from generator.errors import ConfigError, ReclaimError, StateRefusal
from generator.forge.base import FollowUp, Forge, ProposalResult
from generator.held import proposals_path
from generator.iac.change import CodeChange
from generator.iac.managed import IacIndex
from generator.pipeline.events import IssueCommentEvent, PushEvent, load_event
from generator.pipeline.gate import Decision, decide
from generator.pipeline.github_api import PyGithubView
from generator.pipeline.gitops import commit_and_push, commit_journals, is_ignored
from generator.pipeline.runs import (
    ExecutorFor,
    RunOutcome,
    RunResults,
    pending_folders,
    refused_in_push,
    run_all,
)


def _env(name: str, environ: Mapping[str, str], hint: str) -> str:
    value = environ.get(name)
    if not value:
        raise ConfigError(f"${name} is not set", hint=hint)
    return value


def remediations_dir(config: ReclaimConfig, repo: Path) -> str:
    try:
        return config.remediations_path.relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise ConfigError(
            f"output.remediations_dir ({config.remediations_path}) is outside {repo}",
            hint="run from the root of the repository checkout",
        ) from None


def state_file(config: ReclaimConfig, repo: Path) -> str:
    try:
        return config.state_path.relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise ConfigError(
            f"output.state_file ({config.state_path}) is outside {repo}",
            hint="keep the state file inside the repository, and run from its root",
        ) from None


def iac_state_refusals(config: ReclaimConfig, repo: Path, base: str) -> dict[str, str]:
    """Terraform state files in the repository (iac: local or show_json) that the change
    edits: apply believes them to say which resources Terraform manages and at which
    address, so a pull request may not rewrite them."""
    from generator.pipeline.gitops import changed_paths

    refusals: dict[str, str] = {}
    for root in config.iac.terraform:
        relative = root.state.local or root.state.show_json
        if relative is None:
            continue
        try:
            path = config.resolve(relative).relative_to(repo.resolve()).as_posix()
        except ValueError:
            continue  # in another checkout: no pull request here can change it
        if changed_paths(repo, base, "HEAD", path):
            refusals[path] = (
                f"the pull request changes {path}, the Terraform state of iac root "
                f"{root.name!r}: apply believes it to say what Terraform manages; "
                "drop the file from the change"
            )
    return refusals


def _state_index(config: ReclaimConfig) -> Callable[[str], IacIndex | None]:
    """root name → the index of that root's Terraform state, read from the checkout (None
    for S3 state, which validate-changed has no AWS to read; apply reads it)."""
    from generator.iac.managed import IacIndex
    from generator.iac.state import read_state

    def index(name: str) -> IacIndex | None:
        roots = [r for r in config.iac.terraform if r.name == name]
        if not roots or roots[0].state.s3 is not None:
            return None if roots else IacIndex((), cloudformation=False)
        readable = [r for r in config.iac.terraform if r.state.s3 is None]
        return IacIndex(
            ((r, config.base_dir / r.path, read_state(r, config.base_dir)) for r in readable),
            cloudformation=False,
        )

    return index


def _edit_check(
    config: ReclaimConfig, repo: Path, base: str, index: Callable[[str], IacIndex | None]
) -> Callable[[str, CodeChange], list[str]]:
    """Why a pull request's .tf edit is not exactly reclaim's edit, derived again from the
    base's code, of the resource the base's state says (for S3 state, which needs AWS: the
    address iac.json names; apply checks it against the state before Terraform runs)."""
    from generator.iac.managed import TerraformManaged
    from generator.iac.merged import edit_problems
    from generator.iac.proposal import managed_by
    from generator.iac.state import parse_address

    def problems(folder: str, change: CodeChange) -> list[str]:
        roots = [r for r in config.iac.terraform if r.name == change.root]
        if not roots:
            return []  # the derivation check says why
        root = roots[0]
        trusted = index(root.name)
        if trusted is not None:
            managed = managed_by(trusted, change.finding)
            if not isinstance(managed, TerraformManaged):
                return []  # the derivation check says why
        else:
            instance = parse_address(root.name, change.address or "")
            if instance is None:
                return [f"iac.json's address {change.address!r} is not a resource address"]
            managed = TerraformManaged(root, config.base_dir / root.path, instance, None)
        return edit_problems(
            repo, base, "HEAD", folder, change.finding, managed, "the pull request"
        )

    return problems


def write_outputs(values: Mapping[str, str], environ: Mapping[str, str]) -> None:
    """Step outputs for later jobs ($GITHUB_OUTPUT), one key=value line each."""
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for key, value in values.items():
            if "\n" in value:
                raise ConfigError(f"output {key} would span lines")
            handle.write(f"{key}={value}\n")


def github_view(config: ReclaimConfig, environ: Mapping[str, str]) -> tuple[str, PyGithubView]:
    """The repository reclaim.yml's forge names, through the forge's own connection (token
    or GitHub App, GitHub Enterprise URL), checked against the workflow's repository."""
    from generator.forge.github import GitHubForge
    from generator.propose import forge_from_config

    forge = forge_from_config(config, environ)
    if not isinstance(forge, GitHubForge):
        raise ConfigError(
            "this command talks to GitHub, but reclaim.yml's forge.type is not github",
            hint="set forge: {type: github, repository: owner/name}",
        )
    repository = forge.settings.repository
    running_in = environ.get("GITHUB_REPOSITORY")
    if running_in and running_in.lower() != repository.lower():
        raise ConfigError(
            f"reclaim.yml's forge.repository is {repository}, but this workflow runs in "
            f"{running_in}",
            hint="fix forge.repository, or run `reclaim init` for this repository",
        )
    return repository, PyGithubView(forge.repo)


def gate_rollback(
    config: ReclaimConfig,
    event_path: Path,
    *,
    repo: Path,
    out: Console,
    environ: Mapping[str, str] = os.environ,
) -> Decision:
    event = load_event(event_path, IssueCommentEvent)
    repository, github = github_view(config, environ)
    decision = decide(
        event,
        github,
        repository=repository,
        checkout=repo,
        remediations_dir=remediations_dir(config, repo),
    )
    if decision.answer:
        github.react(event.comment.id, event.issue.number, "eyes" if decision.allowed else "-1")
        if not decision.allowed:
            github.reply(event.issue.number, f"reclaim will not roll back: {decision.reason}.")
    write_outputs(
        {
            "allowed": "true" if decision.allowed else "false",
            "folder": decision.folder or "",
            "pr": str(event.issue.number),
        },
        environ,
    )
    out.print(("allowed: " if decision.allowed else "refused: ") + decision.reason, highlight=False)
    return decision


def _printer(out: Console) -> Callable[[RunOutcome], None]:
    def report(outcome: RunOutcome) -> None:
        out.print(f"{outcome.status:>14}  {outcome.folder}: {outcome.message}", highlight=False)

    return report


def apply_merged(
    config: ReclaimConfig,
    event_path: Path,
    results_path: Path,
    executor_for: ExecutorFor,
    *,
    repo: Path,
    out: Console,
) -> RunResults:
    event = load_event(event_path, PushEvent)
    directory = remediations_dir(config, repo)
    folders = pending_folders(repo, event, directory)
    refused = refused_in_push(repo, event, directory)
    if not folders and not refused:
        out.print("no merged plan without a journal: nothing to apply", highlight=False)
    return run_all(
        repo,
        folders,
        "apply",
        executor_for,
        results_path,
        report=_printer(out),
        refused=refused,
    )


def rollback_requested(
    config: ReclaimConfig,
    folder: str,
    pr: int,
    results_path: Path,
    executor_for: ExecutorFor,
    *,
    repo: Path,
    out: Console,
    forge_for: Callable[[], Forge] | None = None,
) -> RunResults:
    """Roll back ``folder``; with ``forge_for``, then open a rolled-back code change's
    follow-up (its failure raises, after the results are saved)."""
    prefix = remediations_dir(config, repo) + "/"
    name = folder.removeprefix(prefix)
    if not folder.startswith(prefix) or "/" in name or name in ("", ".", ".."):
        raise ConfigError(f"{folder!r} is not a folder directly under {prefix}")
    results = run_all(
        repo,
        [folder],
        "rollback",
        executor_for,
        results_path,
        pr=pr,
        report=_printer(out),
    )
    if forge_for is not None:
        open_rollback_follow_up(config, repo, folder, pr, executor_for, forge_for, out=out)
    return results


def open_rollback_follow_up(
    config: ReclaimConfig,
    repo: Path,
    folder: str,
    pr: int | None,
    executor_for: ExecutorFor,
    forge_for: Callable[[], Forge],
    *,
    out: Console,
) -> ProposalResult | None:
    """After a completed rollback of a merged code change (now, or by an earlier run: a
    repeated /rollback retries a follow-up that could not be opened), open the follow-up
    that brings the code back to what AWS holds. Everything in it comes from the journal,
    the default branch and AWS (generator.iac.follow_up)."""
    from generator.iac.change import CODE_CHANGES
    from generator.iac.folder import is_code_folder, load_code_folder
    from generator.iac.follow_up import (
        applied_in_code,
        follow_up_body,
        follow_up_change,
        follow_up_labels,
        follow_up_title,
    )
    from generator.manifest.folder import RemediationFolder

    path = repo / folder
    if not is_code_folder(path):
        return None
    journal = RemediationFolder(path).load_journal()
    if journal is None or journal.rollback is None or journal.rollback.status != "completed":
        return None
    try:
        finding = load_code_folder(path).change.finding
        applied = applied_in_code(journal)
        roots = [r for r in config.iac.terraform if r.name == applied.root]
        if len(roots) != 1:
            raise ConfigError(
                f"the journal's Terraform root {applied.root!r} is not in reclaim.yml's iac:"
            )
        root_dir = (config.base_dir / roots[0].path).resolve()
        try:
            root_path = root_dir.relative_to(repo.resolve()).as_posix()
        except ValueError:
            raise ConfigError(
                f"root {applied.root!r} is outside this repository: no follow-up opened here"
            ) from None
        rule = CODE_CHANGES.get(finding.rule)
        restored = None
        if applied.action == "delete" and rule is not None and rule.restored is not None:
            restored = executor_for(path, "rollback").restored(path, rule.restored[0])
        change = follow_up_change(repo, folder, finding, journal, root_path, restored, pr)
        result = forge_for().open_follow_up(
            FollowUp(
                finding_id=finding.id,
                title=follow_up_title(change),
                body=follow_up_body(change),
                files=change.files,
                labels=follow_up_labels(change),
            )
        )
    except ReclaimError as error:
        out.print(f"follow-up not opened for {folder}: {error.message}", highlight=False)
        raise
    out.print(f"follow-up {result.outcome.value}: {result.reference}", highlight=False)
    return result


def push_journals(
    config: ReclaimConfig,
    *,
    branch: str,
    message: str,
    repo: Path,
    out: Console,
    environ: Mapping[str, str] = os.environ,
) -> None:
    pushed = commit_journals(
        repo,
        remediations_dir=remediations_dir(config, repo),
        branch=branch,
        message=message,
        token=environ.get("GITHUB_TOKEN"),
        server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
    )
    out.print(f"pushed {pushed} to {branch}" if pushed else "no journal changed", highlight=False)


def push_state(
    config: ReclaimConfig,
    *,
    branch: str,
    message: str,
    repo: Path,
    out: Console,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Commit the state file and the proposals file beside it (what propose last saw the
    forge hold, generator.held) if they changed, and push them, so the next scheduled scan
    (a fresh checkout on a fresh runner) starts from these first-seen clocks and confirms
    the findings propose will open next."""
    state = state_file(config, repo)
    proposals = proposals_path(Path(state)).as_posix()
    present = [path for path in (state, proposals) if (repo / path).exists()]
    if not present:
        out.print(f"no {state}: no scan has seen a resource idle yet", highlight=False)
        return
    for path in present:
        if is_ignored(repo, path):
            raise ConfigError(
                f"{path} is ignored by git, so the scan's "
                f"{'first-seen clocks' if path == state else 'proposals file'} cannot persist "
                "between scans",
                hint=f"remove the rule that ignores {path} (see `git check-ignore -v {path}`)",
            )
    pushed = commit_and_push(
        repo,
        present,
        branch=branch,
        message=message,
        token=environ.get("GITHUB_TOKEN"),
        server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
        what="the state file",
        kept_where="the clocks are in this run's shard artifacts",
    )
    shown = " and ".join(present)
    out.print(f"pushed {pushed} to {branch}" if pushed else f"{shown} unchanged", highlight=False)


def validate_changed(
    config: ReclaimConfig,
    base: str,
    *,
    event_path: Path | None,
    summary_path: Path | None,
    repo: Path,
    out: Console,
    err: Console,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Validate the touched remediations, write the summary, comment it; True when valid."""
    from generator.iac.folder import is_code_folder
    from generator.pipeline.events import PullRequestEvent
    from generator.pipeline.summary import (
        MARKER,
        changed_folders,
        check,
        check_code,
        history_refusals,
        proposals_refusal,
        state_refusal,
        summary_markdown,
        with_refusals,
    )

    directory = remediations_dir(config, repo)
    folders, removed = changed_folders(repo, base, directory)
    refusals = history_refusals(repo, base, directory)
    refusals.update(state_refusal(repo, base, state_file(config, repo)))
    refusals.update(
        proposals_refusal(repo, base, proposals_path(Path(state_file(config, repo))).as_posix())
    )
    refusals.update(iac_state_refusals(config, repo, base))
    index = _state_index(config)
    edit = _edit_check(config, repo, base, index)
    rows = with_refusals(
        [
            check_code(repo, folder, index, edit)
            if is_code_folder(repo / folder)
            else check(repo, folder)
            for folder in folders
        ],
        refusals,
    )
    markdown = summary_markdown(rows, removed)
    out.print(markdown, markup=False, highlight=False)
    if summary_path is not None:
        with open(summary_path, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    if event_path is not None:
        event = load_event(event_path, PullRequestEvent)
        try:
            _repository, github = github_view(config, environ)
            url = github.upsert_comment(event.number, MARKER, markdown)
            out.print(f"summary: {url}", highlight=False)
        except ReclaimError as error:
            # A pull request from a fork gets a read-only token: the check still counts.
            err.print(f"warning: summary comment not posted: {error.message}", highlight=False)
    return all(row.error is None for row in rows)


def comment_results(
    config: ReclaimConfig,
    results_path: Path,
    *,
    repo: Path,
    out: Console,
    err: Console,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Post each outcome's result comment on its pull request; True when all were posted."""
    from generator.forge.base import ResultComment, RunState
    from generator.forge.github import GitHubForge
    from generator.forge.result import result_comment
    from generator.manifest.folder import RemediationFolder
    from generator.propose import forge_from_config

    results = RunResults.load(results_path)
    if not results.outcomes:
        out.print("no outcome to report", highlight=False)
        return True
    forge = forge_from_config(config, environ)
    posted = True
    for outcome in results.outcomes:
        folder = RemediationFolder(repo / outcome.folder)
        finding_id = Path(outcome.folder).name
        try:
            if outcome.status == "invalid":
                # Nothing ran; the folder (and any journal in it) is not to be believed.
                raise StateRefusal(outcome.message)
            comment = result_comment(folder)
        except ReclaimError:
            # Failed before its journal recorded anything: say so, and why.
            said = "refused this remediation" if outcome.status == "invalid" else "failed"
            comment = ResultComment(
                markdown=f"reclaim {outcome.kind} {said} before it changed anything: "
                f"{outcome.message}",
                state=RunState.FAILED,
            )
        if outcome.status in ("failed", "invalid") and outcome.message not in comment.markdown:
            comment = ResultComment(
                markdown=f"{comment.markdown}\n\n**{outcome.kind} failed:** {outcome.message}",
                state=RunState.FAILED,
            )
        if not isinstance(forge, GitHubForge):
            out.print(comment.markdown, markup=False, highlight=False)
            continue
        try:
            if outcome.pr is not None:
                url = forge.comment_result_on(outcome.pr, finding_id, comment)
            elif outcome.commit is not None:
                url = forge.comment_result(finding_id, outcome.commit, comment)
            else:
                raise ConfigError(f"{outcome.folder}: no pull request or merge commit known")
            out.print(f"{comment.state.value}: {url}", highlight=False)
        except ReclaimError as error:
            posted = False
            err.print(f"{outcome.folder}: result not commented: {error.message}", highlight=False)
    return posted
