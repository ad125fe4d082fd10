"""reclaim.yml: the model, loading, and errors that name the key path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from generator.aws.regions import ALL_ENABLED
from generator.errors import ConfigError, describe_validation_error
from generator.exclusions import Exclusions
from generator.iac.config import IacConfig
from generator.rules import RULES
from generator.rules.base import Rule, RuleSettings

CONFIG_MAX_BYTES = 1024 * 1024
DEFAULT_CONFIG_NAME = "reclaim.yml"
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$"
# AWS's own constraints on sts:AssumeRole's ExternalId; moto checks none of them.
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

Regions = tuple[str, ...] | Literal["all-enabled"]


def _check_regions(regions: Regions) -> Regions:
    if regions == ALL_ENABLED:
        return regions
    for region in regions:
        if not _REGION.match(region):
            raise ValueError(
                f"{region!r} is not an AWS region name such as 'us-east-1' "
                f"(or use {ALL_ENABLED!r} for every region enabled in the account)"
            )
    if len(set(regions)) != len(regions):
        raise ValueError("lists a region twice")
    return regions


def role_account(role_arn: str) -> str:
    return role_arn.split(":")[4]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceRoleConfig(_Strict):
    """Hop 1: the role reclaim runs as in the tooling account."""

    role_arn: str = Field(pattern=_ROLE_ARN, description="ARN of the service role (hop 1).")

    @property
    def account_id(self) -> str:
        """The service role's account, named by its ARN."""
        return role_account(self.role_arn)


class AccountConfig(_Strict):
    name: str = Field(default="default", min_length=1)
    id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="12-digit account ID; absent means the account the credentials reach "
        "(the role_arn's account, else the ambient credentials' account).",
    )
    role_arn: str | None = Field(
        default=None,
        pattern=_ROLE_ARN,
        description="Hop 2: the remediation role in this account, assumed from the service role. "
        "Absent: the service role (or the ambient credentials) scans this account directly.",
    )
    scan_role_arn: str | None = Field(
        default=None,
        pattern=_ROLE_ARN,
        description="Hop 2 of scans: a read-only role in this account, assumed instead of "
        "role_arn by scan and propose (the same ExternalId). Absent: role_arn, with a "
        "read-only session policy.",
    )
    external_id: SecretStr | None = Field(
        default=None,
        description="ExternalId the role's trust policy requires. Prefer external_id_env.",
    )
    external_id_env: str | None = Field(
        default=None,
        pattern=_ENV_NAME,
        description="Name of the environment variable (e.g. a GitHub secret) holding the "
        "ExternalId.",
    )
    regions: Regions | None = Field(
        default=None,
        description="Regions to scan in this account: a list, or 'all-enabled' (asks "
        "DescribeRegions once per run). Absent: the top-level regions.",
    )
    owners: tuple[str, ...] = Field(
        default=(), description="CODEOWNERS entries for this account's remediation folders."
    )

    @field_validator("regions")
    @classmethod
    def _regions_look_like_regions(cls, regions: Regions | None) -> Regions | None:
        return None if regions is None else _check_regions(regions)

    @field_validator("external_id")
    @classmethod
    def _external_id_is_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _EXTERNAL_ID.match(value.get_secret_value()):
            # The value is a secret: say what is wrong without repeating it.
            raise ValueError(
                "must be 2 to 1224 characters of letters, digits and _+=,.@:/- "
                "(the value is not shown)"
            )
        return value

    @model_validator(mode="after")
    def _chain_is_consistent(self) -> AccountConfig:
        if self.external_id is not None and self.external_id_env is not None:
            raise ValueError("set external_id or external_id_env, not both")
        if (self.external_id or self.external_id_env) and self.role_arn is None:
            raise ValueError("an ExternalId is only used with role_arn (hop 2); add role_arn")
        if self.scan_role_arn and (
            self.role_arn is None or role_account(self.scan_role_arn) != role_account(self.role_arn)
        ):
            raise ValueError("scan_role_arn must be a role in the same account as role_arn")
        if self.role_arn and self.id and role_account(self.role_arn) != self.id:
            raise ValueError(
                f"role_arn is in account {role_account(self.role_arn)} but id is {self.id}; "
                "hop 2 must be a role in the account it scans"
            )
        return self

    @property
    def expected_id(self) -> str | None:
        """The account this entry must reach, when the config says so."""
        return self.id or (role_account(self.role_arn) if self.role_arn else None)

    @property
    def label(self) -> str:
        return self.expected_id or self.name

    def external_id_value(self, index: int, environ: Mapping[str, str] | None = None) -> str | None:
        """The ExternalId to send, read from the environment when configured so.

        A configured but unset or empty variable is an error: moto (and a trust policy
        without the condition) would accept the call without it, silently dropping a
        protection the user asked for."""
        if self.external_id is not None:
            return self.external_id.get_secret_value()
        if self.external_id_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.external_id_env, "")
        where = f"accounts[{index}].external_id_env"
        if not value:
            raise ConfigError(
                f"{where}: environment variable {self.external_id_env} is not set or empty",
                hint=f"set {self.external_id_env} (in GitHub Actions, map the secret into "
                "the job's env)",
            )
        if not _EXTERNAL_ID.match(value):
            raise ConfigError(
                f"{where}: the value of {self.external_id_env} is not a valid ExternalId "
                "(2 to 1224 characters of letters, digits and _+=,.@:/-; value not shown)"
            )
        return value


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
    max_evidence_age_hours: int = Field(
        default=24,
        ge=1,
        description="How old the reclaim/fresh status of an open PR may grow: the scheduled "
        "scan re-checks every open PR, and `reclaim doctor` fails when branch protection "
        "requires the status but scans run further apart than this.",
    )
    second_opinion: bool = Field(
        default=True,
        description="Ask Cost Optimization Hub and Compute Optimizer about each open PR's "
        "resource when the scheduled scan re-checks it, and comment what AWS says "
        "(absent or refused: said once, nothing else changes).",
    )
    app: GitHubAppConfig | None = None

    @model_validator(mode="after")
    def _github_needs_repository(self) -> ForgeConfig:
        if self.type == "github" and not self.repository:
            raise ValueError("forge.type github needs forge.repository (owner/name)")
        return self


def _field_name(rule_name: str) -> str:
    return rule_name.replace("-", "_")


class DisabledRule(_Strict):
    """A rule given as ``enabled: false`` and nothing else: there is nothing more to
    validate, so its module (and its settings model) need not be imported to load the
    configuration; ReclaimConfig.rule_settings builds its settings when asked."""

    enabled: Literal[False] = False


def _only_disabled(entry: object) -> bool:
    return isinstance(entry, Mapping) and dict(entry) == {"enabled": False}


@cache
def rules_model(typed: frozenset[str]) -> type[BaseModel]:
    """One field per rule (keyed by the rule's name). A rule in ``typed`` has its own
    settings model, so a mistake in any threshold is reported with its full key path, e.g.
    rules.ebs-unattached.min_unattached_days; any other is a DisabledRule."""
    fields: dict[str, Any] = {}
    for name in RULES:
        model: type[BaseModel] = RULES[name].settings_model if name in typed else DisabledRule
        fields[_field_name(name)] = (model, Field(default_factory=model, alias=name))
    return create_model(
        "RulesConfig",
        __config__=ConfigDict(extra="forbid", frozen=True, populate_by_name=True),
        **fields,
    )


def every_rule_typed() -> type[BaseModel]:
    return rules_model(frozenset(RULES))


def _validate_rules(value: Any) -> BaseModel:
    """The rules section, typed by each rule's settings model except where the entry is
    ``enabled: false`` alone (absent entries take their rule's defaults: typed)."""
    if isinstance(value, BaseModel):
        return value  # already validated (a default, or a copy's update)
    entries = value if isinstance(value, Mapping) else {}
    typed = frozenset(name for name in RULES if not _only_disabled(entries.get(name)))
    return rules_model(typed).model_validate(value)


class ReclaimConfig(_Strict):
    version: Literal[1] = 1
    service_role: ServiceRoleConfig | None = Field(
        default=None,
        description="Hop 1. Absent: the ambient credentials already are the service role "
        "(e.g. after aws-actions/configure-aws-credentials with GitHub OIDC).",
    )
    accounts: tuple[AccountConfig, ...] = Field(default=(AccountConfig(),), min_length=1)
    regions: Regions = Field(default=("us-east-1",), min_length=1)
    # Serialized as what it is (the rules model _validate_rules built), not as a bare
    # BaseModel: a dump of the config keeps every rule's settings.
    rules: SerializeAsAny[Annotated[BaseModel, PlainValidator(_validate_rules)]] = Field(
        default_factory=lambda: every_rule_typed()()
    )
    exclusions: Exclusions = Exclusions()
    output: OutputConfig = OutputConfig()
    forge: ForgeConfig = ForgeConfig()
    iac: IacConfig = Field(
        default=IacConfig(),
        description="Terraform roots and CloudFormation: resources they manage are changed "
        "in their code, never through the API.",
    )
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("regions")
    @classmethod
    def _regions_look_like_regions(cls, regions: Regions) -> Regions:
        return _check_regions(regions)

    @field_validator("accounts")
    @classmethod
    def _accounts_are_distinct(
        cls, accounts: tuple[AccountConfig, ...]
    ) -> tuple[AccountConfig, ...]:
        names = [a.name for a in accounts]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"account name {name!r} is used twice; names must be unique")
        ids = [a.expected_id for a in accounts if a.expected_id]
        for account_id in ids:
            if ids.count(account_id) > 1:
                raise ValueError(f"account {account_id} is listed twice")
        if sum(1 for a in accounts if a.role_arn is None) > 1:
            raise ValueError(
                "more than one account has no role_arn: without hop 2 they would all scan "
                "the same account (the service role's); give each other account its role_arn"
            )
        return accounts

    @model_validator(mode="after")
    def _state_readers_are_accounts(self) -> ReclaimConfig:
        for index, root in enumerate(self.iac.terraform):
            s3 = root.state.s3
            if (
                s3
                and s3.account
                and not any(s3.account in (a.name, a.expected_id) for a in self.accounts)
            ):
                known = ", ".join(a.name for a in self.accounts)
                raise ValueError(
                    f"iac.terraform[{index}].state.s3.account: {s3.account!r} is not the name "
                    f"or ID of an account in accounts ({known})"
                )
        return self

    def state_reader(self, index: int) -> AccountConfig:
        """The account whose scan role reads root ``index``'s S3 state."""
        s3 = self.iac.terraform[index].state.s3
        for account in self.accounts:
            if s3 is not None and s3.account in (account.name, account.expected_id):
                return account
        return self.accounts[0]

    def regions_for(self, account: AccountConfig) -> Regions:
        return account.regions if account.regions is not None else self.regions

    def account_for_id(self, account_id: str) -> AccountConfig | None:
        for account in self.accounts:
            if account.expected_id == account_id:
                return account
        return None

    @property
    def home_region(self) -> str:
        """Where account-wide calls (STS, DescribeRegions) go."""
        if self.regions != ALL_ENABLED:
            return self.regions[0]
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def rule_settings(self, name: str) -> RuleSettings:
        settings = getattr(self.rules, _field_name(name))
        if isinstance(settings, DisabledRule):  # its rule's own defaults, disabled
            built: RuleSettings = RULES[name].settings_model(enabled=False)
            return built
        typed: RuleSettings = settings
        return typed

    def enabled_rules(self) -> list[str]:
        """Rules turned on, by name; a DisabledRule is off without importing its rule."""
        return [name for name in sorted(RULES) if getattr(self.rules, _field_name(name)).enabled]

    def rule(self, name: str) -> Rule[Any, Any]:
        """The declaration of a rule of the catalog this configuration was validated
        against: how the scan's account layer (generator.aws) learns a rule's home region
        and scan calls without importing the catalog, which imports it."""
        return RULES[name]

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    @property
    def remediations_path(self) -> Path:
        return self.resolve(self.output.remediations_dir)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.output.state_file)


@cache
def with_every_rule_typed() -> type[ReclaimConfig]:
    """ReclaimConfig with every rule's settings typed: what its JSON Schema and its error
    messages' key suggestions describe (a loaded config types only the rules it needs)."""
    full = every_rule_typed()
    return create_model(
        "ReclaimConfig",
        __base__=ReclaimConfig,
        rules=(full, Field(default_factory=full)),
    )


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
        raise ConfigError(
            describe_validation_error(source, error, tuple(RULES), model=with_every_rule_typed())
        ) from None


def load_config(path: Path | None) -> ReclaimConfig:
    """Load reclaim.yml; with no path, use ./reclaim.yml when present, else the defaults."""
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.exists():
            return ReclaimConfig(base_dir=Path.cwd())
        path = candidate
    from generator.untrusted import parse_yaml, read_text

    hint = "pass --config with the path of your reclaim.yml"
    text = read_text(path, ConfigError, max_bytes=CONFIG_MAX_BYTES, hint=hint)
    data = parse_yaml(text, path, ConfigError, None)
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
