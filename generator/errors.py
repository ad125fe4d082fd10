"""Errors a user can act on, each mapped to a documented exit code.

Every expected failure is a ``ReclaimError``: the CLI prints its message (what failed, for
which resource, what to do) and exits with its code, never with a traceback.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic is slow to import; `reclaim --help` must stay quick
    from pydantic import ValidationError


class ExitCode(IntEnum):
    OK = 0
    FINDINGS_INCOMPLETE = 1  # the run finished but some accounts/regions/rules failed
    USAGE = 2  # bad command line (click's own code)
    CONFIG = 3  # reclaim.yml invalid
    MANIFEST = 4  # plan/rollback/journal invalid, tampered or not derivable
    PRECHECK = 5  # the resource changed since the PR was opened; nothing was mutated
    AWS = 6  # an AWS call failed mid-run; the journal says where, re-run to resume
    STATE = 7  # refused because of the recorded state (already applied, not applied, ...)
    FORGE = 8  # git / GitHub failure
    RETRY_LATER = 9  # AWS does not allow the next step yet; the message says when
    CREDENTIALS = 10  # no credentials, or they reach another account than the plan's
    DEPENDENCY = 11  # an optional dependency is not installed; the message names the extra
    BUSY = 12  # another apply or rollback of the same plan holds its lock


EXIT_CODE_HELP = """\b
Exit codes:
   0  success
   1  finished, but some accounts, regions or rules failed (see the summary)
   2  bad command line
   3  invalid configuration (the message names the key path)
   4  invalid, tampered or underivable manifest (no AWS call was made)
   5  a pre-check failed: the resource changed since the PR; nothing was mutated
   6  an AWS call failed mid-run; the journal records progress, re-run to resume
   7  refused by recorded state (already applied, not applied, already rolled back)
   8  forge (git or GitHub) failure
   9  not yet: AWS refuses the next step until a time the message gives; re-run then
  10  no usable credentials, or they reach another account than the plan's; nothing changed
  11  an optional dependency is missing (the message says what to install)
  12  another apply or rollback of this plan is running (its lock is held); nothing changed"""


class ReclaimError(Exception):
    exit_code: ExitCode = ExitCode.AWS

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(ReclaimError):
    exit_code = ExitCode.CONFIG


class ManifestError(ReclaimError):
    exit_code = ExitCode.MANIFEST


class PrecheckFailed(ReclaimError):
    exit_code = ExitCode.PRECHECK


class AwsCallFailed(ReclaimError):
    exit_code = ExitCode.AWS


class CredentialsError(ReclaimError):
    """The run cannot act in the plan's account: no credentials, a hop of the role chain
    refused, or the credentials reach another account. A plain re-run cannot help."""

    exit_code = ExitCode.CREDENTIALS


class MissingDependency(ReclaimError):
    exit_code = ExitCode.DEPENDENCY


class PlanBusy(ReclaimError):
    """Another apply or rollback of the same plan holds the folder's lock."""

    exit_code = ExitCode.BUSY


class StateRefusal(ReclaimError):
    exit_code = ExitCode.STATE


class ForgeError(ReclaimError):
    exit_code = ExitCode.FORGE


class RetryLater(ReclaimError):
    """Nothing failed, but a step may not run before ``not_before``."""

    exit_code = ExitCode.RETRY_LATER

    def __init__(self, message: str, *, not_before: datetime, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.not_before = not_before


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item.startswith(("function-", "value_error")):
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


_SECRET_KEYS = ("external_id", "secret", "token", "password")


def _shows_input(detail: Any) -> bool:
    """Echo the offending value only when it is a plain value that cannot be a secret
    (a mapping or list may hold one, e.g. an account's inline external_id)."""
    if detail["type"] in ("extra_forbidden", "missing"):
        return False
    if isinstance(detail.get("input"), dict | list | tuple):
        return False
    names = [str(part).lower() for part in detail["loc"]]
    return not any(secret in name for name in names for secret in _SECRET_KEYS)


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"


def describe_validation_error(
    source: str, error: ValidationError, known_rules: tuple[str, ...] = ()
) -> str:
    lines = [f"{source} is not valid:"]
    for detail in error.errors():
        where = _key_path(tuple(detail["loc"]))
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "is not a known key (check the spelling; see the config reference in README)"
            if detail["loc"][:1] == ("rules",) and len(detail["loc"]) == 2 and known_rules:
                message = f"is not a known rule; known rules: {', '.join(sorted(known_rules))}"
        suffix = f" (got {_shown(detail.get('input'))})" if _shows_input(detail) else ""
        lines.append(f"  {where}: {message}{suffix}")
    return "\n".join(lines)
