"""AWS tags as reclaim reads, writes and compares them: one place for the keys and rules.

Neutral: imports nothing from reclaim, so rules, manifests, the executor and the generated
IAM policy (the rules' IAM scopes) all take the same constants from here. If the
plan-ID tag the backups carry and the one the IAM conditions require ever differed, every
test would pass (moto checks no IAM) and a real CreateSnapshot would be denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import JsonValue

PLAN_ID_TAG = "reclaim:plan-id"
"""The tag every backup reclaim makes carries, valued with the plan ID: how apply finds a
backup it already made, how rollback checks the backup is this plan's, and the condition the
write role's policy puts on creating one."""

HELD_FOR_ROLLBACK_TAG = "reclaim:held-for-rollback"
"""Set, valued with the plan ID, on a resource a plan keeps because its rollback needs it
(the Elastic IP a deleted NAT gateway leaves allocated): no reclaim rule proposes removing a
resource that carries it, and the rollback that needed it takes it off."""

AWS_RESERVED_TAG_PREFIX = "aws:"
"""Tags AWS sets itself (CloudFormation, Auto Scaling, AWS Backup): nobody may set them."""


def tags_from_api(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``[{"Key": .., "Value": ..}]`` as returned by most AWS APIs, as a dict sorted by key
    (missing Tags and missing Values included)."""
    return dict(sorted({t["Key"]: t.get("Value", "") for t in items or []}.items()))


def restorable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags a restore can set again: AWS refuses user-set ``aws:`` tags."""
    return {k: v for k, v in tags.items() if not k.startswith(AWS_RESERVED_TAG_PREFIX)}


def tag_list(tags: Mapping[str, str]) -> list[JsonValue]:
    """A tag dict in the ``[{"Key": .., "Value": ..}]`` shape AWS takes, sorted by key."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
