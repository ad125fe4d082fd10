"""Findings as SARIF 2.1.0, for GitHub code scanning: one result per finding.

Each result points at the finding's remediation folder in the repository
(``<remediations_dir>/<finding-id>/plan.json``; ``README.md`` for a report-only finding,
which is never planned) and carries fingerprints derived from the finding ID alone (rule,
account, region, resource), so that code scanning keeps one alert per resource across scans
and closes it when a scan no longer reports it. The scan's errors and warnings become the
invocation's tool execution notifications.

Pure: a FindingsReport in, a JSON-ready dict out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from generator import __version__
from generator.findings import Finding, FindingsReport, Risk, ScanError
from generator.manifest.folder import PLAN_FILE, README_FILE
from generator.pipeline.source import UPSTREAM

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "reclaimFinding/v1"
"""reclaim's own fingerprint of a result; GitHub also reads ``primaryLocationLineHash``."""
INFORMATION_URI = f"https://github.com/{UPSTREAM}"

_LEVELS: dict[Risk, str] = {"high": "error", "medium": "warning", "low": "note"}
_NO_CHANGE = "reports it only: reclaim proposes no change for it"


def level_for(risk: Risk) -> str:
    """The SARIF level of a finding: how much a reviewer has to weigh before merging."""
    return _LEVELS[risk]


def fingerprint(finding: Finding) -> str:
    """The finding's identity as a hex digest: the same resource (rule, account, region,
    resource) gives the same value in every scan, whatever its cost, age or title."""
    return hashlib.sha256(finding.id.encode()).hexdigest()


def remediation_uri(finding: Finding, remediations_dir: str) -> str:
    """The repository-relative URI of the file a finding's PR adds (a report-only finding
    gets no PR: its folder's README.md is where one would be)."""
    name = README_FILE if finding.reversibility == "report-only" else PLAN_FILE
    folder = remediations_dir.strip("/")
    path = f"{folder}/{finding.id}/{name}" if folder and folder != "." else f"{finding.id}/{name}"
    return quote(path, safe="/")


def _price(finding: Finding) -> str:
    if finding.cost.unknown:
        return "saving not priced"
    estimated = " (estimated from us-east-1 list prices)" if finding.cost.estimated else ""
    return f"${finding.cost.monthly_usd:,.2f}/month{estimated}"


def _rule_entries(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Every rule of the catalog (so an alert's rule is described even in a scan without
    findings of it), then any rule a findings file names that this reclaim does not know."""
    from generator.rules import RULES

    entries = [_rule_entry(name) for name in RULES]
    known = set(RULES)
    for name in sorted({f.rule for f in findings} - known):
        entries.append(
            {
                "id": name,
                "name": name,
                "shortDescription": {"text": f"{name} (a rule this reclaim does not know)"},
                "defaultConfiguration": {"level": "warning"},
            }
        )
    return entries


def _rule_entry(name: str) -> dict[str, Any]:
    from generator.rules import RULES

    rule = RULES[name]
    docs = rule.docs
    change = docs.change or _NO_CHANGE
    text = [f"Finds: {docs.finds}.", f"Change: {change}."]
    markdown = [f"**Finds:** {docs.finds}", "", f"**Change:** {change}"]
    if docs.undo:
        text.append(f"Undo: {docs.undo}.")
        markdown += ["", f"**Undo:** {docs.undo}"]
    text.append(f"Reversibility: {rule.reversibility}.")
    markdown += ["", f"**Reversibility:** {rule.reversibility}"]
    return {
        "id": rule.name,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(text)},
        "help": {"text": " ".join(text), "markdown": "\n".join(markdown)},
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["cost", "aws", rule.resource_type],
            "resourceType": rule.resource_type,
            "reversibility": rule.reversibility,
            "reportOnly": rule.report_only,
        },
    }


def _result(finding: Finding, rule_index: int, remediations_dir: str) -> dict[str, Any]:
    from generator.rules import RULES

    report_only = finding.reversibility == "report-only"
    rule = RULES.get(finding.rule)
    if report_only:
        does = _NO_CHANGE
    elif rule is not None and rule.docs.change:
        does = f"the plan in its pull request does: {rule.docs.change}"
    else:
        does = "its pull request carries the plan"
    digest = fingerprint(finding)
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": level_for(finding.risk),
        "message": {
            "text": f"{finding.title}: {_price(finding)}; {does} "
            f"(reversibility {finding.reversibility}, risk {finding.risk})."
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": remediation_uri(finding, remediations_dir),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {
                        "name": finding.resource_id,
                        "fullyQualifiedName": f"{finding.account}/{finding.region}/"
                        f"{finding.resource_id}",
                        "kind": "resource",
                    }
                ],
            }
        ],
        "partialFingerprints": {
            FINGERPRINT_KEY: digest,
            "primaryLocationLineHash": f"{digest[:16]}:1",
        },
        "properties": {
            "findingId": finding.id,
            "account": finding.account,
            "region": finding.region,
            "resourceType": finding.resource_type,
            "resourceId": finding.resource_id,
            "monthlyUsd": finding.cost.monthly_usd,
            "costEstimated": finding.cost.estimated,
            "costUnknown": finding.cost.unknown,
            "costBasis": finding.cost.basis,
            "reversibility": finding.reversibility,
            "risk": finding.risk,
            "riskReasons": list(finding.risk_reasons),
            "reportOnly": report_only,
        },
    }


def _notification(problem: ScanError, level: str) -> dict[str, Any]:
    where = f"{problem.account}/{problem.region}/{problem.rule}"
    text = f"{where}: {problem.message}" + (f" (hint: {problem.hint})" if problem.hint else "")
    notification: dict[str, Any] = {
        "level": level,
        "message": {"text": text},
        "properties": {
            "account": problem.account,
            "region": problem.region,
            "rule": problem.rule,
        },
    }
    if problem.rule != "*":
        notification["associatedRule"] = {"id": problem.rule}
    return notification


def sarif_log(report: FindingsReport, remediations_dir: str = "remediations") -> dict[str, Any]:
    """The report as one SARIF run; results in finding-ID order, so that two scans of the
    same resources give the same document but for the costs and the as-of instant."""
    findings = sorted(report.findings, key=lambda f: f.id)
    rules = _rule_entries(findings)
    index = {entry["id"]: i for i, entry in enumerate(rules)}
    notifications = [_notification(e, "error") for e in report.errors] + [
        _notification(w, "warning") for w in report.warnings
    ]
    invocation: dict[str, Any] = {
        "executionSuccessful": not report.errors,
        "properties": {"asOf": report.as_of.isoformat().replace("+00:00", "Z")},
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "reclaim",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "originalUriBaseIds": {
            "%SRCROOT%": {"description": {"text": "The root of the repository."}}
        },
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.rule], remediations_dir) for f in findings],
    }
    if report.shard is not None:
        run["properties"] = {"shard": str(report.shard)}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
