"""reclaim.yml: the model, loading, and errors that name the key path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from generator.errors import ConfigError, describe_validation_error
from generator.exclusions import Exclusions
from generator.rules import RULES
from generator.rules.base import RuleSettings

DEFAULT_CONFIG_NAME = "reclaim.yml"
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Strict):
    name: str = Field(default="default", min_length=1)
    id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="12-digit account ID; absent means the account of the ambient credentials.",
    )


class OutputConfig(_Strict):
    remediations_dir: str = "remediations"
    state_file: str = ".reclaim/state.json"


class GitHubAppConfig(_Strict):
    """A GitHub App installation: its PRs trigger the apply workflow (the workflow's own
    GITHUB_TOKEN cannot). The private key comes from an environment variable, never the file."""

    app_id: int = Field(gt=0)
    installation_id: int = Field(gt=0)
    private_key_env: str = Field(
        default="RECLAIM_GITHUB_APP_PRIVATE_KEY",
        description="Environment variable holding the App's PEM private key.",
    )


class ForgeConfig(_Strict):
    type: Literal["local", "github"] = "local"
    path: str = Field(default=".", description="The git repository that receives the PRs.")
    base_branch: str = Field(default="main", min_length=1)
    repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="GitHub repository owner/name (forge.type: github).",
    )
    api_url: str = Field(
        default="https://api.github.com",
        pattern=r"^https?://",
        description="GitHub API URL; GitHub Enterprise Server: https://HOST/api/v3.",
    )
    max_open_prs: int = Field(default=10, ge=1)
    max_new_prs_per_run: int = Field(default=5, ge=0)
    reviewers: tuple[str, ...] = Field(
        default=(), description="Users or @org/team slugs asked to review every new PR."
    )
    reopen_cost_ratio: float = Field(
        default=2.0,
        gt=1.0,
        description="A PR a human closed is proposed again only when the finding's cost "
        "grew by at least this factor.",
    )
    dashboard: bool = Field(default=True, description="Keep a dashboard issue up to date.")
    app: GitHubAppConfig | None = None

    @model_validator(mode="after")
    def _github_needs_repository(self) -> ForgeConfig:
        if self.type == "github" and not self.repository:
            raise ValueError("forge.type github needs forge.repository (owner/name)")
        return self


def _field_name(rule_name: str) -> str:
    return rule_name.replace("-", "_")


def _rules_model() -> type[BaseModel]:
    """One typed field per rule (keyed by the rule's name), so a mistake in any threshold is
    reported with its full key path, e.g. rules.ebs-unattached.min_unattached_days."""
    fields: dict[str, Any] = {
        _field_name(name): (
            rule.settings_model,
            Field(default_factory=rule.settings_model, alias=name),
        )
        for name, rule in RULES.items()
    }
    return create_model(
        "RulesConfig",
        __config__=ConfigDict(extra="forbid", frozen=True, populate_by_name=True),
        **fields,
    )


if TYPE_CHECKING:
    RulesConfig = BaseModel
else:
    RulesConfig = _rules_model()


class ReclaimConfig(_Strict):
    version: Literal[1] = 1
    accounts: tuple[AccountConfig, ...] = Field(default=(AccountConfig(),), min_length=1)
    regions: tuple[str, ...] = Field(default=("us-east-1",), min_length=1)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    exclusions: Exclusions = Exclusions()
    output: OutputConfig = OutputConfig()
    forge: ForgeConfig = ForgeConfig()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("regions")
    @classmethod
    def _regions_look_like_regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        for region in regions:
            if not _REGION.match(region):
                raise ValueError(f"{region!r} is not an AWS region name such as 'us-east-1'")
        if len(set(regions)) != len(regions):
            raise ValueError("lists a region twice")
        return regions

    def rule_settings(self, name: str) -> RuleSettings:
        settings: RuleSettings = getattr(self.rules, _field_name(name))
        return settings

    def enabled_rules(self) -> list[str]:
        return [name for name in sorted(RULES) if self.rule_settings(name).enabled]

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    @property
    def remediations_path(self) -> Path:
        return self.resolve(self.output.remediations_dir)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.output.state_file)


def parse_config(data: Any, *, source: str, base_dir: Path) -> ReclaimConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return ReclaimConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as error:
        raise ConfigError(describe_validation_error(source, error, tuple(RULES))) from None


def load_config(path: Path | None) -> ReclaimConfig:
    """Load reclaim.yml; with no path, use ./reclaim.yml when present, else the defaults."""
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.exists():
            return ReclaimConfig(base_dir=Path.cwd())
        path = candidate
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot read config {path}: {error.strerror}",
            hint="pass --config with the path of your reclaim.yml",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
