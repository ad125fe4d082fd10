"""`reclaim measure-savings`: the scan's reading of what applied changes saved, for propose.

It runs in a scan job (read-only credentials, the default branch checked out): the journals
there say which plans were applied and rolled back, Cost Explorer says what they cost before
and after (generator.realized). The reading is written to a file that the propose job, which
has no AWS access, turns into the dashboard's track record. Cost Explorer not answering is
said once per account and never fails the scan: the exit code is 0 whenever the file is
written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from generator.aws.fleet import SessionFor
from generator.aws.recommenders import second_opinion
from generator.config import ReclaimConfig
from generator.errors import ConfigError, ManifestError, ReclaimError
from generator.fileio import write_atomically
from generator.findings import Finding
from generator.realized import RealizedReport, applied_changes, measure_changes
from generator.scan import chain_sessions
from generator.untrusted import load_json_model

CE_REGION = "us-east-1"
"""Cost Explorer's endpoint."""


def _ce_for(config: ReclaimConfig, session_for: SessionFor) -> Any:
    def ce_for(account_id: str) -> Any:
        account = config.account_for_id(account_id)
        if account is not None:
            return session_for(account).client("ce", CE_REGION)
        for unnamed in (a for a in config.accounts if a.expected_id is None):
            session = session_for(unnamed)  # no ID in reclaim.yml: ask which account it is
            if session.account_id(config.home_region) == account_id:
                return session.client("ce", CE_REGION)
        raise ConfigError("is not in reclaim.yml: its changes are not measured")

    return ce_for


def corroborations(
    findings: Iterable[Finding], client_for: Callable[[str], Callable[[str, str], Any]]
) -> tuple[list[str], list[str], list[str]]:
    """(asked, corroborated, unavailable): which of this scan's findings AWS's recommenders
    answered for and also flag, one lookup per account and region (the dashboard's count;
    the per-PR comments are the re-check's, generator.pipeline.second_opinion)."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.account, finding.region), []).append(finding)
    asked: list[str] = []
    corroborated: list[str] = []
    unavailable: dict[str, str] = {}
    for (account, region), found in sorted(groups.items()):
        try:
            clients = client_for(account)
        except ReclaimError as error:
            unavailable.setdefault(f"account {account}", error.message)
            continue
        except (ClientError, BotoCoreError) as error:  # the role chain refused
            unavailable.setdefault(f"account {account}", f"not reached ({error})")
            continue
        opinion = second_opinion(clients, account, region, [f.resource_id for f in found])
        for source, why in opinion.unavailable.items():
            unavailable.setdefault(source, why)
        if opinion.asked():
            asked += [f.id for f in found]
            corroborated += [f.id for f in found if opinion.corroborates(f.resource_id)]
    return sorted(asked), sorted(corroborated), [f"{k}: {v}" for k, v in unavailable.items()]


def _clients_for(config: ReclaimConfig, session_for: SessionFor) -> Any:
    def clients(account_id: str) -> Callable[[str, str], Any]:
        account = config.account_for_id(account_id)
        if account is None:
            unnamed = [a for a in config.accounts if a.expected_id is None]
            if not unnamed:
                raise ConfigError("is not in reclaim.yml")
            account = unnamed[0]
        session = session_for(account)
        return lambda service, region: session.client(service, region)

    return clients


def measure_savings_command(
    config: ReclaimConfig,
    as_of: datetime,
    output: Path,
    *,
    err: Console,
    session_for: SessionFor | None = None,
    findings: Iterable[Finding] = (),
) -> RealizedReport:
    """Measure applied changes' savings and, when ``findings`` are given and
    forge.second_opinion is on, count the findings AWS's recommenders corroborate."""
    sessions = session_for or chain_sessions(config)
    changes = applied_changes(config.remediations_path)
    report = measure_changes(changes, _ce_for(config, sessions), as_of)
    findings = list(findings)
    if findings and config.forge.second_opinion:
        asked, corroborated, refused = corroborations(findings, _clients_for(config, sessions))
        report = report.model_copy(
            update={
                "second_opinion_asked": tuple(asked),
                "corroborated": tuple(corroborated),
                "second_opinion_unavailable": tuple(refused),
            }
        )
        for reason in refused:
            err.print(f"second opinion: not asked: {reason}", markup=False, highlight=False)
        err.print(
            f"second opinion: AWS corroborates {len(corroborated)} of {len(asked)} "
            "finding(s) it answered for",
            markup=False,
            highlight=False,
        )
    write_atomically(output, report.model_dump_json(indent=2) + "\n")
    for reason in report.unavailable:
        err.print(f"realized savings not measured: {reason}", markup=False, highlight=False)
    err.print(
        f"realized savings: {len(report.measurements)} of {len(changes)} applied change(s) "
        f"measured -> {output}",
        markup=False,
        highlight=False,
    )
    return report


def load_reading(path: Path | None, err: Console) -> RealizedReport | None:
    """The scan's reading for propose; missing (the measuring step did not run or failed):
    None, said once, and the dashboard says it was not measured."""
    if path is None:
        return None
    if not path.exists():
        err.print(
            f"no realized-savings reading at {path}: the dashboard says not measured",
            markup=False,
            highlight=False,
        )
        return None
    try:
        return load_json_model(
            path,
            RealizedReport,
            ManifestError,
            hint="pass the --output file of `reclaim measure-savings`",
        )
    except ReclaimError as error:  # the dashboard goes on without it
        err.print(f"realized-savings reading not used: {error.message}", markup=False)
        return None
