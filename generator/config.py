"""reclaim.yml: the model, loading, and errors that name the key path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails

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


class ForgeConfig(_Strict):
    type: Literal["local"] = "local"
    path: str = Field(default=".", description="The git repository that receives the PRs.")
    base_branch: str = "main"


class ReclaimConfig(_Strict):
    version: Literal[1] = 1
    accounts: tuple[AccountConfig, ...] = Field(default=(AccountConfig(),), min_length=1)
    regions: tuple[str, ...] = Field(default=("us-east-1",), min_length=1)
    rules: dict[str, RuleSettings] = Field(default_factory=dict, validate_default=True)
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

    @field_validator("rules", mode="before")
    @classmethod
    def _settings_per_rule(cls, raw: Any) -> dict[str, RuleSettings]:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValueError("expected a mapping of rule name to its settings")
        settings: dict[str, RuleSettings] = {}
        for name, values in raw.items():
            if name not in RULES:
                known = ", ".join(sorted(RULES))
                raise ValueError(f"unknown rule {name!r}; known rules: {known}")
            try:
                settings[name] = RULES[name].settings_model.model_validate(values or {})
            except ValidationError as error:
                # Re-raised under the rule's name, so the message names the whole key path
                # (rules.<rule>.<setting>), not just the setting.
                raise ValidationError.from_exception_data(
                    error.title,
                    [
                        InitErrorDetails(
                            type=detail["type"],
                            loc=(name, *detail["loc"]),
                            input=detail["input"],
                            ctx=detail.get("ctx", {}),
                        )
                        for detail in error.errors()
                    ],
                ) from None
        for name, rule in RULES.items():
            settings.setdefault(name, rule.settings_model())
        return settings

    def enabled_rules(self) -> list[str]:
        return [name for name, s in sorted(self.rules.items()) if s.enabled]

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
        raise ConfigError(describe_validation_error(source, error)) from None


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
