"""Findings for people: a rich table on a terminal, markdown for PR comments, JSON for tools."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from generator.findings import FindingsReport, ScanError
from generator.report_stream import Totals
from generator.savings import net_savings

if TYPE_CHECKING:  # `scan` prints through this module and never runs the executor
    from generator.config import ReclaimConfig
    from generator.executor.runner import RunResult

_REASONS_SHOWN = 12


@dataclass
class ScanDetails:
    """What a person needs beside the findings to trust an empty or short list."""

    # (rule, reason with per-resource numbers replaced by N) → resources left alone
    left_alone: Counter[tuple[str, str]] = field(default_factory=Counter)
    # rule → clocks this scan started; rule → (setting, days) a clock must reach
    started: dict[str, int] = field(default_factory=dict)
    waits: dict[str, tuple[str, int]] = field(default_factory=dict)
    first_run: bool = False
    as_of: datetime | None = None
    regions: str | None = None  # which regions, and where that came from
    accounts: tuple[str, ...] = ()  # every account the scan reached
    warnings: tuple[ScanError, ...] = ()  # degraded data sources, with their effect
    state_file: str | None = None


def clock_waits(config: ReclaimConfig, rules: Iterable[str]) -> dict[str, tuple[str, int]]:
    """The age a first-seen clock must reach before each rule reports, from its settings."""
    waits: dict[str, tuple[str, int]] = {}
    for rule in rules:
        try:
            settings = config.rule_settings(rule)
        except AttributeError:
            continue
        for name, value in settings.model_dump().items():
            if re.fullmatch(r"min_\w+_days", name) and isinstance(value, int):
                waits[rule] = (name, value)
    return waits


def _left_alone_lines(details: ScanDetails) -> list[tuple[int, str, str]]:
    ranked = sorted(details.left_alone.items(), key=lambda item: (-item[1], item[0]))
    return [(count, rule, reason) for (rule, reason), count in ranked]


def _clock_sentences(details: ScanDetails) -> list[str]:
    if not details.started:
        return []
    total = sum(details.started.values())
    lead = "first run: " if details.first_run else ""
    sentences = [
        f"{lead}{total} resource(s) seen idle for the first time; their first-seen clocks "
        "start now (AWS records no detach time)"
    ]
    for rule, count in details.started.items():
        wait = details.waits.get(rule)
        if wait is None:
            continue
        setting, days = wait
        when = (
            f", on {details.as_of + timedelta(days=days):%Y-%m-%d} at the earliest"
            if details.as_of
            else ""
        )
        sentences.append(f"{rule} ({count} clock(s)) can report them after {setting}={days}{when}")
    return sentences


def _totals(report: FindingsReport, totals: Totals | None) -> Totals:
    return totals or Totals(
        len(report.findings), report.monthly_total, len(report.skipped), len(report.errors)
    )


def _showing(report: FindingsReport, totals: Totals) -> str:
    shown = len(report.findings)
    return f" (the {shown} largest shown)" if shown < totals.findings else ""


def findings_table(
    report: FindingsReport,
    totals: Totals | None = None,
    also_accounts: Iterable[str] = (),
    warnings: int = 0,
) -> Table:
    """The findings as a rich table; ``also_accounts`` are accounts scanned without a
    finding shown (so that a scan of one account names it even when nothing was found)."""
    accounts = sorted({f.account for f in report.findings} | set(also_accounts))
    # One account is said once, in the title; several get a column (a terminal is narrow).
    title = f"reclaim findings as of {report.as_of:%Y-%m-%d %H:%M UTC}"
    if len(accounts) == 1:
        title += f", account {accounts[0]}"
    table = Table(title=title)
    per_account = len(accounts) > 1
    if per_account:
        table.add_column("account", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("finding", ratio=1, min_width=16)
    table.add_column("$/month", justify="right", no_wrap=True)
    table.add_column("undo", no_wrap=True)
    table.add_column("risk", no_wrap=True)
    for finding in report.findings:
        price = (
            "unknown"
            if finding.cost.unknown
            else f"{finding.cost.monthly_usd:,.2f}" + ("*" if finding.cost.estimated else "")
        )
        table.add_row(
            *((finding.account,) if per_account else ()),
            finding.region,
            finding.resource_id,
            finding.title,
            price,
            finding.reversibility,
            finding.risk,
        )
    estimated = any(f.cost.estimated for f in report.findings)
    whole = _totals(report, totals)
    table.caption = (
        f"{whole.findings} finding(s){_showing(report, whole)}, ${whole.monthly_usd:,.2f}/month; "
        f"{whole.skipped} resource(s) left alone; {whole.errors} error(s)"
        + (f"; {warnings} warning(s)" if warnings else "")
        + ("; * estimated (us-east-1 list prices)" if estimated else "")
    )
    return table


def net_of_backup_lines(report: FindingsReport) -> list[str]:
    """One line per finding whose plan keeps a backup that is billed: the saving net of it."""
    lines = []
    for finding in report.findings:
        net = net_savings(finding)
        if net is not None:
            lines.append(
                f"{finding.resource_id}: {net.backup_words}; {net.net_words} {net.while_kept}"
                f"{net.then_words}"
            )
    return lines


def print_report(
    report: FindingsReport,
    fmt: str,
    console: Console,
    totals: Totals | None = None,
    details: ScanDetails | None = None,
) -> None:
    if fmt == "json":
        console.print_json(json.dumps(report.model_dump(mode="json")))
        return
    if fmt == "markdown":
        console.print(
            findings_markdown(report, totals, details),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    if details is not None and details.regions:
        console.print(f"regions: {details.regions}", markup=False, highlight=False)
    console.print(
        findings_table(
            report,
            totals,
            details.accounts if details else (),
            len(details.warnings) if details else 0,
        )
    )
    backups = net_of_backup_lines(report)
    if backups:
        console.print("net of the backups the plans keep:", highlight=False)
        for line in backups:
            console.print(f"  {line}", markup=False, highlight=False)
    for error in report.errors:
        console.print(
            f"[red]error[/red] {error.account}/{error.region}/{error.rule}: "
            f"{escape(error.message)}",
            highlight=False,
        )
    if details is not None:
        for line in details_text(details):
            console.print(line, markup=False, highlight=False)


def details_text(details: ScanDetails) -> list[str]:
    """The lines under the table: why resources were left alone, and the clocks."""
    lines = [f"warning {w.account}/{w.region}/{w.rule}: {w.message}" for w in details.warnings]
    grouped = _left_alone_lines(details)
    if grouped:
        total = sum(count for count, _, _ in grouped)
        lines.append(f"left alone: {total} resource(s), by reason")
        width = len(str(grouped[0][0]))
        rule_width = max(len(rule) for _, rule, _ in grouped[:_REASONS_SHOWN])
        for count, rule, reason in grouped[:_REASONS_SHOWN]:
            lines.append(f"  {count:>{width}}  {rule:<{rule_width}}  {reason}")
        if len(grouped) > _REASONS_SHOWN:
            lines.append(f"  ... and {len(grouped) - _REASONS_SHOWN} more reason(s)")
        lines.append("  (each resource with its reason: reclaim scan --format json)")
    lines.extend(_clock_sentences(details))
    if details.state_file:
        lines.append(
            f"first-seen clocks saved in {details.state_file} (keep it: the next scan "
            "measures ages from it)"
        )
    return lines


def findings_markdown(
    report: FindingsReport, totals: Totals | None = None, details: ScanDetails | None = None
) -> str:
    whole = _totals(report, totals)
    lines = [
        f"**{whole.findings} finding(s), ${whole.monthly_usd:,.2f}/month** "
        f"(as of {report.as_of:%Y-%m-%d %H:%M UTC}){_showing(report, whole)}",
    ]
    if details is not None and details.regions:
        lines.append(f"\nRegions: {_cell(details.regions)}")
    lines += [
        "",
        "| account | region | finding | $/month | reversibility | risk |",
        "|---|---|---|---:|---|---|",
    ]
    for finding in report.findings:
        estimated = " (est.)" if finding.cost.estimated else ""
        price = "unknown" if finding.cost.unknown else f"{finding.cost.monthly_usd:,.2f}{estimated}"
        lines.append(
            f"| {finding.account} | {finding.region} | {_cell(finding.title)} | {price} "
            f"| {finding.reversibility} | {finding.risk} |"
        )
    backups = net_of_backup_lines(report)
    if backups:
        lines += ["", "Net of the backups the plans keep:", ""]
        lines.extend(f"- {_cell(line)}" for line in backups)
    for error in report.errors:
        lines.append(f"\n- error in {error.account}/{error.region}/{error.rule}: {error.message}")
    if details is not None:
        for warning in details.warnings:
            lines.append(
                f"\n- warning in {warning.account}/{warning.region}/{warning.rule}: "
                f"{warning.message}"
            )
        grouped = _left_alone_lines(details)
        if grouped:
            total = sum(count for count, _, _ in grouped)
            lines += [
                "",
                f"**Left alone: {total} resource(s)**",
                "",
                "| resources | rule | reason |",
                "|---:|---|---|",
            ]
            for count, rule, reason in grouped[:_REASONS_SHOWN]:
                lines.append(f"| {count} | {rule} | {_cell(reason)} |")
            if len(grouped) > _REASONS_SHOWN:
                lines.append(f"| | | ... and {len(grouped) - _REASONS_SHOWN} more reason(s) |")
        clocks = _clock_sentences(details)
        if clocks:
            lines.append("")
            lines.extend(f"- {sentence}" for sentence in clocks)
    return "\n".join(lines)


def step_summary(
    report: FindingsReport,
    totals: Totals | None = None,
    details: ScanDetails | None = None,
    shard: str | None = None,
) -> str:
    """The scan as a GitHub Actions job summary: a heading, then the markdown report (the
    findings with their cost, what was left alone grouped by reason, warnings, errors)."""
    heading = "## reclaim scan" + (f", shard {shard}" if shard else "")
    return "\n".join([heading, "", findings_markdown(report, totals, details)]) + "\n"


def append_step_summary(text: str, env: Mapping[str, str]) -> Path | None:
    """Append ``text`` to the file $GITHUB_STEP_SUMMARY names; nothing when it is unset
    (outside GitHub Actions). Returns the file written."""
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(text if text.endswith("\n") else text + "\n")
    return path


def _cell(text: str) -> str:
    """A markdown table cell that a tag value cannot split or format."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def print_run(result: RunResult, console: Console) -> None:
    if result.nothing_to_do:
        console.print(f"{result.plan_id}: {result.nothing_to_do}", highlight=False)
        return
    table = Table(title=f"{result.kind} {result.plan_id}")
    table.add_column("step")
    table.add_column("status")
    table.add_column("outputs")
    for step in result.steps:
        outputs = ", ".join(f"{k}={v}" for k, v in step.outputs.items() if v is not None)
        table.add_row(step.step_id, step.status, outputs)
    console.print(table)
    console.print(f"{result.kind} of {result.plan_id} completed", highlight=False)
