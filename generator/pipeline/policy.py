"""The customer role's least-privilege policies, computed from the enabled rules' calls.

Two documents: ``read`` (every read-only action any phase needs, on ``*`` unless narrower is
known) and ``write`` (each mutating action with the resource ARNs and condition keys from
``iam_scopes``). Both are limited to the configured regions. The same statements render as
concrete JSON (for parliament and for comparing with what Terraform created) and as HCL
``aws_iam_policy_document`` blocks (for the customer-role module).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generator.pipeline.iam_actions import iam_actions, is_read_only
from generator.pipeline.iam_scopes import GLOBAL_PREFIXES, PLAN_TAG, SCOPES, Condition, Grant
from generator.rules.base import Rule
from generator.rules.declared_calls import ACCOUNT_CALLS

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    grant: Grant

    @property
    def regional(self) -> bool:
        """Limited to the configured regions, unless it is about a global service."""
        return not any(a.split(":", 1)[0] in GLOBAL_PREFIXES for a in self.actions)


@dataclass(frozen=True)
class RolePolicies:
    read: tuple[Statement, ...]
    write: tuple[Statement, ...]
    skip_tag: str

    @property
    def documents(self) -> dict[str, tuple[Statement, ...]]:
        return {"read": self.read, "write": self.write}

    def write_actions(self) -> list[str]:
        return sorted({action for s in self.write for action in s.actions})


def _sid(*parts: str) -> str:
    return "".join(re.sub(r"[^A-Za-z0-9]", "", p[:1].upper() + p[1:]) for p in parts)


def rule_actions(rules: Iterable[Rule]) -> set[str]:
    """Every IAM action the rules' scans, applies and rollbacks need, and the account-wide
    reads a scan makes (DescribeRegions for `regions: all-enabled`)."""
    calls = set(ACCOUNT_CALLS)
    for rule in rules:
        calls |= rule.calls.scan | rule.calls.apply | rule.calls.rollback
    return iam_actions(calls)


def role_policies(rules: Iterable[Rule], *, skip_tag: str) -> RolePolicies:
    actions = rule_actions(rules)
    reads = sorted(a for a in actions if is_read_only(a))
    anywhere = [a for a in reads if a not in SCOPES]
    regional = tuple(a for a in anywhere if a.split(":", 1)[0] not in GLOBAL_PREFIXES)
    global_ = tuple(a for a in anywhere if a.split(":", 1)[0] in GLOBAL_PREFIXES)
    read = [
        Statement(sid, group, Grant(("*",), why=why))
        for sid, group, why in (
            ("ReadOnly", regional, "describe and list (IAM offers nothing narrower)"),
            ("ReadOnlyGlobal", global_, "describe and list global services (no region)"),
        )
        if group
    ]
    read += _scoped([a for a in reads if a in SCOPES])
    write = _scoped(sorted(a for a in actions if not is_read_only(a)))
    return RolePolicies(read=tuple(read), write=tuple(write), skip_tag=skip_tag)


def _scoped(actions: list[str]) -> list[Statement]:
    """A statement per grant of each action (``*`` when IAM offers nothing narrower), then
    one per group of actions IAM checks alongside them."""
    statements: list[Statement] = []
    implied: dict[tuple[tuple[str, ...], Grant], None] = {}
    for action in actions:
        scope = SCOPES.get(action)
        if scope is None:
            statements.append(Statement(_sid(*action.split(":")), (action,), Grant(("*",))))
            continue
        for index, grant in enumerate(scope.grants, start=1):
            suffix = str(index) if len(scope.grants) > 1 else ""
            statements.append(Statement(_sid(*action.split(":"), suffix), (action,), grant))
        for item in scope.implied:
            implied.setdefault(item)
    for index, (implied_actions, grant) in enumerate(implied, start=1):
        statements.append(Statement(f"Implied{index}", implied_actions, grant))
    return statements


def unscoped_writes(policies: RolePolicies) -> list[str]:
    """Write actions granted on ``*``: IAM offers nothing narrower that reclaim knows of."""
    return sorted({a for s in policies.write if s.grant.resources == ("*",) for a in s.actions})


# ---- concrete JSON ---------------------------------------------------------------------


def _expand(template: str, values: dict[str, str], regions: tuple[str, ...]) -> list[str]:
    if "{region}" not in template:
        return [template.format(**values)]
    return [template.format(**values, region=region) for region in regions]


def _one_or_many(values: list[str]) -> str | list[str]:
    """A single value as a string, as aws_iam_policy_document writes it (parliament reads
    Null and Bool conditions only in that form)."""
    return values[0] if len(values) == 1 else values


def policy_json(
    statements: tuple[Statement, ...],
    *,
    account: str,
    regions: tuple[str, ...],
    skip_tag: str,
    partition: str = "aws",
) -> dict[str, Any]:
    """The document as IAM receives it; ``regions=()`` means every region."""
    values = {
        "partition": partition,
        "account": account,
        "plan_tag": PLAN_TAG,
        "skip_tag": skip_tag,
    }
    arn_regions = regions or ("*",)
    rendered = []
    for statement in statements:
        conditions: dict[str, dict[str, str | list[str]]] = {}
        conditions_in = statement.grant.conditions
        for condition in _with_region(conditions_in, regions if statement.regional else ()):
            variable = condition.variable.format(**values)
            expanded = [
                v for value in condition.values for v in _expand(value, values, arn_regions)
            ]
            conditions.setdefault(condition.test, {})[variable] = _one_or_many(expanded)
        body: dict[str, Any] = {
            "Sid": statement.sid,
            "Effect": "Allow",
            "Action": _one_or_many(list(statement.actions)),
            "Resource": _one_or_many(
                [
                    r
                    for template in statement.grant.resources
                    for r in _expand(template, values, arn_regions)
                ]
            ),
        }
        if conditions:
            body["Condition"] = conditions
        rendered.append(body)
    return {"Version": "2012-10-17", "Statement": rendered}


def _with_region(
    conditions: tuple[Condition, ...], regions: tuple[str, ...]
) -> tuple[Condition, ...]:
    if not regions:
        return conditions
    return (*conditions, Condition("StringEquals", "aws:RequestedRegion", regions))


def policy_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


# ---- HCL for aws_iam_policy_document ---------------------------------------------------

_HCL_VALUES = {
    "partition": "${local.partition}",
    "account": "${local.account_id}",
    "region": "${region}",
}


def _hcl_string(template: str, skip_tag: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "plan_tag":
            return PLAN_TAG
        if name == "skip_tag":
            return skip_tag
        return _HCL_VALUES[name]

    return json.dumps(_PLACEHOLDER.sub(substitute, template))


def hcl_list(templates: tuple[str, ...], skip_tag: str) -> str:
    """An HCL list expression; templates with {region} become a for over local.regions."""
    parts = []
    for template in templates:
        text = _hcl_string(template, skip_tag)
        if "{region}" in template:
            parts.append(f"[for region in local.arn_regions : {text}]")
        else:
            parts.append(f"[{text}]")
    return parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"


def hcl_statement(statement: Statement, skip_tag: str) -> dict[str, Any]:
    """What the Terraform template needs to write one ``statement`` block."""
    return {
        "sid": statement.sid,
        "why": statement.grant.why,
        "regional": statement.regional,
        "actions": json.dumps(list(statement.actions)),
        "resources": hcl_list(statement.grant.resources, skip_tag),
        "conditions": [
            {
                "test": json.dumps(c.test),
                "variable": _hcl_string(c.variable, skip_tag),
                "value_list": hcl_list(c.values, skip_tag),
            }
            for c in statement.grant.conditions
        ],
    }
