"""Findings for people: a rich table on a terminal, markdown for PR comments, JSON for tools."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from generator.executor.runner import RunResult
from generator.findings import FindingsReport
from generator.report_stream import Totals


def _totals(report: FindingsReport, totals: Totals | None) -> Totals:
    return totals or Totals(
        len(report.findings), report.monthly_total, len(report.skipped), len(report.errors)
    )


def _showing(report: FindingsReport, totals: Totals) -> str:
    shown = len(report.findings)
    return f" (the {shown} largest shown)" if shown < totals.findings else ""


def findings_table(report: FindingsReport, totals: Totals | None = None) -> Table:
    table = Table(title=f"reclaim findings as of {report.as_of:%Y-%m-%d %H:%M UTC}")
    table.add_column("region", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("finding", ratio=1)
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
        + ("; * estimated (us-east-1 list prices)" if estimated else "")
    )
    return table


def print_report(
    report: FindingsReport, fmt: str, console: Console, totals: Totals | None = None
) -> None:
    if fmt == "json":
        console.print_json(json.dumps(report.model_dump(mode="json")))
        return
    if fmt == "markdown":
        console.print(
            findings_markdown(report, totals), markup=False, highlight=False, soft_wrap=True
        )
        return
    console.print(findings_table(report, totals))
    for error in report.errors:
        console.print(
            f"[red]error[/red] {error.account}/{error.region}/{error.rule}: {error.message}",
            highlight=False,
        )


def findings_markdown(report: FindingsReport, totals: Totals | None = None) -> str:
    whole = _totals(report, totals)
    lines = [
        f"**{whole.findings} finding(s), ${whole.monthly_usd:,.2f}/month** "
        f"(as of {report.as_of:%Y-%m-%d %H:%M UTC}){_showing(report, whole)}",
        "",
        "| finding | $/month | reversibility | risk |",
        "|---|---:|---|---|",
    ]
    for finding in report.findings:
        estimated = " (est.)" if finding.cost.estimated else ""
        price = "unknown" if finding.cost.unknown else f"{finding.cost.monthly_usd:,.2f}{estimated}"
        lines.append(
            f"| {_cell(finding.title)} | {price} | {finding.reversibility} | {finding.risk} |"
        )
    for error in report.errors:
        lines.append(f"\n- error in {error.account}/{error.region}/{error.rule}: {error.message}")
    return "\n".join(lines)


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
