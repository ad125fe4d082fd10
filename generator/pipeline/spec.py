"""What `reclaim init` renders from: the init options and the fleet read from reclaim.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator import __version__
from generator.config import ReclaimConfig
from generator.errors import ConfigError

Part = Literal["config", "workflows", "terraform", "codeowners"]
ALL_PARTS: tuple[Part, ...] = ("config", "workflows", "terraform", "codeowners")
_NAME = r"^[A-Za-z0-9_.+=@-]{1,64}$"


class PipelineOptions(BaseModel):
    """The choices `reclaim init` records in .reclaim/pipeline.json, so a re-run repeats them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    default_branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]+$")
    service_account_id: str = Field(pattern=r"^\d{12}$")
    service_role_name: str = Field(default="reclaim-service", pattern=_NAME)
    customer_role_name: str = Field(default="reclaim-remediation", pattern=_NAME)
    environment: str = Field(default="reclaim-apply", pattern=r"^[A-Za-z0-9_.-]{1,255}$")
    scan_cron: str = "23 6 * * 1-5"
    scan_shards: int = Field(default=1, ge=1, le=32)
    python_version: str = Field(default="3.12", pattern=r"^3\.\d+$")
    reclaim_package: str = Field(default=f"reclaim=={__version__}", min_length=1)
    config_file: str = "reclaim.yml"
    terraform_dir: str = "terraform"
    runner: str = "ubuntu-24.04"
    parts: tuple[Part, ...] = ALL_PARTS

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
    def oidc_subjects(self) -> tuple[str, str]:
        """The two `sub` claims the service role trusts: the default branch (scheduled scans)
        and the approval environment (apply and rollback)."""
        return (
            f"repo:{self.repository}:ref:refs/heads/{self.default_branch}",
            f"repo:{self.repository}:environment:{self.environment}",
        )


@dataclass(frozen=True)
class TargetAccount:
    id: str
    name: str
    role_arn: str
    external_id_env: str | None
    regions: tuple[str, ...] | None
    """None: every region enabled in the account."""
    owners: tuple[str, ...]
    all_enabled: bool = False
    """Regions were given as 'all-enabled' (rather than left to the top-level list)."""

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
    )
