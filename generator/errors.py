"""Errors a user can act on, each mapped to a documented exit code.

Every expected failure is a ``ReclaimError``: the CLI prints its message (what failed, for
which resource, what to do) and exits with its code, never with a traceback.
"""

from __future__ import annotations

import difflib
import re
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


class UsageError(ReclaimError):
    """A command line reclaim cannot act on (an option's value, a missing option)."""

    exit_code = ExitCode.USAGE


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


# Pydantic names the member of a union it tried in the error's location, e.g.
# ('regions', 'tuple[str, ...]') and ('regions', "literal['all-enabled']"): not a key path.
_UNION_MEMBER = re.compile(
    r"^(tuple|list|dict|set|frozenset|literal|str|int|float|bool|none|function-[a-z-]+)"
    r"(\[.*\])?$",
    re.IGNORECASE,
)


def _is_union_member(item: int | str) -> bool:
    return isinstance(item, str) and bool(_UNION_MEMBER.match(item))


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item.startswith(("function-", "value_error")) or _is_union_member(item):
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


# What a person would say instead of pydantic's wording, by error type.
_EXPECTED = {
    "tuple_type": "a list, e.g. [a, b]",
    "list_type": "a list, e.g. [a, b]",
    "set_type": "a list, e.g. [a, b]",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}

# Patterns of reclaim's own fields, said in words.
_PATTERNS = {
    r"^\d{12}$": "a 12-digit AWS account ID, e.g. 111111111111",
    r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$": "OWNER/NAME, e.g. acme/cloud-costs",
    r"^https?://": "a URL starting with https:// (or http://)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name, e.g. RECLAIM_EXTERNAL_ID",
}


_BOUNDS = {
    "greater_than_equal": ("ge", "at least {}"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "at most {}"),
    "less_than": ("lt", "less than {}"),
}


def _expected(detail: Any) -> str | None:
    if detail["type"] in _BOUNDS:
        key, words = _BOUNDS[detail["type"]]
        return words.format(detail.get("ctx", {}).get(key))
    if detail["type"] == "literal_error":
        return str(detail.get("ctx", {}).get("expected", "")) or None
    if detail["type"] == "string_pattern_mismatch":
        pattern = str(detail.get("ctx", {}).get("pattern", ""))
        if pattern in _PATTERNS:
            return _PATTERNS[pattern]
        if pattern.startswith("^arn:aws"):
            return "an IAM role ARN, e.g. arn:aws:iam::111111111111:role/reclaim"
        return None
    return _EXPECTED.get(detail["type"])


def _known_keys(model: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys a pydantic model accepts at ``loc`` (walking nested models, tuples and
    optionals), or [] when the location cannot be followed."""
    import types
    import typing

    current: Any = model
    for item in loc:
        while True:
            origin = typing.get_origin(current)
            if origin in (typing.Union, types.UnionType):
                members = [a for a in typing.get_args(current) if a is not type(None)]
                models = [a for a in members if hasattr(a, "model_fields")]
                if len(models) != 1 and len(members) != 1:
                    return []
                current = models[0] if models else members[0]
            elif origin in (tuple, list, frozenset, set) and isinstance(item, int):
                current = typing.get_args(current)[0]
                break
            else:
                break
        if isinstance(item, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields:
            return []
        by_key = {(info.alias or name): info for name, info in fields.items()}
        by_key.update({name: info for name, info in fields.items()})
        if item not in by_key:
            return []
        current = by_key[item].annotation
    fields = getattr(current, "model_fields", None)
    if not fields:
        return []
    return sorted({info.alias or name for name, info in fields.items() if not info.exclude})


def _unknown_key(detail: Any, known_rules: tuple[str, ...], model: Any) -> str:
    key = str(detail["loc"][-1])
    if detail["loc"][:1] == ("rules",) and len(detail["loc"]) == 2 and known_rules:
        guess = difflib.get_close_matches(key, known_rules, n=1)
        if guess:
            return f"is not a known rule; did you mean {guess[0]!r}?"
        return f"is not a known rule; known rules: {', '.join(sorted(known_rules))}"
    known = _known_keys(model, tuple(detail["loc"][:-1])) if model is not None else []
    guess = difflib.get_close_matches(key, known, n=1)
    if guess:
        return f"is not a known key; did you mean {guess[0]!r}?"
    if known:
        return f"is not a known key here; known keys: {', '.join(known)}"
    return "is not a known key (check the spelling; see the config reference in README)"


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
    source: str,
    error: ValidationError,
    known_rules: tuple[str, ...] = (),
    model: Any = None,
) -> str:
    """One line per wrong key, in words: the key path, what was expected, what was given.

    The members of a union (``regions``: a list or 'all-enabled') are one line; an unknown
    key gets the closest known key of ``model`` at that place, if any."""
    lines = [f"{source} is not valid:"]
    unions: dict[str, list[Any]] = {}
    order: list[tuple[str, Any]] = []
    details = error.errors()
    for detail in details:
        loc = tuple(detail["loc"])
        if detail["type"] == "too_short" and any(
            tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc)
            for other in details
        ):
            continue  # a list emptied by its own items' errors: those are the news
        where = _key_path(loc)
        if any(_is_union_member(item) for item in detail["loc"]):
            if where not in unions:
                order.append((where, None))
            unions.setdefault(where, []).append(detail)
        else:
            order.append((where, detail))
    for where, detail in order:
        if detail is None:
            members = unions[where]
            wanted = [w for w in (_expected(d) for d in members) if w]
            if len(wanted) == len(members):
                message = "should be " + " or ".join(dict.fromkeys(wanted))
            else:
                message = "; or ".join(d["msg"].removeprefix("Value error, ") for d in members)
            detail = members[0]
        elif detail["type"] == "extra_forbidden":
            message = _unknown_key(detail, known_rules, model)
        else:
            wanted_one = _expected(detail)
            message = (
                f"should be {wanted_one}"
                if wanted_one
                else detail["msg"].removeprefix("Value error, ")
            )
        suffix = f" (got {_shown(detail.get('input'))})" if _shows_input(detail) else ""
        lines.append(f"  {where}: {message}{suffix}")
    return "\n".join(lines)
