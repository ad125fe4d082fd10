"""propose: each executable finding becomes one proposal on the configured forge."""

from __future__ import annotations

from generator.config import ReclaimConfig
from generator.errors import ConfigError
from generator.findings import Finding, FindingsReport
from generator.forge.base import Forge, Proposal, ProposalResult
from generator.forge.local import LocalGitForge
from generator.planner import Remediation, executable, plan_finding


def savings_band(monthly_usd: float) -> str:
    for ceiling, label in (
        (10, "savings:<$10"),
        (100, "savings:$10-100"),
        (1000, "savings:$100-1k"),
    ):
        if monthly_usd < ceiling:
            return label
    return "savings:$1k+"


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
    )


def forge_from_config(config: ReclaimConfig) -> LocalGitForge:
    return LocalGitForge(config.resolve(config.forge.path), config.forge.base_branch)


def remediations_in_repo(config: ReclaimConfig) -> str:
    repo = config.resolve(config.forge.path)
    try:
        return config.remediations_path.relative_to(repo).as_posix()
    except ValueError:
        raise ConfigError(
            f"output.remediations_dir ({config.remediations_path}) is outside the forge "
            f"repository ({repo})",
            hint="keep remediations inside the repository that receives the PRs",
        ) from None


def propose(report: FindingsReport, forge: Forge, folder_in_repo: str) -> list[ProposalResult]:
    return [
        forge.propose(proposal_for(plan_finding(finding), folder_in_repo))
        for finding in executable(report.findings)
    ]
