"""What `reclaim init` renders from: the init options and the fleet read from reclaim.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generator.config import ReclaimConfig
from generator.errors import ConfigError
from generator.pipeline.source import ACTION_PATTERN, default_action

Part = Literal["config", "workflows", "terraform", "codeowners"]
ALL_PARTS: tuple[Part, ...] = ("config", "workflows", "terraform", "codeowners")
_NAME = r"^[A-Za-z0-9_.+=@-]{1,64}$"
_ENVIRONMENT = r"^[A-Za-z0-9_.-]{1,255}$"
OIDC_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")
"""The repository's OIDC subject template `reclaim init` sets: the subject names the
workflow file and the ref it runs from, so a role can trust one file on one branch."""


class PipelineOptions(BaseModel):
    """The choices `reclaim init` records in .reclaim/pipeline.json, so a re-run repeats them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    default_branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]+$")
    service_account_id: str = Field(pattern=r"^\d{12}$")
    service_role_name: str = Field(default="reclaim-service", pattern=_NAME)
    """Hop 1 of apply and rollback: may assume only the remediation roles."""
    scan_service_role_name: str = Field(default="reclaim-service-scan", pattern=_NAME)
    """Hop 1 of the scan: may assume only the scan roles."""
    customer_role_name: str = Field(default="reclaim-remediation", pattern=_NAME)
    customer_scan_role_name: str = Field(default="reclaim-scan", pattern=_NAME)
    environment: str = Field(default="reclaim-apply", pattern=_ENVIRONMENT)
    """Apply and rollback: the default branch only, required reviewers, the ExternalIds."""
    scan_environment: str = Field(default="reclaim-scan", pattern=_ENVIRONMENT)
    """Scan and propose: the default branch only, the ExternalIds and the App's key."""
    scan_cron: str = "23 6 * * 1-5"
    scan_shards: int = Field(default=1, ge=1, le=32)
    code_scanning: bool = False
    """Upload each complete scan's findings as SARIF to GitHub code scanning (a job of its
    own, the only one with security-events: write). Off by default: a private repository
    needs GitHub Code Security for it."""
    python_version: str = Field(default="3.12", pattern=r"^3\.\d+$")
    action: str = Field(default_factory=default_action, pattern=ACTION_PATTERN)
    """OWNER/REPO@SHA of the action.yml that installs reclaim (see generator.pipeline.source)."""
    index_url: str | None = Field(default=None, pattern=r"^https://[^\s\"']+$")
    """Where the action downloads the hash-locked dependencies; None: PyPI."""
    config_file: str = "reclaim.yml"
    terraform_dir: str = "terraform"
    runner: str = "ubuntu-24.04"
    parts: tuple[Part, ...] = ALL_PARTS
    approvers: tuple[str, ...] = ()
    """@user or @org/team: the required reviewers of the approval environment."""

    @field_validator("approvers")
    @classmethod
    def _handles(cls, approvers: tuple[str, ...]) -> tuple[str, ...]:
        for approver in approvers:
            if not re.fullmatch(r"@[A-Za-z0-9-]+(/[A-Za-z0-9_.-]+)?", approver):
                raise ValueError(f"{approver!r} is not @user or @org/team")
        return approvers

    @model_validator(mode="before")
    @classmethod
    def _forget_package(cls, data: object) -> object:
        """Manifests of earlier versions recorded a package to pip-install by name."""
        if isinstance(data, dict) and "reclaim_package" in data:
            data = {k: v for k, v in data.items() if k != "reclaim_package"}
        return data

    @field_validator("scan_cron")
    @classmethod
    def _five_fields(cls, cron: str) -> str:
        fields = cron.split()
        if len(fields) != 5 or not all(re.fullmatch(r"[\d*/,-]+|[A-Za-z]{3}", f) for f in fields):
            raise ValueError("must be a five-field POSIX cron expression such as '23 6 * * 1-5'")
        return " ".join(fields)

    @field_validator("config_file", "terraform_dir")
    @classmethod
    def _relative(cls, path: str) -> str:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise ValueError("must be a path inside the repository, relative to --dir")
        return pure.as_posix()

    @property
    def service_role_arn(self) -> str:
        return f"arn:aws:iam::{self.service_account_id}:role/{self.service_role_name}"

    @property
    def scan_service_role_arn(self) -> str:
        return f"arn:aws:iam::{self.service_account_id}:role/{self.scan_service_role_name}"

    def workflow_ref(self, workflow: str) -> str:
        """The `job_workflow_ref` claim of a job in ``workflow`` on the default branch."""
        return (
            f"{self.repository}/.github/workflows/{workflow}.yml@refs/heads/{self.default_branch}"
        )

    def oidc_subject(self, workflow: str, environment: str) -> str:
        """The `sub` claim GitHub issues, under OIDC_CLAIM_KEYS, to a job of ``workflow`` on
        the default branch that names ``environment``."""
        return (
            f"repo:{self.repository}:environment:{environment}"
            f":job_workflow_ref:{self.workflow_ref(workflow)}"
        )

    @property
    def write_subjects(self) -> tuple[str, str]:
        """The only subjects the write role (hop 1 of apply and rollback) trusts."""
        return (
            self.oidc_subject("reclaim-apply", self.environment),
            self.oidc_subject("reclaim-rollback", self.environment),
        )

    @property
    def scan_subjects(self) -> tuple[str]:
        """The only subject the scan role (hop 1 of the scan) trusts."""
        return (self.oidc_subject("reclaim-scan", self.scan_environment),)


@dataclass(frozen=True)
class TargetAccount:
    id: str
    name: str
    role_arn: str
    """Hop 2 of apply and rollback: the remediation role."""
    scan_role_arn: str | None
    """Hop 2 of scans: the read-only role; None when reclaim.yml names none."""
    external_id_env: str | None
    regions: tuple[str, ...] | None
    """None: every region enabled in the account."""
    owners: tuple[str, ...]
    all_enabled: bool = False
    """Regions were given as 'all-enabled' (rather than left to the top-level list)."""

    def scan_role_default(self, name: str) -> str:
        return f"{self.role_arn.rsplit(':', 1)[0]}:role/{name}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or self.id


@dataclass(frozen=True)
class Fleet:
    """The parts of reclaim.yml the pipeline depends on."""

    accounts: tuple[TargetAccount, ...]
    regions: tuple[str, ...] | None
    enabled_rules: tuple[str, ...]
    skip_tag: str
    remediations_dir: str
    """Relative to the repository root, POSIX."""
    state_objects: tuple[str, ...] = ()
    """S3 objects of Terraform state the read role may get (reclaim.yml's iac:)."""
    terraform: bool = False
    """reclaim.yml's iac: names Terraform roots: merged code changes are applied with it."""

    @property
    def home_region(self) -> str:
        for regions in (self.regions, *(a.regions for a in self.accounts)):
            if regions:
                return regions[0]
        return "us-east-1"

    @property
    def external_id_envs(self) -> tuple[str, ...]:
        return tuple(sorted({a.external_id_env for a in self.accounts if a.external_id_env}))

    @property
    def customer_role_arns(self) -> tuple[str, ...]:
        return tuple(a.role_arn for a in self.accounts)

    def scan_role_arns(self, default_name: str) -> tuple[str, ...]:
        """Each account's scan role: as reclaim.yml names it, else the default name there."""
        return tuple(a.scan_role_arn or a.scan_role_default(default_name) for a in self.accounts)


def _regions(value: tuple[str, ...] | str | None) -> tuple[str, ...] | None:
    """A list of regions, or None for every enabled region."""
    if value is None or isinstance(value, str):
        return None
    return tuple(value)


def fleet_from_config(config: ReclaimConfig, repo_root: Path | None = None) -> Fleet:
    """Read the pipeline-relevant parts of a loaded reclaim.yml."""
    accounts = []
    top_regions = _regions(config.regions)
    for account in config.accounts:
        role_arn = account.role_arn
        if account.id is None or role_arn is None:
            raise ConfigError(
                f"account {account.name!r}: the pipeline needs both id and role_arn",
                hint="every account the pipeline reaches is assumed through its own role "
                "(hop 2): give each account in reclaim.yml an id and a role_arn",
            )
        accounts.append(
            TargetAccount(
                id=account.id,
                name=account.name,
                role_arn=role_arn,
                scan_role_arn=account.scan_role_arn,
                external_id_env=account.external_id_env,
                regions=top_regions if account.regions is None else _regions(account.regions),
                owners=account.owners,
                all_enabled=account.regions == "all-enabled",
            )
        )
    remediations = config.remediations_path
    root = config.base_dir.resolve() if repo_root is None else repo_root
    try:
        relative = PurePosixPath(remediations.relative_to(root).as_posix())
    except ValueError:
        raise ConfigError(
            f"output.remediations_dir ({remediations}) is outside the repository ({root})",
            hint="keep remediations inside the repository the pipeline runs in",
        ) from None
    return Fleet(
        accounts=tuple(accounts),
        regions=top_regions,
        enabled_rules=tuple(config.enabled_rules()),
        skip_tag=config.exclusions.skip_tag,
        remediations_dir=relative.as_posix(),
        state_objects=config.iac.state_objects,
        terraform=bool(config.iac.terraform),
    )
