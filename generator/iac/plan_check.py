"""The check that makes a code-change PR safe to apply: the saved plan does exactly the
finding's change.

The .tf edit is in the pull request, so its author could have changed anything. What the
reviewer approved is the finding's change; what runs is the saved plan. So the plan
(``terraform show -json`` of it) must hold one resource change, at the address the default
branch's state gives the finding's resource (re-observed in AWS), of that resource (its
``id`` before the change), and be a delete, or an in-place update of the rule's attributes
to the rule's values and nothing else. Anything more, or less, and nothing is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["delete", "update"]


@dataclass(frozen=True)
class ExpectedChange:
    address: str
    resource_id: str
    action: Action
    values: dict[str, str | int] = field(default_factory=dict)
    """For an update: every attribute that may change, with the value it must get."""


def _changed_keys(change: dict[str, Any]) -> set[str]:
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    keys = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return keys | {k for k, v in unknown.items() if v not in (False, None, {}, [])}


def plan_problems(plan: Any, expected: ExpectedChange) -> list[str]:
    """Why the saved plan is not exactly ``expected`` (empty: it is)."""
    if not isinstance(plan, dict) or not isinstance(plan.get("resource_changes", []), list):
        return ["the plan is not `terraform show -json` output of a saved plan"]
    problems = []
    if plan.get("errored") is True:
        problems.append("the plan errored")
    if plan.get("complete") is False or plan.get("deferred_changes"):
        problems.append("the plan is incomplete (deferred changes)")
    changes = []
    for item in plan.get("resource_changes") or ():
        actions = (item.get("change") or {}).get("actions")
        if actions == ["no-op"] or (item.get("mode") == "data" and actions == ["read"]):
            continue
        changes.append(item)
    others = [c for c in changes if c.get("address") != expected.address]
    for other in others:
        actions = "/".join((other.get("change") or {}).get("actions") or ["?"])
        problems.append(f"it would also {actions} {other.get('address')}")
    mine = [c for c in changes if c.get("address") == expected.address]
    if not mine:
        problems.append(f"it does not change {expected.address}")
    for item in mine:
        problems += _problems_of(item, expected)
    return problems


def _problems_of(item: dict[str, Any], expected: ExpectedChange) -> list[str]:
    change = item.get("change") or {}
    actions = change.get("actions")
    want = [expected.action]
    if item.get("mode") != "managed":
        return [f"{expected.address} is not a managed resource"]
    if actions != want:
        return [
            f"it would {'/'.join(actions or ['?'])} {expected.address}, not {expected.action} "
            "it" + (" (a replacement destroys and recreates it)" if len(actions or []) > 1 else "")
        ]
    before = change.get("before") or {}
    if before.get("id") != expected.resource_id:
        return [
            f"{expected.address} is {before.get('id')!r} in the plan, not the finding's "
            f"{expected.resource_id}"
        ]
    if expected.action == "delete":
        return []
    problems = []
    changed = _changed_keys(change)
    extra = sorted(changed - set(expected.values))
    if extra:
        problems.append(f"it would also change {', '.join(extra)} of {expected.address}")
    after = change.get("after") or {}
    for name, value in expected.values.items():
        if after.get(name) != value:
            problems.append(
                f"{expected.address}.{name} would be {after.get(name)!r}, not {value!r}"
            )
    return problems
