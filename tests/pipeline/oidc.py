"""The `sub` claim GitHub puts in a job's OIDC token, and whether an IAM trust policy admits it.

GitHub documents the claims (``repo``, ``context``, ``job_workflow_ref``) and how a
repository's subject template joins them; `reclaim init` sets the template to exactly
``OIDC_CLAIM_KEYS``. ``context`` is ``environment:NAME`` for a job that names an
environment, ``pull_request`` for a job of a pull_request event, else ``ref:REF``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from generator.pipeline.spec import OIDC_CLAIM_KEYS

OIDC = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Job:
    """Where a job runs, as GitHub sees it when it mints the token."""

    repository: str
    workflow_file: str
    """e.g. reclaim-apply.yml"""
    ref: str = "refs/heads/main"
    environment: str | None = None
    event: str = "push"

    def claims(self) -> dict[str, str]:
        if self.environment:
            context = f"environment:{self.environment}"
        elif self.event.startswith("pull_request"):
            context = "pull_request"
        else:
            context = f"ref:{self.ref}"
        return {
            "repo": self.repository,
            "context": context,
            "job_workflow_ref": f"{self.repository}/.github/workflows/{self.workflow_file}"
            f"@{self.ref}",
        }

    def subject(self, claim_keys: tuple[str, ...] | None = OIDC_CLAIM_KEYS) -> str:
        """The token's `sub`; ``claim_keys=None``: GitHub's default template."""
        claims = self.claims()
        if claim_keys is None:
            return f"repo:{claims['repo']}:{claims['context']}"
        parts = []
        for key in claim_keys:
            # `context` is written as its own key:value pair(s), the others as key:value.
            parts.append(claims[key] if key == "context" else f"{key}:{claims[key]}")
        return ":".join(parts)


def _values(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def condition_holds(test: str, key: str, expected: Any, request: dict[str, str]) -> bool:
    present = key in request
    if test == "Null":
        return (not present) is (_values(expected)[0].lower() == "true")
    if not present:
        return False
    actual = request[key]
    if test == "StringEquals":
        return actual in _values(expected)
    if test == "StringLike":
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in _values(expected))
    raise AssertionError(f"this evaluator does not know the condition operator {test}")


def admits(trust: dict[str, Any], provider_arn: str, request: dict[str, str]) -> bool:
    """Whether a role trust policy allows sts:AssumeRoleWithWebIdentity from ``provider_arn``
    with these request context keys (no Deny statements are generated, so none are read)."""
    for statement in trust["Statement"]:
        assert statement["Effect"] == "Allow", "a Deny in a trust policy: evaluate it too"
        actions = _values(statement["Action"])
        if "sts:AssumeRoleWithWebIdentity" not in actions:
            continue
        if provider_arn not in _values(statement["Principal"].get("Federated", [])):
            continue
        conditions = statement.get("Condition", {})
        if all(
            condition_holds(test, key, expected, request)
            for test, pairs in conditions.items()
            for key, expected in pairs.items()
        ):
            return True
    return False


def token_request(
    job: Job, *, audience: str = "sts.amazonaws.com", claim_keys: Any = OIDC_CLAIM_KEYS
) -> dict[str, str]:
    return {f"{OIDC}:aud": audience, f"{OIDC}:sub": job.subject(claim_keys)}
