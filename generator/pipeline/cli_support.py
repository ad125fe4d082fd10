"""The `reclaim init` command's glue: options from flags and the remembered manifest, and
the report a person reads afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from generator.config import load_config
from generator.errors import ConfigError, StateRefusal, UsageError, describe_validation_error
from generator.pipeline.flags import parse_account
from generator.pipeline.init import InitReport, NewFleet, plan_init, write_init
from generator.pipeline.setup_steps import apply_settings, http_requester, setup_steps
from generator.pipeline.source import ACTION_HINT, detect
from generator.pipeline.spec import PipelineOptions
from generator.pipeline.writer import Action, load_manifest
from generator.rules import RULES


def build_options(root: Path, given: dict[str, Any]) -> PipelineOptions:
    """Flags win; then what the last run recorded; then the defaults."""
    manifest = load_manifest(root)
    values: dict[str, Any] = manifest.options.model_dump() if manifest else {}
    for key, value in given.items():
        if key in ("regions", "rules"):
            continue
        if value not in (None, ()):
            values[key] = tuple(value) if isinstance(value, tuple) else value
    if "action" not in values:
        found = detect()
        if found is None:
            raise ConfigError(
                "cannot tell which commit of reclaim the workflows should install", hint=ACTION_HINT
            )
        values["action"] = found.action
    for required, flag in (("repository", "--repo"), ("service_account_id", "--service-account")):
        if required not in values:
            raise UsageError(
                f"{flag} is required the first time `reclaim init` runs in a repository",
                hint="later runs remember it in .reclaim/pipeline.json",
            )
    try:
        return PipelineOptions.model_validate(values)
    except ValidationError as error:
        raise ConfigError(describe_validation_error("reclaim init options", error)) from None


def _renamed(given: dict[str, Any]) -> dict[str, Any]:
    renamed = dict(given)
    renamed["service_account_id"] = renamed.pop("service_account", None)
    return renamed


def new_fleet(
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    rules: tuple[str, ...],
    role: str,
    scan_role: str = "reclaim-scan",
) -> NewFleet | None:
    if not accounts:
        if regions or rules:
            raise UsageError(
                "--region and --rule only shape a new reclaim.yml: give --account too, "
                "or edit reclaim.yml and re-run `reclaim init`"
            )
        return None
    parsed = tuple(
        parse_account(flag, default_role_name=role, scan_role_name=scan_role) for flag in accounts
    )
    ids = [a.id for a in parsed]
    if len(set(ids)) != len(ids):
        raise UsageError("an account ID is given twice in --account")
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise UsageError(
            f"--rule: unknown rule(s) {', '.join(unknown)}; known rules: {', '.join(sorted(RULES))}"
        )
    return NewFleet(
        accounts=parsed,
        regions=regions or ("us-east-1",),
        enabled_rules=tuple(sorted(rules or RULES)),
    )


def init_command(
    root: Path,
    accounts: tuple[str, ...],
    given: dict[str, Any],
    *,
    force: bool,
    check: bool,
    out: Console,
    err: Console,
) -> None:
    given = _renamed(given)
    token = given.pop("github_token", None)
    manifest = load_manifest(root)
    if not given.get("action") and manifest is None:
        found = detect()
        if found is not None:
            given["action"] = found.action
            out.print(
                f"the workflows install reclaim from {found.action} ({found.how}); that "
                "commit must be on GitHub (--action names another)",
                highlight=False,
            )
            if found.dirty:
                err.print(
                    "[yellow]note:[/yellow] the checkout has uncommitted changes, which that "
                    "commit does not contain",
                    highlight=False,
                )
    options = build_options(root, given)
    fleet = new_fleet(
        accounts,
        given["regions"],
        given["rules"],
        options.customer_role_name,
        options.customer_scan_role_name,
    )
    report = plan_init(root, options, fleet, force=force)
    _print_report(report, out, err, check=check)
    if not check:
        write_init(root, report, options)
        applied = False
        if token:
            for line in apply_settings(options, http_requester(_api_url(root, options), token)):
                out.print(f"set on GitHub: {line}", highlight=False)
            applied = True
        _print_next_steps(report, options, out, applied=applied)
    else:
        stale = [c.generated.path for c in report.changes if c.action is not Action.UNCHANGED]
        if stale:
            raise StateRefusal(
                f"out of date: {', '.join(stale)}",
                hint="run `reclaim init` (without --check) and commit the result",
            )


def _print_report(report: InitReport, out: Console, err: Console, *, check: bool) -> None:
    for change in report.changes:
        if change.action in (Action.CONFLICT, Action.OVERWRITE) or (check and change.diff):
            err.print(change.diff, markup=False, highlight=False, end="")
    for change in report.changes:
        out.print(f"{change.action.value:>20}  {change.generated.path}", highlight=False)
    if report.oidc_provider:
        out.print(
            f"GitHub's OIDC provider is already declared in {report.oidc_provider}: the "
            "service role uses it (create_oidc_provider = false).",
            highlight=False,
        )
    for collision in report.collisions:
        err.print(
            f"[yellow]collision:[/yellow] {collision.path}: {collision.what}", highlight=False
        )
    for path in report.stale:
        err.print(
            f"[yellow]no longer generated:[/yellow] {path} (delete it if nothing else uses it)",
            highlight=False,
        )
    for unreadable in report.unreadable:
        err.print(f"[yellow]not read (HCL error):[/yellow] {unreadable}", highlight=False)
    for line in report.missing_scan_roles:
        err.print(
            f"[yellow]reclaim.yml:[/yellow] add to account {line} (scans assume only the "
            "read-only scan role; without it they are refused)",
            highlight=False,
            markup=True,
        )
    if report.unscoped_writes:
        err.print(
            "[yellow]note:[/yellow] granted on every resource (reclaim knows no narrower "
            f"IAM scope for them): {', '.join(report.unscoped_writes)}",
            highlight=False,
        )


def _api_url(root: Path, options: PipelineOptions) -> str:
    config = load_config(root / options.config_file)
    return config.forge.api_url if config.forge else "https://api.github.com"


def _print_next_steps(
    report: InitReport, options: PipelineOptions, out: Console, *, applied: bool
) -> None:
    if not applied and not any(c.action is Action.CREATE for c in report.changes):
        return
    out.print("next:", highlight=False)
    if "terraform" in options.parts:
        out.print(
            f"  # apply {options.terraform_dir}/service-role in the service account "
            f"({options.service_account_id}) and {options.terraform_dir}/customer-role in "
            "each customer account (see their README.md)",
            highlight=False,
        )
    for step in setup_steps(options, report.fleet):
        if applied and step.applied_by_token:
            continue
        out.print(f"  # {step.why}", highlight=False, soft_wrap=True)
        for command in step.commands:
            out.print(f"  {command}", highlight=False, soft_wrap=True, markup=False)
    out.print(
        "  # docs/pipeline.md explains each setting; commit what init wrote.", highlight=False
    )
