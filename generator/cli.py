"""The `reclaim` command: parses arguments, calls one function per command, maps errors to
exit codes. Expected failures print a message and a hint, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from generator import __version__
from generator.console import LazyConsole
from generator.errors import EXIT_CODE_HELP, ExitCode, ReclaimError

F = TypeVar("F", bound=Callable[..., Any])

out = LazyConsole(soft_wrap=True)
err = LazyConsole(stderr=True, soft_wrap=True)


def handles_errors(command: F) -> F:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReclaimError as error:
            from rich.markup import escape

            # Messages hold brackets (`pip install "reclaim[demo]"`, `[a, b]`): never markup.
            err.print(f"[bold red]error:[/bold red] {escape(error.message)}", highlight=False)
            if error.hint:
                err.print(f"[yellow]hint:[/yellow] {escape(error.hint)}", highlight=False)
            sys.exit(int(error.exit_code))
        except KeyboardInterrupt:
            err.print("interrupted; journal.json records what completed, re-run to resume")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO 8601, e.g. 2026-11-28T00:00:00Z", param_hint="--as-of"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _matches(pattern: str, what: str) -> Callable[[click.Context, Any, str | None], str | None]:
    """An option callback: a value not of the form ``pattern`` is a usage error (exit 2)."""
    import re

    def check(_: click.Context, __: Any, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(pattern, value):
            raise click.BadParameter(f"{value!r} is not {what}")
        return value

    return check


def directory_option(default: str, help: str) -> Callable[[F], F]:
    """--dir: the directory a command works in (demo, init, doctor)."""
    return click.option(
        "--dir",
        "directory",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path(default),
        show_default=True,
        help=help,
    )


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="reclaim.yml to use (default: ./reclaim.yml, else built-in defaults).",
)
as_of_option = click.option(
    "--as-of",
    default=None,
    help="Evaluate ages and metric windows as of this ISO 8601 instant (default: now).",
)
prices_option = click.option(
    "--prices",
    "prices_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Price table from `reclaim prices refresh` (default: the bundled table).",
)
folder_argument = click.argument(
    "folder", type=click.Path(path_type=Path, file_okay=False, exists=True)
)


@click.group(epilog=EXIT_CODE_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reclaim")
def main() -> None:
    """reclaim: idle AWS resources become reviewed, reversible pull requests.

    Scan finds idle resources and prices them; propose opens one PR per finding carrying a
    plan (pre-checks, backup, dry run, change, verification) and a rollback; merging applies
    the plan; /rollback undoes it. Run `reclaim demo` to see the whole path offline.
    """


@main.command()
@config_option
@as_of_option
@prices_option
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the findings JSON here, streamed as the scan runs.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown", "sarif"]),
    default="table",
    show_default=True,
    help="sarif: SARIF 2.1.0 for GitHub code scanning, one result per finding.",
)
@click.option(
    "--step-summary/--no-step-summary",
    default=True,
    show_default=True,
    help="Append a markdown summary to the file $GITHUB_STEP_SUMMARY names, when it is set "
    "(GitHub Actions sets it in every step).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    envvar="RECLAIM_WORKERS",
    help="Units (account, region, rule) scanned in parallel. Env: RECLAIM_WORKERS.",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Scan only the I-th of N disjoint parts of the units (for a CI job matrix); "
    "join the parts with `reclaim merge-findings`.",
)
@handles_errors
def scan(
    config_path: Path | None,
    as_of: str | None,
    prices_path: Path | None,
    output: Path | None,
    fmt: str,
    step_summary: bool,
    workers: int,
    shard: str | None,
) -> None:
    """Find idle resources in every configured account and region, with $/month.

    Records first-seen times in the state file (and in --output, for `reclaim merge-state`
    to fold a CI shard's clocks into the committed state). Progress goes to stderr: a
    progress bar on a terminal, plain lines when CI=true or stderr is not a terminal. Exit
    code 1 when some account, region or rule failed (the others are still scanned and
    reported)."""
    from contextlib import ExitStack

    from generator.aws.units import parse_shard
    from generator.config import load_config
    from generator.fileio import atomic_writer
    from generator.progress import progress_for
    from generator.report_stream import (
        ReportCollector,
        ReportSink,
        ScanTally,
        StreamingReportWriter,
        Tee,
    )
    from generator.scan import chain_sessions, scan_into, with_default_regions

    config, regions = with_default_regions(load_config(config_path))
    first_run = not config.state_path.exists()
    machine = fmt in ("json", "sarif")  # stdout is a document: everything else to stderr
    if machine:
        err.print(f"regions: {regions}", markup=False, highlight=False)
    shard_info = parse_shard(shard) if shard else None
    when = parse_as_of(as_of)
    tally = ScanTally()
    sinks: list[ReportSink] = [tally]
    # SARIF needs every finding (the tally keeps a screenful); skipped ones are only counted.
    collector = ReportCollector(keep_skipped=False) if fmt == "sarif" else None
    if collector is not None:
        sinks.append(collector)
    with ExitStack() as stack:
        if output is not None:
            stream = stack.enter_context(atomic_writer(output))
            sinks.append(stack.enter_context(StreamingReportWriter(stream, when, shard_info)))
        if fmt == "json":
            sinks.append(stack.enter_context(StreamingReportWriter(sys.stdout, when, shard_info)))
        progress = progress_for()
        stack.enter_context(progress)
        summary = scan_into(
            config,
            Tee(*sinks),
            as_of=when,
            session_for=chain_sessions(config),
            prices=_prices(prices_path),
            workers=workers,
            shard=shard_info,
            progress=progress,
        )
    # The report's tables need rich, which the first AWS request does not wait for.
    from generator.report_format import (
        ScanDetails,
        append_step_summary,
        clock_waits,
        print_report,
    )
    from generator.report_format import step_summary as summary_markdown

    started = tally.started(when)
    details = ScanDetails(
        left_alone=tally.left_alone,
        started=started,
        waits=clock_waits(config, started),
        first_run=first_run,
        as_of=when,
        regions=regions,
        accounts=tuple(sorted(tally.accounts)),
        warnings=tuple(summary.warnings),
        state_file=_shown_path(config.state_path) if first_run else None,
    )
    if collector is not None:
        from generator.sarif import sarif_log

        document = sarif_log(collector.report(when, shard_info), _remediations_dir(config))
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()
    elif not machine:
        print_report(tally.report(when), fmt, out.get(), tally.totals(), details)
        if tally.truncated:
            out.print(
                "--output FILE keeps every finding" if output is None else f"all in {output}",
                highlight=False,
            )
    if machine:
        for warning in summary.warnings:
            err.print(
                f"warning {warning.account}/{warning.region}/{warning.rule}: {warning.message}",
                markup=False,
                highlight=False,
            )
    if step_summary:
        text = summary_markdown(
            tally.report(when),
            tally.totals(),
            details,
            str(shard_info) if shard_info else None,
        )
        append_step_summary(text, os.environ)
    for error in summary.errors:
        if error.hint:
            err.print(f"hint for {error.account}/{error.region}/{error.rule}: {error.hint}")
    if summary.errors:
        sys.exit(int(ExitCode.FINDINGS_INCOMPLETE))


@main.command("merge-findings")
@click.argument(
    "shards", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the merged findings JSON.",
)
@handles_errors
def merge_findings(shards: tuple[Path, ...], output: Path) -> None:
    """Join the outputs of `reclaim scan --shard I/N` into one findings file for propose.

    Refuses overlapping inputs (a finding in two files). A missing shard is recorded as an
    error in the merged file and gives exit code 1: its units were not scanned."""
    from generator.merge import merge_reports

    result = merge_reports(list(shards), output)
    out.print(
        f"merged {len(shards)} file(s): {result.findings} finding(s), "
        f"{result.errors} error(s) into {output}",
        highlight=False,
    )
    if result.errors:
        sys.exit(int(ExitCode.FINDINGS_INCOMPLETE))


@main.command("sarif")
@config_option
@click.option(
    "--findings",
    "findings_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Output of `reclaim scan` or of merge-findings.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the SARIF file.",
)
@handles_errors
def sarif(config_path: Path | None, findings_path: Path, output: Path) -> None:
    """Write a findings file as SARIF 2.1.0 for GitHub code scanning (what `reclaim scan
    --format sarif` prints), e.g. the merged findings of a sharded scan.

    One result per finding, located at its remediation folder (from reclaim.yml's
    output.remediations_dir); the file's errors and warnings become notifications."""
    from generator.config import load_config
    from generator.fileio import atomic_writer
    from generator.sarif import sarif_log

    config = load_config(config_path)
    report = _load_findings(findings_path)
    document = sarif_log(report, _remediations_dir(config))
    with atomic_writer(output) as stream:
        stream.write(json.dumps(document, indent=2) + "\n")
    out.print(f"wrote {len(document['runs'][0]['results'])} result(s) to {output}", highlight=False)


@main.command("merge-state")
@click.argument(
    "reports",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
)
@config_option
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The state file to update (default: output.state_file of reclaim.yml).",
)
@handles_errors
def merge_state(
    reports: tuple[Path, ...], config_path: Path | None, state_path: Path | None
) -> None:
    """Fold the first-seen clocks of `reclaim scan` outputs into the state file.

    For sharded scans in CI: every shard starts from the committed state file and reports
    the clocks of its own units. A unit a report completed takes that report's clocks (a
    resource no longer idle is forgotten); clocks of units no report completed are kept;
    every clock keeps its earliest time, whatever the order of the inputs. Commit the result
    with `reclaim commit-state`."""
    from generator.state_merge import merge_state_file

    if state_path is None:
        from generator.config import load_config

        state_path = load_config(config_path).state_path
    result = merge_state_file(state_path, list(reports))
    for path in result.without_clocks:
        err.print(
            f"note: {path} carries no first-seen clocks: the clocks of its units are kept",
            highlight=False,
        )
    out.print(
        f"{state_path}: {result.clocks} clock(s); {result.started} started, "
        f"{result.forgotten} forgotten, {result.kept_unscanned} kept from units no report "
        f"completed" + ("" if result.changed else " (unchanged)"),
        highlight=False,
    )


@main.command()
@click.option(
    "--findings",
    "findings_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Output of `reclaim scan`.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("remediations"),
    show_default=True,
)
@handles_errors
def plan(findings_path: Path, out_dir: Path) -> None:
    """Write remediations/<finding-id>/{plan.json, rollback.json, README.md} for each finding.

    Pure: no AWS call. Report-only findings get no plan."""
    from generator.planner import executable, plan_finding, write_remediation

    report = _load_findings(findings_path)
    # Every finding is planned before any folder is written: a bad one writes nothing.
    remediations = [plan_finding(finding) for finding in executable(report.findings)]
    for remediation in remediations:
        path = write_remediation(remediation, out_dir)
        out.print(f"wrote {path}", highlight=False)


def _remediations_dir(config: Any) -> str:
    """Where propose puts remediation folders, as a path inside the repository that gets
    the PRs (the output.remediations_dir setting when that cannot be worked out)."""
    from generator.propose import remediations_in_repo

    try:
        return remediations_in_repo(config)
    except ReclaimError:
        return str(config.output.remediations_dir)


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _prices(path: Path | None) -> Any:
    if path is None:
        return None
    from generator.aws.prices import load_price_table

    return load_price_table(path)


def _load_findings(path: Path) -> Any:
    from generator.errors import ManifestError
    from generator.findings import FindingsReport
    from generator.untrusted import load_json_model

    return load_json_model(
        path,
        FindingsReport,
        ManifestError,
        hint="pass the --output file of `reclaim scan` (or of merge-findings)",
    )


@main.command()
@config_option
@as_of_option
@click.option(
    "--findings",
    "findings_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Use this findings file (e.g. from `reclaim merge-findings`) instead of scanning.",
)
@click.option(
    "--realized",
    "realized_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The scan's `reclaim measure-savings` file, for the dashboard's track record "
    "(missing: the dashboard says not measured).",
)
@prices_option
@handles_errors
def propose(
    config_path: Path | None,
    as_of: str | None,
    findings_path: Path | None,
    realized_path: Path | None,
    prices_path: Path | None,
) -> None:
    """Scan (or read --findings), plan, and open, update or close one PR per finding through
    the configured forge.

    Unchanged PRs get no write; stale ones are closed with the reason (only within scan units
    that completed); PRs a human closed are not reopened; new PRs respect forge.max_open_prs
    and forge.max_new_prs_per_run (highest savings first) and the rest wait on the
    dashboard. Then it writes proposals.json beside the state file: the findings it holds
    (open, merged, declined), so that the next scan confirms the findings it will open
    next. Exit code 8 when the forge stopped the run (rate limit, refused request): what
    remains is listed and the next run continues."""
    from generator.config import load_config
    from generator.held import load_held, proposals_path
    from generator.pipeline.realized_savings import load_reading
    from generator.propose import (
        forge_from_config,
        iac_index,
        limits_from_config,
        ops_repo_root,
        remediations_in_repo,
        sync_proposals,
        write_proposals_file,
    )
    from generator.scan import chain_sessions, with_default_regions
    from generator.scan import scan as run_scan

    config, regions = with_default_regions(load_config(config_path))
    if findings_path is None:
        err.print(f"regions: {regions}", markup=False, highlight=False)
    # The proposals file the scan read (the default branch's, not yet this run's): what it
    # held was not confirmed, so propose does not open it yet (generator.held).
    scanned_with, _ = load_held(proposals_path(config.state_path), config.forge.reopen_cost_ratio)
    forge = forge_from_config(config)
    folder = remediations_in_repo(config)
    sessions = chain_sessions(config)
    if findings_path is not None:
        report = _load_findings(findings_path)
    else:
        report = run_scan(
            config,
            as_of=parse_as_of(as_of),
            session_for=sessions,
            prices=_prices(prices_path),
        )
    outcome = sync_proposals(
        report,
        forge,
        folder,
        limits=limits_from_config(config),
        dashboard=config.forge.dashboard,
        iac=iac_index(config, sessions),
        repo_root=ops_repo_root(config),
        realized=load_reading(realized_path, err.get()),
        scanned_with=scanned_with,
    )
    # Also after a forge error: the writes made are held, those not reached are not.
    write_proposals_file(config, outcome)
    for result in outcome.results:
        note = f"  {result.note}" if result.note else ""
        at = f"  ({result.reference})" if result.reference else ""
        out.print(f"{result.outcome.value:>17}  {result.finding_id}{at}{note}", highlight=False)
    if outcome.dashboard:
        out.print(f"dashboard: {outcome.dashboard}", highlight=False)
    for error in report.errors:
        err.print(
            f"scan error {error.account}/{error.region}/{error.rule}: {error.message}",
            highlight=False,
        )
    if outcome.stopped is not None:
        err.print("stopped before: " + "; ".join(outcome.remaining), highlight=False)
        raise outcome.stopped
    if report.errors:
        sys.exit(int(ExitCode.FINDINGS_INCOMPLETE))


@main.command("comment-result")
@folder_argument
@config_option
@click.option("--commit", "commit_sha", help="The merge commit of the PR (github.sha on push).")
@click.option("--pr", "pr_number", type=int, help="The PR number (known on issue_comment).")
@handles_errors
def comment_result(
    folder: Path, config_path: Path | None, commit_sha: str | None, pr_number: int | None
) -> None:
    """Post (or update) the apply/rollback result comment on the remediation's PR.

    Reads plan.json and journal.json in FOLDER; finds the PR through its merge commit
    (--commit) or its number (--pr); labels it reclaim:applied / reclaim:rolled-back /
    reclaim:failed. On a local forge it prints the comment instead."""
    from generator.config import load_config
    from generator.forge.result import result_comment
    from generator.manifest.folder import RemediationFolder
    from generator.propose import forge_from_config

    if (commit_sha is None) == (pr_number is None):
        raise click.UsageError("pass exactly one of --commit SHA or --pr NUMBER")
    remediation = RemediationFolder(folder)
    comment = result_comment(remediation)
    config = load_config(config_path)
    if config.forge.type != "github":
        out.print(comment.markdown, markup=False, highlight=False)
        return
    from generator.forge.github import GitHubForge

    forge = forge_from_config(config)
    assert isinstance(forge, GitHubForge)
    finding_id = remediation.load_plan().finding.id
    if pr_number is not None:
        url = forge.comment_result_on(pr_number, finding_id, comment)
    else:
        assert commit_sha is not None
        url = forge.comment_result(finding_id, commit_sha, comment)
    out.print(f"{comment.state.value}: {url}", highlight=False)


def _executor(
    folder: Path,
    config_path: Path | None,
    actor: str | None,
    kind: Literal["apply", "rollback"],
    wait_seconds: float | None = None,
    as_of: str | None = None,
) -> Any:
    """An executor acting in the plan's account through the role chain of reclaim.yml.

    Nothing here calls AWS: the chain is built on the executor's first call, after the
    manifests, names and journal have passed validation (a tampered plan costs no AssumeRole).
    The observer gets this reclaim.yml, the default branch's in the workflows, and its
    state file: the settings apply believes, whatever plan.json records."""
    from functools import cache

    from generator.aws.chain import RoleChain, RunIdentity
    from generator.config import load_config
    from generator.executor.lock import DEFAULT_WAIT_SECONDS
    from generator.executor.observe import RuleObserver
    from generator.executor.runner import Executor
    from generator.folder_checks import load_checked
    from generator.iac.folder import is_code_folder, load_code_folder
    from generator.progress import step_progress_for

    config = load_config(config_path)
    # The static checks first: a tampered plan is a manifest error (exit 4), whatever
    # account it claims; the executor runs them again under the plan's lock.
    in_code = is_code_folder(folder)
    plan = load_code_folder(folder).plan if in_code else load_checked(folder)[0]
    account = _account_of(config, plan.account)
    actor = actor or os.environ.get("GITHUB_ACTOR")
    if kind == "apply" and not in_code:
        _refuse_managed(config, plan.finding, actor)

    @cache
    def session() -> Any:
        return RoleChain(config, RunIdentity.current(kind, actor)).session_for(account)

    code_change = None
    if kind == "apply" and in_code:
        code_change = _terraform_change(config, actor, session, folder)

    return Executor(
        client_for=lambda service, region: session().client(service, region),
        # Ask STS even when the role ARN implies the account: a destructive run proves it.
        account_id=lambda: session().caller_account(config.home_region),
        observer=RuleObserver.from_config(config),
        clock=_clock(as_of),
        actor=actor,
        lock_wait_seconds=DEFAULT_WAIT_SECONDS if wait_seconds is None else wait_seconds,
        on_step=step_progress_for(kind),
        code_change=code_change,
    )


def _terraform_change(
    config: Any, actor: str | None, session: Callable[[], Any], folder: Path
) -> Any:
    """How a merged Terraform change is checked and applied: the default branch's iac:
    state says which root and address manage the re-observed resource; Terraform runs in
    that root with the role chain's credentials of the plan's account."""
    from generator.aws.chain import RoleChain, RunIdentity
    from generator.errors import ConfigError
    from generator.iac.apply import TerraformChange
    from generator.iac.merged import merge_of, merged_edit_problems
    from generator.iac.terraform import Terraform
    from generator.propose import iac_index

    index = iac_index(config, RoleChain(config, RunIdentity.current("scan", actor)).session_for)
    if index is None or not config.iac.terraform:
        raise ConfigError(
            "this folder is a Terraform change (iac.json), but reclaim.yml on the default "
            "branch configures no iac.terraform root; nothing was changed",
            hint="configure iac: in reclaim.yml, or close the PR",
        )

    def terraform_for(managed: Any, finding: Any) -> Terraform:
        region = {"AWS_REGION": finding.region, "AWS_DEFAULT_REGION": finding.region}
        return Terraform(managed.root_dir, {**session().credentials_env(), **region})

    repo = Path.cwd()
    relative = folder.resolve().relative_to(repo.resolve()).as_posix()

    def verify(managed: Any, finding: Any) -> list[str]:
        return merged_edit_problems(repo, relative, finding, managed)

    return TerraformChange(index, terraform_for, verify, merge=merge_of(repo, relative))


def _refuse_managed(config: Any, finding: Any, actor: str | None) -> None:
    """A resource Terraform or CloudFormation manages is never changed through the API,
    whatever plan.json says: its state (the default branch's reclaim.yml and Terraform
    state) is asked before any call, and the run refused."""
    from generator.aws.chain import RoleChain, RunIdentity
    from generator.errors import StateRefusal
    from generator.iac.change import code_change
    from generator.iac.proposal import managed_by
    from generator.propose import iac_index, ops_repo_root

    index = iac_index(config, RoleChain(config, RunIdentity.current("scan", actor)).session_for)
    managed = None if index is None else managed_by(index, finding)
    if managed is None:
        return
    change = code_change(finding, managed, ops_repo_root(config))
    what = (
        f"CloudFormation stack {change.stack!r}"
        if change.stack
        else f"Terraform ({change.address}, {change.where})"
    )
    raise StateRefusal(
        f"{finding.resource_id} is managed by {what}: reclaim does not change it through "
        "the API; nothing was changed",
        hint="change it in its code; the next `reclaim propose` opens that pull request",
    )


def _clock(as_of: str | None) -> Callable[[], datetime]:
    """Now, or the --as-of instant moving on in real time from when the command started."""
    if as_of is None:
        return lambda: datetime.now(UTC)
    start, started = parse_as_of(as_of), datetime.now(UTC)
    return lambda: start + (datetime.now(UTC) - started)


def _account_of(config: Any, account_id: str) -> Any:
    from generator.errors import ConfigError

    account = config.account_for_id(account_id)
    if account is not None:
        return account
    unnamed = [a for a in config.accounts if a.expected_id is None]
    if unnamed:
        # The account reached with ambient credentials; the executor checks its ID.
        return unnamed[0]
    known = ", ".join(f"{a.name} ({a.expected_id})" for a in config.accounts)
    raise ConfigError(
        f"the plan belongs to account {account_id}, which is not in the configuration "
        f"(accounts: {known}); nothing was changed",
        hint="run with the reclaim.yml (--config) that lists this account and its role_arn",
    )


actor_option = click.option(
    "--actor", default=None, help="Who approved this run (default: $GITHUB_ACTOR)."
)
run_as_of_option = click.option(
    "--as-of",
    default=None,
    envvar="RECLAIM_AS_OF",
    help="Judge the rule's age thresholds as of this ISO 8601 instant when looking at the "
    "resource again (default: now; for tests and rehearsals). Env: RECLAIM_AS_OF.",
)
wait_option = click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 24 * 3600),
    default=60,
    show_default=True,
    help="Seconds to wait when another apply or rollback of the same plan is running; "
    "then exit 12 without touching AWS. Two runs of one plan never mutate at once.",
)


@main.command()
@folder_argument
@config_option
@actor_option
@wait_option
@run_as_of_option
@handles_errors
def apply(
    folder: Path,
    config_path: Path | None,
    actor: str | None,
    wait_seconds: float,
    as_of: str | None,
) -> None:
    """Apply remediations/<finding-id>: validate, look at the resource again through its rule
    (with this reclaim.yml, not what plan.json records), pre-check, back up, dry-run, change,
    verify.

    Resumes from journal.json after a failure without repeating a mutation; every step the
    journal calls done is confirmed in AWS first. One run per plan at a time (--wait)."""
    from generator.report_format import print_run

    executor = _executor(folder, config_path, actor, "apply", wait_seconds, as_of)
    print_run(executor.apply(folder), out.get())


@main.command()
@folder_argument
@config_option
@actor_option
@wait_option
@run_as_of_option
@handles_errors
def rollback(
    folder: Path,
    config_path: Path | None,
    actor: str | None,
    wait_seconds: float,
    as_of: str | None,
) -> None:
    """Undo an applied remediation from its backup, using the values in journal.json, each
    checked in AWS first (the change is in effect; the backup is this plan's, of this
    resource, made after apply observed it). One run per plan at a time (--wait)."""
    from generator.report_format import print_run

    executor = _executor(folder, config_path, actor, "rollback", wait_seconds, as_of)
    print_run(executor.rollback(folder), out.get())


@main.command()
@folder_argument
@handles_errors
def validate(folder: Path) -> None:
    """Check a remediation without touching AWS: schema, allow-list, API parameters,
    references, that the plan is exactly what its rule derives from the finding, that the
    folder name and IDs are the one ID derived from rule, account, region and resource, and
    that README.md is exactly what reclaim renders from the plan."""
    from generator.folder_checks import load_checked

    plan_model, rollback_model = load_checked(folder)
    out.print(
        f"ok: {plan_model.plan_id} ({len(plan_model.steps)} plan steps, "
        f"{len(rollback_model.steps)} rollback steps) is valid and derivable",
        highlight=False,
    )


@main.group()
def prices() -> None:
    """The price table findings are priced with."""


@prices.command("refresh")
@click.option(
    "--region",
    default="us-east-1",
    show_default=True,
    help="Region whose list prices to fetch.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("prices.json"),
    show_default=True,
    help="Where to write the table; pass it to scan/propose with --prices.",
)
@handles_errors
def prices_refresh(region: str, out_path: Path) -> None:
    """Rebuild the price table from the AWS Price List (needs pricing:GetProducts).

    Prices the Price List does not return keep the bundled value and are listed."""
    from generator.aws.price_list import PRICING_API_REGION, refresh_price_table
    from generator.aws.prices import bundled_prices
    from generator.aws.session import AccountSession
    from generator.fileio import write_atomically

    pricing = AccountSession().client("pricing", PRICING_API_REGION)
    result = refresh_price_table(
        pricing, region, base=bundled_prices(), today=datetime.now(UTC).date()
    )
    write_atomically(out_path, json.dumps(result.table.model_dump(mode="json"), indent=2) + "\n")
    out.print(
        f"wrote {out_path}: {len(result.refreshed)} price(s) refreshed from the Price List "
        f"in {result.calls} request(s)",
        highlight=False,
    )
    if result.kept:
        err.print(
            "kept from the bundled table (not in the Price List answer): "
            + ", ".join(sorted(result.kept)),
            highlight=False,
        )


@main.command()
@click.argument("kind", type=click.Choice(["plan", "rollback", "journal", "findings", "config"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a manifest, the journal, the findings file or reclaim.yml."""
    from generator.schema import json_schema

    out.print_json(json.dumps(json_schema(kind)))


@main.command()
@directory_option(
    "reclaim-demo", "Where to leave the demo repository (must be new or a previous demo)."
)
@handles_errors
def demo(directory: Path) -> None:
    """Run the whole path offline: in-process AWS (moto) with a seeded account and a local git
    repository standing in for GitHub. Scan, propose, merge one PR, apply, roll back."""
    from generator.demo import run_demo

    run_demo(directory, out.get())


@main.command()
@directory_option(".", "The repository to set up.")
@click.option(
    "--repo",
    "repository",
    callback=_matches(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "OWNER/NAME, e.g. acme/cloud-costs"),
    help="GitHub repository owner/name (remembered).",
)
@click.option("--account", "accounts", multiple=True, help="See ACCOUNT below; repeatable.")
@click.option("--region", "regions", multiple=True, help="Default regions (repeatable).")
@click.option("--rule", "rules", multiple=True, help="Enable only these rules (repeatable).")
@click.option(
    "--service-account",
    callback=_matches(r"\d{12}", "a 12-digit AWS account ID, e.g. 111111111111"),
    help="12-digit account ID of the service role (remembered).",
)
@click.option("--service-role-name", help="Default: reclaim-service.")
@click.option("--customer-role-name", help="Default: reclaim-remediation.")
@click.option("--default-branch", help="Default: main.")
@click.option("--environment", help="GitHub environment of apply and rollback.")
@click.option("--scan-cron", help="When the scan runs (five-field cron, UTC).")
@click.option("--scan-shards", type=click.IntRange(1, 32), help="Parallel scan jobs.")
@click.option(
    "--code-scanning/--no-code-scanning",
    default=None,
    help="Upload each complete scan's findings to GitHub code scanning as SARIF (remembered; "
    "default off: a private repository needs GitHub Code Security).",
)
@click.option("--python-version", help="Python of the workflow jobs. Default: 3.12.")
@click.option(
    "--action",
    help="OWNER/REPO@SHA: the reclaim action.yml (and commit) the workflows install from, "
    "e.g. your fork (remembered). Default: the commit this reclaim was installed from.",
)
@click.option(
    "--index-url",
    help="Package index serving the hash-locked dependencies, e.g. a private mirror "
    "(remembered). Default: PyPI.",
)
@click.option("--scan-environment", help="GitHub environment of the scan. Default: reclaim-scan.")
@click.option(
    "--approver",
    "approvers",
    multiple=True,
    help="@user or @org/team: a required reviewer of apply and rollback runs (repeatable; "
    "remembered).",
)
@click.option(
    "--github-token",
    envvar="RECLAIM_SETUP_TOKEN",
    help="A repository admin's token (env RECLAIM_SETUP_TOKEN; never stored): init then sets "
    "the OIDC subject template and both environments' branch policy through the GitHub API.",
)
@click.option("--config-file", help="reclaim.yml's path in the repository.")
@click.option("--terraform-dir", help="Where the Terraform modules go. Default: terraform.")
@click.option(
    "--only",
    "parts",
    multiple=True,
    type=click.Choice(["config", "workflows", "terraform", "codeowners"]),
    help="Generate only these parts (repeatable; remembered).",
)
@click.option("--force", is_flag=True, help="Replace files you changed since init wrote them.")
@click.option("--check", is_flag=True, help="Write nothing; exit 7 when a file would change.")
@handles_errors
def init(
    directory: Path, accounts: tuple[str, ...], force: bool, check: bool, **given: Any
) -> None:
    """Generate the pipeline: reclaim.yml, GitHub Actions workflows, Terraform for the
    service role and the remediation role, and CODEOWNERS entries.

    \b
    ACCOUNT: comma-separated key=value, e.g.
      --account id=222222222222,name=prod,regions=us-east-1+eu-west-1,owners=@org/prod
    keys: id (required), name, role, external-id-env, regions, owners.

    Re-running is idempotent; a file you edited is shown as a diff and kept unless --force.
    Options are remembered in .reclaim/pipeline.json."""
    from generator.pipeline.cli_support import init_command

    init_command(directory, accounts, given, force=force, check=check, out=out.get(), err=err.get())


@main.command()
@directory_option(".", "The repository `reclaim init` set up.")
@click.option(
    "--github-token",
    envvar="RECLAIM_DOCTOR_TOKEN",
    help="A token that may read the repository's settings (env RECLAIM_DOCTOR_TOKEN).",
)
@click.option("--no-aws", is_flag=True, help="Skip the AWS checks.")
@handles_errors
def doctor(directory: Path, github_token: str | None, no_aws: bool) -> None:
    """Check a live setup: the OIDC provider and both hop-1 roles (with the service account's
    credentials), and the GitHub settings (OIDC template, environments, secrets, the App,
    branch protection). Each problem is printed with its fix; exit 3 when any."""
    from generator.pipeline.doctor import doctor_command

    doctor_command(directory, github_token=github_token, aws=not no_aws, out=out.get())


# ---- the steps of the generated workflows --------------------------------------------------

event_option = click.option(
    "--event",
    "event_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The webhook payload ($GITHUB_EVENT_PATH).",
)
results_option = click.option(
    "--results",
    "results_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the outcomes go, for the commit and comment steps.",
)


def _workflow_executor_for(
    config_path: Path | None, actor: str | None, as_of: str | None = None
) -> Any:
    def build(folder: Path, kind: Literal["apply", "rollback"]) -> Any:
        return _executor(folder, config_path, actor, kind, as_of=as_of)

    return build


@main.command("gate-rollback")
@config_option
@event_option
@handles_errors
def gate_rollback(config_path: Path | None, event_path: Path) -> None:
    """Decide whether a /rollback comment may roll back (rollback workflow, first job).

    Refuses unless the comment is on a merged reclaim pull request, by a person (not a
    bot) with write, maintain or admin permission per GitHub's API. Reacts to the comment,
    explains a refusal, and sets the step outputs allowed, folder and pr. Exit 0 either way."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import gate_rollback as run_gate

    run_gate(load_config(config_path), event_path, repo=Path.cwd(), out=out.get())


@main.command("measure-savings")
@config_option
@as_of_option
@click.option(
    "--output",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the reading (for `reclaim propose --realized`).",
)
@click.argument(
    "findings_paths",
    nargs=-1,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="[FINDINGS]...",
)
@handles_errors
def measure_savings(
    config_path: Path | None, as_of: str | None, output: Path, findings_paths: tuple[Path, ...]
) -> None:
    """Measure what applied changes saved, from Cost Explorer (scan workflow, read-only).

    The default branch's journals say which plans were applied and rolled back; each
    applied change's cost line is compared over the whole days since its apply against as
    many days before (at most 30), with at most two Cost Explorer requests per account.
    With FINDINGS (this scan's findings files), also counts the findings AWS's
    recommenders corroborate (forge.second_opinion). A source refusing or not answering
    is said once and exits 0: the dashboard then says what was not measured or asked."""
    from generator.config import load_config
    from generator.pipeline.realized_savings import measure_savings_command

    findings = []
    for path in findings_paths:
        if not path.exists():  # a shard that uploaded nothing: its findings are not asked
            err.print(f"{path}: no such findings file, skipped", markup=False, highlight=False)
            continue
        findings += list(_load_findings(path).findings)
    measure_savings_command(
        load_config(config_path), parse_as_of(as_of), output, err=err.get(), findings=findings
    )


@main.command("check-open")
@config_option
@as_of_option
@handles_errors
def check_open(config_path: Path | None, as_of: str | None) -> None:
    """Re-check every open reclaim PR and set its reclaim/fresh commit status (scan workflow).

    Each PR's resource is observed again through its rule with this reclaim.yml (the
    default branch's) and the read-only credentials of a scan, the PR's manifests must be
    what that observation derives, and the plan's pre-checks run; the status goes on the
    head commit whose files were checked. Then each merged plan whose apply failed is
    re-checked the same way and its PR's result comment says whether the apply can be
    retried or is closed, with the journal attached. Exit 1 when a status or comment could
    not be set or a PR could not be checked."""
    from generator.config import load_config
    from generator.pipeline.freshness import check_open_command

    run = check_open_command(
        load_config(config_path),
        parse_as_of(as_of),
        repo_root=Path.cwd(),
        out=out.get(),
        err=err.get(),
    )
    if not run.complete:
        sys.exit(int(ExitCode.FINDINGS_INCOMPLETE))


@main.command("apply-merged")
@config_option
@event_option
@results_option
@actor_option
@run_as_of_option
@handles_errors
def apply_merged(
    config_path: Path | None,
    event_path: Path,
    results_path: Path,
    actor: str | None,
    as_of: str | None,
) -> None:
    """Apply the plans a push to the default branch merged (apply workflow).

    Applies the plans the push added and every merged plan without a journal.json, one
    after another; one failure does not stop the others. A folder that fails the static
    checks of `reclaim validate`, whose account is not in reclaim.yml, or whose journal.json
    came in the same push as its plan is reported invalid and not run (no AWS call).
    Exit 6 when any failed or was invalid."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import apply_merged as run_apply

    results = run_apply(
        load_config(config_path),
        event_path,
        results_path,
        _workflow_executor_for(config_path, actor, as_of),
        repo=Path.cwd(),
        out=out.get(),
    )
    if results.failed:
        sys.exit(int(ExitCode.AWS))


@main.command("restop-restarted")
@config_option
@actor_option
@handles_errors
def restop_restarted(config_path: Path | None, actor: str | None) -> None:
    """Stop again the merged rds-idle and aurora-idle plans AWS started after 7 days
    (scheduled, in the apply workflow's environment: it needs the write role).

    Only plans on the checked-out default branch whose journal reclaim wrote, applied and
    never rolled back; only when AWS's own event says it started the resource, the skip tag
    is absent and nobody connected since. Each is recorded in its journal and commented on
    its merged pull request. Exit 6 when any failed."""
    from datetime import UTC, datetime

    from generator.config import load_config
    from generator.forge.github import GitHubForge
    from generator.pipeline.ci_commands import remediations_dir
    from generator.pipeline.restarts import stop_again
    from generator.propose import forge_from_config

    config = load_config(config_path)
    repo = Path.cwd()
    directory = remediations_dir(config, repo)
    forge = forge_from_config(config, os.environ)
    executors: dict[str, Any] = {}

    def executor_for(plan: Any) -> Any:
        if plan.plan_id not in executors:
            folder = repo / directory / plan.plan_id
            executors[plan.plan_id] = _executor(folder, config_path, actor, "apply")
        return executors[plan.plan_id]

    def client_for(plan: Any) -> Any:
        executor = executor_for(plan)
        return lambda service: executor.client_for(service, plan.region)

    outcomes = stop_again(
        repo,
        directory,
        config,
        client_for=client_for,
        executor_for=executor_for,
        forge=forge if isinstance(forge, GitHubForge) else None,
        now=datetime.now(UTC),
    )
    for outcome in outcomes:
        out.print(f"{outcome.status:>14}  {outcome.folder}: {outcome.message}", highlight=False)
    if any(outcome.status == "failed" for outcome in outcomes):
        sys.exit(int(ExitCode.AWS))


@main.command("rollback-requested")
@config_option
@click.option("--folder", required=True, help="The remediation folder (from gate-rollback).")
@click.option("--pr", "pr_number", required=True, type=int, help="The pull request number.")
@results_option
@actor_option
@run_as_of_option
@handles_errors
def rollback_requested(
    config_path: Path | None,
    folder: str,
    pr_number: int,
    results_path: Path,
    actor: str | None,
    as_of: str | None,
) -> None:
    """Roll back one remediation a gate allowed (rollback workflow, second job). After a
    merged Terraform change is rolled back, open the follow-up PR that puts its code back
    (and imports the restored resource under its address)."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import rollback_requested as run_rollback
    from generator.propose import forge_from_config

    config = load_config(config_path)
    results = run_rollback(
        config,
        folder,
        pr_number,
        results_path,
        _workflow_executor_for(config_path, actor, as_of),
        repo=Path.cwd(),
        out=out.get(),
        forge_for=lambda: forge_from_config(config),
    )
    if results.failed:
        sys.exit(int(ExitCode.AWS))


@main.command("commit-journals")
@config_option
@click.option("--branch", required=True, help="The branch to push to (the default branch).")
@click.option("--message", required=True, help="Commit message.")
@handles_errors
def commit_journals(config_path: Path | None, branch: str, message: str) -> None:
    """Commit new or changed journal.json files and push them, rebasing onto concurrent
    pushes. Authenticates with $GITHUB_TOKEN through the environment, never .git/config."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import push_journals

    push_journals(
        load_config(config_path), branch=branch, message=message, repo=Path.cwd(), out=out.get()
    )


@main.command("commit-state")
@config_option
@click.option("--branch", required=True, help="The branch to push to (the default branch).")
@click.option("--message", required=True, help="Commit message.")
@handles_errors
def commit_state(config_path: Path | None, branch: str, message: str) -> None:
    """Commit the state file (first-seen clocks) and the proposals file beside it (what
    propose saw the forge hold) if they changed and push them, rebasing onto concurrent
    pushes, so the next scheduled scan starts from them. Authenticates with
    $GITHUB_TOKEN through the environment, never .git/config."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import push_state

    push_state(
        load_config(config_path), branch=branch, message=message, repo=Path.cwd(), out=out.get()
    )


@main.command("validate-changed")
@config_option
@click.option("--base", default="HEAD^1", show_default=True, help="Compare HEAD against this.")
@click.option(
    "--event",
    "event_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A pull_request payload: comment the summary on that pull request.",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also append the summary here (e.g. $GITHUB_STEP_SUMMARY).",
)
@handles_errors
def validate_changed(
    config_path: Path | None, base: str, event_path: Path | None, summary_path: Path | None
) -> None:
    """Validate every remediation that changed since --base, without AWS, and summarize
    what they would save (validate workflow). Also refuses a change that adds, changes or
    deletes a journal.json, or that changes plan.json, rollback.json or README.md of a
    folder whose journal is on the base (it ran). Exit 4 when one is invalid."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import validate_changed as run_validate

    valid = run_validate(
        load_config(config_path),
        base,
        event_path=event_path,
        summary_path=summary_path,
        repo=Path.cwd(),
        out=out.get(),
        err=err.get(),
    )
    if not valid:
        sys.exit(int(ExitCode.MANIFEST))


@main.command("comment-results")
@config_option
@results_option
@handles_errors
def comment_results(config_path: Path | None, results_path: Path) -> None:
    """Comment every outcome of apply-merged or rollback-requested on its pull request
    (through the merge commit, or the number), with its label. Exit 8 when one failed."""
    from generator.config import load_config
    from generator.pipeline.ci_commands import comment_results as run_comments

    if not run_comments(
        load_config(config_path), results_path, repo=Path.cwd(), out=out.get(), err=err.get()
    ):
        sys.exit(int(ExitCode.FORGE))


def run() -> None:
    """The `reclaim` command: ``main``, its long-lived heap kept out of the garbage
    collector's way (generator.heap), then the end of the process without the
    interpreter's teardown (generator.process_exit)."""
    from generator.heap import keep_settled_out_of_collections
    from generator.process_exit import finish

    keep_settled_out_of_collections()
    try:
        main()
    except SystemExit as done:  # click ends every command, successful or not, this way
        finish(done.code)
