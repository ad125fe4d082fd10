"""propose: each executable finding becomes one proposal on the configured forge.

The whole report goes to the forge sync, not just the findings: the completed scan units
decide which open proposals are stale, the skipped resources say why, and the dashboard
shows everything, report-only findings and scan errors included.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from generator.config import ReclaimConfig
from generator.errors import ConfigError
from generator.findings import Finding, FindingsReport
from generator.forge.base import Forge, Proposal, ProposalResult
from generator.forge.dashboard import render_dashboard
from generator.forge.local import LocalGitForge
from generator.forge.sync import (
    Limits,
    ScanScope,
    SyncReport,
    held_after,
    plan_sync,
    run_sync,
)
from generator.forge.track_record import track_record
from generator.held import Held, proposals_path, read_proposals, same_holdings, write_held
from generator.planner import Remediation, executable, plan_finding
from generator.realized import RealizedReport, applied_changes

if TYPE_CHECKING:
    from generator.aws.fleet import SessionFor
    from generator.iac.managed import IacIndex

# What changes between two scans of an unchanged resource (the scan time, and idle-day
# counts in the title, evidence and risk wording): never a reason to touch a PR. The risk
# level itself stays material.
_VOLATILE_FINDING_FIELDS = ("observed_at", "title", "evidence", "risk_reasons")


def savings_band(monthly_usd: float) -> str:
    for ceiling, label in (
        (10, "savings:<$10"),
        (100, "savings:$10-100"),
        (1000, "savings:$100-1k"),
    ):
        if monthly_usd < ceiling:
            return label
    return "savings:$1k+"


def material_fingerprint(remediation: Remediation) -> str:
    """Digest of the plan and rollback minus the scan time and the idle-day counts."""
    plan = remediation.plan.model_dump(mode="json")
    plan["finding"] = {
        key: value for key, value in plan["finding"].items() if key not in _VOLATILE_FINDING_FIELDS
    }
    payload = {"plan": plan, "rollback": remediation.rollback.model_dump(mode="json")}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def proposal_for(remediation: Remediation, folder_in_repo: str) -> Proposal:
    finding: Finding = remediation.finding
    saving = (
        "savings unknown" if finding.cost.unknown else f"${finding.cost.monthly_usd:,.2f}/month"
    )
    return Proposal(
        finding_id=finding.id,
        title=f"reclaim: {finding.title} ({saving})",
        body=remediation.readme,
        files={
            f"{folder_in_repo}/{finding.id}/{name}": content
            for name, content in remediation.files.items()
        },
        labels=(
            "reclaim",
            f"reclaim:{finding.rule}",
            f"risk:{finding.risk}",
            "savings:unknown" if finding.cost.unknown else savings_band(finding.cost.monthly_usd),
        ),
        monthly_usd=finding.cost.monthly_usd,
        fingerprint=material_fingerprint(remediation),
        rule=finding.rule,
        account=finding.account,
        region=finding.region,
        supersedes=finding.supersedes or "",
    )


def forge_from_config(config: ReclaimConfig, env: Mapping[str, str] | None = None) -> Forge:
    if config.forge.type == "github":
        from generator.forge.github import GitHubSettings, connect
        from generator.forge.github_auth import github_auth

        assert config.forge.repository is not None  # the config model requires it
        settings = GitHubSettings(
            repository=config.forge.repository,
            base_branch=config.forge.base_branch,
            api_url=config.forge.api_url,
            reviewers=config.forge.reviewers,
        )
        return connect(settings, github_auth(config.forge.app, os.environ if env is None else env))
    dashboard = config.state_path.parent / "dashboard.md" if config.forge.dashboard else None
    return LocalGitForge(
        config.resolve(config.forge.path), config.forge.base_branch, dashboard_path=dashboard
    )


def limits_from_config(config: ReclaimConfig) -> Limits:
    return Limits(
        max_open=config.forge.max_open_prs,
        max_new_per_run=config.forge.max_new_prs_per_run,
        reopen_cost_ratio=config.forge.reopen_cost_ratio,
    )


def remediations_in_repo(config: ReclaimConfig) -> str:
    if config.forge.type == "github":
        # The PRs go to a remote repository: the folder is a path inside it.
        return config.output.remediations_dir.strip("/")
    repo = config.resolve(config.forge.path)
    try:
        return config.remediations_path.relative_to(repo).as_posix()
    except ValueError:
        raise ConfigError(
            f"output.remediations_dir ({config.remediations_path}) is outside the forge "
            f"repository ({repo})",
            hint="keep remediations inside the repository that receives the PRs",
        ) from None


def scan_scope(report: FindingsReport) -> ScanScope:
    from generator.findings import finding_id

    return ScanScope(
        completed=frozenset((u.rule, u.account, u.region) for u in report.completed),
        skipped={
            finding_id(s.rule, s.account, s.region, s.resource_id): s.reason for s in report.skipped
        },
    )


def sync_proposals(
    report: FindingsReport,
    forge: Forge,
    folder_in_repo: str,
    *,
    limits: Limits | None = None,
    dashboard: bool = True,
    iac: IacIndex | None = None,
    repo_root: Path | None = None,
    realized: RealizedReport | None = None,
    scanned_with: Held | None = None,
) -> SyncReport:
    """Open, refresh or close proposals for this report and update the dashboard.

    With ``iac``, a finding whose resource infrastructure code manages gets no API plan:
    its proposal carries the code change (or says, labelled needs-human, what to change)."""
    findings = executable(report.findings)
    proposals = []
    if iac is not None:
        from generator.iac.proposal import iac_proposal, split_managed

        findings, changes = split_managed(iac, findings, repo_root or Path.cwd())
        for change in changes:
            parts = iac_proposal(change, folder_in_repo)
            finding = change.finding
            proposals.append(
                Proposal(
                    finding_id=finding.id,
                    title=parts.title,
                    body=parts.body,
                    files=parts.files,
                    code_edits=parts.code_edits,
                    labels=parts.labels,
                    monthly_usd=finding.cost.monthly_usd,
                    fingerprint=parts.fingerprint,
                    rule=finding.rule,
                    account=finding.account,
                    region=finding.region,
                )
            )
    proposals += [proposal_for(plan_finding(finding), folder_in_repo) for finding in findings]
    existing = forge.existing_proposals()
    plan = plan_sync(
        proposals,
        existing,
        scan_scope(report),
        limits or Limits(),
        as_of=f"{report.as_of:%Y-%m-%d %H:%M UTC}",
        scanned_with=scanned_with,
    )
    render = (
        partial(
            render_dashboard,
            report,
            existing=existing,
            track=track_record(
                applied_changes((repo_root or Path.cwd()) / folder_in_repo), realized
            ),
        )
        if dashboard
        else None
    )
    outcome = run_sync(forge, plan, render)
    outcome.held = held_after(existing, outcome.results, report.as_of)
    return outcome


def write_proposals_file(config: ReclaimConfig, outcome: SyncReport) -> Path | None:
    """The proposals file beside the state file (generator.held), which the next scan reads
    to confirm the findings propose will open rather than the ones it holds. Rewritten only
    when what is held changed (its as-of time is then this run's), so that an unchanged
    forge commits nothing; not written while nothing is held and there is no file yet."""
    if outcome.held is None:
        return None
    path = proposals_path(config.state_path)
    before, _ = read_proposals(path)
    now = outcome.held
    if before is not None and same_holdings(before, now):
        return None
    if before is None and not path.exists() and not (now.open or now.merged or now.declined):
        return None
    write_held(path, now)
    return path


def ops_repo_root(config: ReclaimConfig) -> Path:
    """The repository that receives the pull requests, as checked out here: only its files
    can be edited by a proposal."""
    if config.forge.type == "local":
        return config.resolve(config.forge.path)
    import subprocess

    found = subprocess.run(
        ["git", "-C", str(config.base_dir), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(found.stdout.strip()) if found.returncode == 0 else config.base_dir.resolve()


def iac_index(config: ReclaimConfig, session_for: SessionFor | None) -> IacIndex | None:
    """The state of reclaim.yml's Terraform roots (None when there are none and
    CloudFormation is not looked for); S3 state is read by the scan role of its account."""
    from generator.iac.managed import IacIndex

    if not config.iac.terraform and not config.iac.cloudformation:
        return None

    def s3_reader(index: int) -> Callable[[str, str, str], bytes]:
        def read(bucket: str, key: str, region: str) -> bytes:
            from generator.iac.s3 import read_object

            if session_for is None:
                raise ConfigError("reading Terraform state from S3 needs the role chain")
            session = session_for(config.state_reader(index))
            return read_object(session.client("s3", region), bucket, key)

        return read

    return IacIndex.load(config.iac, config.base_dir, s3_reader)


def propose(
    report: FindingsReport,
    forge: Forge,
    folder_in_repo: str,
    *,
    iac: IacIndex | None = None,
    repo_root: Path | None = None,
) -> list[ProposalResult]:
    """`sync_proposals` for callers that want the results or an error."""
    outcome = sync_proposals(report, forge, folder_in_repo, iac=iac, repo_root=repo_root)
    if outcome.stopped is not None:
        raise outcome.stopped
    return outcome.results
