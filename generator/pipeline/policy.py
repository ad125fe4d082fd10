"""The customer role's least-privilege policies, computed from the enabled rules' calls.

Two documents: ``read`` (every read-only action any phase needs, on ``*`` unless its rules
narrow it) and ``write`` (each mutating action, with the resource ARNs and condition keys
each rule that calls it declares next to its calls, ``RuleCalls.scopes``; one statement per
rule and action, so rules sharing an action do not widen each other). Both are limited to
the configured regions. The same statements render as concrete JSON (for parliament and for
comparing with what Terraform created) and as HCL ``aws_iam_policy_document`` blocks (for
the customer-role module).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generator.aws.scan_policy import ACCOUNT_CALLS
from generator.aws.tags import PLAN_ID_TAG
from generator.iam.actions import iam_actions, is_read_only
from generator.iam.scopes import GLOBAL_PREFIXES, ActionScope, Condition, Grant
from generator.rules.base import Rule

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    grant: Grant
    any_region: bool = False
    """Not limited to the configured regions (an S3 object in its bucket's region)."""

    @property
    def regional(self) -> bool:
        """Limited to the configured regions, unless it is about a global service."""
        if self.any_region:
            return False
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
    return set(_users(list(rules)))


def _users(rules: list[Rule]) -> dict[str, list[Rule | None]]:
    """Each IAM action, with the rules that call it (None for the scan's account-wide
    calls, which no rule scopes)."""
    users: dict[str, list[Rule | None]] = {a: [None] for a in iam_actions(ACCOUNT_CALLS)}
    for rule in rules:
        for action in iam_actions(rule.calls.scan | rule.calls.apply | rule.calls.rollback):
            users.setdefault(action, []).append(rule)
    return users


def role_policies(
    rules: Iterable[Rule], *, skip_tag: str, state_objects: tuple[str, ...] = ()
) -> RolePolicies:
    """The read and write documents, composed from each rule's declared calls and scopes.

    ``state_objects`` are the S3 objects holding Terraform state (reclaim.yml's ``iac:``):
    the read document may get each of them, that key and nothing else in its bucket."""
    users = _users(list(rules))
    reads = sorted(a for a in users if is_read_only(a))
    # A read any user leaves unscoped is granted on "*": a narrower grant would add nothing.
    anywhere = [a for a in reads if any(_scope(user, a) is None for user in users[a])]
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
    read += _scoped([a for a in reads if a not in anywhere], users)
    if state_objects:
        why = "read the Terraform state reclaim.yml's iac: names (that key only)"
        read.append(
            Statement("TerraformState", ("s3:GetObject",), Grant(state_objects, why=why), True)
        )
    write = _scoped(sorted(a for a in users if not is_read_only(a)), users)
    return RolePolicies(read=tuple(read), write=tuple(write), skip_tag=skip_tag)


def _scope(user: Rule | None, action: str) -> ActionScope | None:
    return None if user is None else user.calls.scopes.get(action)


_ANYWHERE = ActionScope(grants=(Grant(("*",)),))


def _scoped(actions: list[str], users: dict[str, list[Rule | None]]) -> list[Statement]:
    """A statement per grant of each rule's scope of each action (``*`` when the rule
    declares none), then one per group of actions IAM checks alongside them.

    Rules that share an action get a statement each, named after the rule, so each keeps
    exactly its own resources and conditions (IAM allows what any statement allows);
    rules declaring the same scope share its statements."""
    statements: list[Statement] = []
    implied: dict[tuple[tuple[str, ...], Grant], None] = {}
    for action in actions:
        by_scope: dict[ActionScope, list[str]] = {}
        for user in users[action]:
            scope = _scope(user, action) or _ANYWHERE
            by_scope.setdefault(scope, []).append("" if user is None else user.name)
        for scope, names in by_scope.items():
            owner = names[0] if len(by_scope) > 1 else ""
            for index, grant in enumerate(scope.grants, start=1):
                suffix = str(index) if len(scope.grants) > 1 else ""
                sid = _sid(*owner.split("-"), *action.split(":"), suffix)
                statements.append(Statement(sid, (action,), grant))
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
        "plan_tag": PLAN_ID_TAG,
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
            return PLAN_ID_TAG
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
