"""`reclaim measure-savings`: the scan's reading of what applied changes saved, for propose.

It runs in a scan job (read-only credentials, the default branch checked out): the journals
there say which plans were applied and rolled back, Cost Explorer says what they cost before
and after (generator.realized). The reading is written to a file that the propose job, which
has no AWS access, turns into the dashboard's track record. Cost Explorer not answering is
said once per account and never fails the scan: the exit code is 0 whenever the file is
written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from generator.aws.fleet import SessionFor
from generator.config import ReclaimConfig
from generator.errors import ConfigError, ManifestError
from generator.fileio import write_atomically
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


def measure_savings_command(
    config: ReclaimConfig,
    as_of: datetime,
    output: Path,
    *,
    err: Console,
    session_for: SessionFor | None = None,
) -> RealizedReport:
    changes = applied_changes(config.remediations_path)
    report = measure_changes(changes, _ce_for(config, session_for or chain_sessions(config)), as_of)
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
    return load_json_model(
        path,
        RealizedReport,
        ManifestError,
        hint="pass the --output file of `reclaim measure-savings`",
    )
