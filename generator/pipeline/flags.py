"""`--account id=...,name=...` flags of `reclaim init`, parsed into target accounts."""

from __future__ import annotations

import re

from generator.errors import ConfigError
from generator.pipeline.spec import TargetAccount

ACCOUNT_FLAG_HELP = (
    "An account to clean up, as comma-separated key=value: id (12 digits, required), name, "
    "role (role ARN or name; default: the --customer-role-name), external-id-env (default "
    "RECLAIM_EXTERNAL_ID_<NAME>), regions (us-east-1+eu-west-1, or all-enabled), owners "
    "(@org/team+@user). Repeat for each account. Without it, init reads the existing reclaim.yml."
)
_KEYS = {"id", "name", "role", "external-id-env", "regions", "owners"}


def _env_name(name: str) -> str:
    return "RECLAIM_EXTERNAL_ID_" + (re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "X")


def parse_account(
    flag: str, *, default_role_name: str, scan_role_name: str = "reclaim-scan"
) -> TargetAccount:
    values: dict[str, str] = {}
    for part in flag.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS:
            raise ConfigError(
                f"--account {flag!r}: {part!r} is not key=value with a key among "
                f"{', '.join(sorted(_KEYS))}",
                hint="e.g. --account id=222222222222,name=prod,regions=us-east-1+eu-west-1",
            )
        if key in values:
            raise ConfigError(f"--account {flag!r}: {key} is given twice")
        values[key] = value.strip()
    account_id = values.get("id", "")
    if not re.fullmatch(r"\d{12}", account_id):
        raise ConfigError(f"--account {flag!r}: id must be the 12-digit account ID")
    name = values.get("name") or f"account-{account_id}"
    role = values.get("role") or default_role_name
    role_arn = role if role.startswith("arn:") else f"arn:aws:iam::{account_id}:role/{role}"
    if not re.fullmatch(rf"arn:aws[a-z-]*:iam::{account_id}:role/[\w+=,.@/-]+", role_arn):
        raise ConfigError(
            f"--account {flag!r}: role {role!r} is not a role in account {account_id}",
            hint="give the remediation role's name, or its ARN in the same account",
        )
    regions_text = values.get("regions")
    regions: tuple[str, ...] | None = None
    if regions_text and regions_text != "all-enabled":
        regions = tuple(r for r in regions_text.split("+") if r)
    owners = tuple(o for o in values.get("owners", "").split("+") if o)
    for owner in owners:
        if not re.fullmatch(r"@[\w.-]+(/[\w.-]+)?|[^@\s]+@[^@\s]+", owner):
            raise ConfigError(
                f"--account {flag!r}: owner {owner!r} is not @user, @org/team or an email"
            )
    return TargetAccount(
        id=account_id,
        name=name,
        role_arn=role_arn,
        scan_role_arn=f"{role_arn.rsplit(':', 1)[0]}:role/{scan_role_name}",
        external_id_env=values.get("external-id-env") or _env_name(name),
        regions=regions,
        owners=owners,
        all_enabled=regions_text == "all-enabled",
    )
