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
from generator.errors import ConfigError, ReclaimError
from generator.pipeline.events import IssueCommentEvent, PushEvent, load_event
from generator.pipeline.gate import Decision, decide
from generator.pipeline.github_api import PyGithubView, connect_repository
from generator.pipeline.gitops import commit_journals
from generator.pipeline.runs import ExecutorFor, RunOutcome, RunResults, pending_folders, run_all


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


def github_view(environ: Mapping[str, str]) -> tuple[str, PyGithubView]:
    hint = "run inside GitHub Actions, or set it as the workflow does"
    repository = _env("GITHUB_REPOSITORY", environ, hint)
    token = _env("GITHUB_TOKEN", environ, "pass the workflow token as env GITHUB_TOKEN")
    api_url = environ.get("GITHUB_API_URL", "https://api.github.com")
    return repository, PyGithubView(connect_repository(repository, token, api_url))


def gate_rollback(
    config: ReclaimConfig,
    event_path: Path,
    *,
    repo: Path,
    out: Console,
    environ: Mapping[str, str] = os.environ,
) -> Decision:
    event = load_event(event_path, IssueCommentEvent)
    repository, github = github_view(environ)
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
    folders = pending_folders(repo, event, remediations_dir(config, repo))
    if not folders:
        out.print("no merged plan without a journal: nothing to apply", highlight=False)
    return run_all(repo, folders, "apply", executor_for, results_path, report=_printer(out))


def rollback_requested(
    config: ReclaimConfig,
    folder: str,
    pr: int,
    results_path: Path,
    executor_for: ExecutorFor,
    *,
    repo: Path,
    out: Console,
) -> RunResults:
    prefix = remediations_dir(config, repo) + "/"
    name = folder.removeprefix(prefix)
    if not folder.startswith(prefix) or "/" in name or name in ("", ".", ".."):
        raise ConfigError(f"{folder!r} is not a folder directly under {prefix}")
    return run_all(
        repo,
        [folder],
        "rollback",
        executor_for,
        results_path,
        pr=pr,
        report=_printer(out),
    )


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
    from generator.pipeline.events import PullRequestEvent
    from generator.pipeline.summary import MARKER, changed_folders, check, summary_markdown

    folders, removed = changed_folders(repo, base, remediations_dir(config, repo))
    rows = [check(repo, folder) for folder in folders]
    markdown = summary_markdown(rows, removed)
    out.print(markdown, markup=False, highlight=False)
    if summary_path is not None:
        with open(summary_path, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    if event_path is not None:
        event = load_event(event_path, PullRequestEvent)
        try:
            _repository, github = github_view(environ)
            url = github.upsert_comment(event.number, MARKER, markdown)
            out.print(f"summary: {url}", highlight=False)
        except ReclaimError as error:
            # A pull request from a fork gets a read-only token: the check still counts.
            err.print(f"warning: summary comment not posted: {error.message}", highlight=False)
    return all(row.error is None for row in rows)
