"""The EC2 Recycle Bin as reclaim's rules use it: deleting into it, and finding the rule
that keeps what they delete.

A deletion is undoable through the bin only while a retention rule covers the resource.
reclaim relies on one kind of rule only: a tag-level rule matching
``reclaim:recycle-bin=retain``. ``reclaim init``'s customer-role Terraform creates the one for
EBS snapshots when ``recycle_bin_days`` is set; the one for EBS volumes is created by hand
(docs/rules.md), since the AWS provider the Terraform is tested with (5.100) does not accept
the ``EBS_VOLUME`` resource type. A plan sets that tag on the
resource first, checks the rule live (GetRule: available, same type, same tag, same
retention) and only then deletes; the rollback restores the same resource, ID included, and
removes the tag again.

Shared by ebs-snapshot-orphaned (snapshots) and ebs-unattached (volumes).
"""

from __future__ import annotations

from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from generator.aws.retries import GaveUp, bound_retries
from generator.errors import ManifestError
from generator.findings import Evidence, Finding
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Condition, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Step
from generator.manifest.paths import json_literal
from generator.rules.context import ScanContext

RECYCLE_BIN_TAG = "reclaim:recycle-bin"
RECYCLE_BIN_VALUE = "retain"
"""The tag the Recycle Bin rules reclaim relies on match, and the plans set."""

BinResourceType = Literal["EBS_SNAPSHOT", "EBS_VOLUME"]
_WHAT: dict[BinResourceType, str] = {"EBS_SNAPSHOT": "EBS snapshots", "EBS_VOLUME": "EBS volumes"}

ONLY_OUR_TAG = Condition("ForAllValues:StringEquals", "aws:TagKeys", (RECYCLE_BIN_TAG,))
"""A tag call that names the Recycle Bin tag and no other."""
CARRIES_OUR_TAG = Condition(
    "StringEquals", f"aws:ResourceTag/{RECYCLE_BIN_TAG}", (RECYCLE_BIN_VALUE,)
)
"""The resource carries the tag the retention rule keeps deleted resources by."""
RULE_ARN = "arn:{partition}:rbin:{region}:{account}:rule/*"


class RecycleBinRule(BaseModel):
    """The retention rule a scan found covering the resource, as the finding records it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str
    retention_days: int


def covering_rule(
    ctx: ScanContext, resource_type: BinResourceType, min_days: int, *, unreadable: str
) -> RecycleBinRule | None:
    """The tag-level rule retaining ``resource_type`` tagged reclaim:recycle-bin=retain
    longest (at least ``min_days``), unlocked or not; None when none does, or (with a
    warning ending in ``unreadable``, the consequence) when the Recycle Bin is unreadable."""
    rbin = ctx.client("rbin")
    bound_retries(rbin, "rbin", "ListRules")  # optional evidence: never stall the scan
    try:
        pages = rbin.get_paginator("list_rules").paginate(
            ResourceType=resource_type,
            ResourceTags=[
                {"ResourceTagKey": RECYCLE_BIN_TAG, "ResourceTagValue": RECYCLE_BIN_VALUE}
            ],
        )
        rules = [rule for page in pages for rule in page.get("Rules", [])]
    except GaveUp as gave_up:
        ctx.warn(
            f"Recycle Bin rules unreadable (ListRules failed {gave_up.attempts} times: "
            f"{gave_up.what}): {unreadable}"
        )
        return None
    except (ClientError, BotoCoreError) as error:
        ctx.warn(f"Recycle Bin rules unreadable ({error}): {unreadable}")
        return None
    usable = [
        RecycleBinRule(
            identifier=rule["Identifier"],
            retention_days=int(rule["RetentionPeriod"]["RetentionPeriodValue"]),
        )
        for rule in rules
        if (rule.get("RetentionPeriod") or {}).get("RetentionPeriodUnit") == "DAYS"
        and int(rule["RetentionPeriod"]["RetentionPeriodValue"]) >= min_days
    ]
    # AWS keeps a resource several rules match for the longest of their retentions.
    return max(usable, key=lambda r: (r.retention_days, r.identifier), default=None)


def rule_precheck(rule: RecycleBinRule, resource_type: BinResourceType) -> Step:
    """The plan's live check that the recorded rule still keeps what the plan deletes:
    without it the deletion would be permanent."""
    return steps.precheck(
        "precheck-recycle-bin",
        f"Confirm Recycle Bin rule {rule.identifier} is available, retains "
        f"{_WHAT[resource_type]} tagged {RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE}, for "
        f"{rule.retention_days} days.",
        AwsCall(service="rbin", operation="GetRule", params={"Identifier": rule.identifier}),
        Expectation(path="Status", equals="available", what="rule status"),
        Expectation(path="ResourceType", equals=resource_type, what="resource type"),
        Expectation(
            path=(
                f"length(ResourceTags[?ResourceTagKey == {json_literal(RECYCLE_BIN_TAG)}"
                f" && ResourceTagValue == {json_literal(RECYCLE_BIN_VALUE)}] || `[]`)"
            ),
            equals=1,
            what=f"rule matches {RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE}",
        ),
        Expectation(
            path="RetentionPeriod.RetentionPeriodValue",
            equals=rule.retention_days,
            what="retention (days)",
        ),
        Expectation(
            path="RetentionPeriod.RetentionPeriodUnit", equals="DAYS", what="retention unit"
        ),
        failure_hint="without this rule the deletion would be permanent: reclaim "
        "deletes nothing the Recycle Bin does not keep",
    )


def tag_call(operation: Literal["CreateTags", "DeleteTags"], resource_id: str) -> AwsCall:
    """Set (CreateTags) or remove (DeleteTags) the Recycle Bin tag on one resource."""
    return AwsCall(
        service="ec2",
        operation=operation,
        params={
            "Resources": [resource_id],
            "Tags": [{"Key": RECYCLE_BIN_TAG, "Value": RECYCLE_BIN_VALUE}],
        },
    )


def tagged(tags_at: str) -> str:
    """JMESPath: the tags at ``tags_at`` include the Recycle Bin tag."""
    return (
        f"length({tags_at}[?Key == {json_literal(RECYCLE_BIN_TAG)} && "
        f"Value == {json_literal(RECYCLE_BIN_VALUE)}] || `[]`) > `0`"
    )


def tag_scope(resource: str, what: str) -> ActionScope:
    """ec2:CreateTags: the Recycle Bin tag only, never on a resource carrying the skip tag."""
    return ActionScope(
        grants=(
            Grant(
                (resource,),
                (
                    NOT_SKIPPED,
                    ONLY_OUR_TAG,
                    Condition(
                        "StringEquals", f"aws:RequestTag/{RECYCLE_BIN_TAG}", (RECYCLE_BIN_VALUE,)
                    ),
                ),
                f"only the Recycle Bin tag, only on {what} without the skip tag",
            ),
        )
    )


def untag_scope(resource: str) -> ActionScope:
    """ec2:DeleteTags: the Recycle Bin tag only (the rollback removes what the apply set)."""
    return ActionScope(
        grants=(Grant((resource,), (ONLY_OUR_TAG,), "only the Recycle Bin tag, on undo"),)
    )


GET_RULE_SCOPE = only(RULE_ARN, why="Recycle Bin rules")


def snapshot_bin_evidence(rule: RecycleBinRule | None) -> Evidence:
    """What a snapshot deletion's finding says about the Recycle Bin: the rule that keeps it,
    or why it is report-only without one."""
    return Evidence(
        label="Recycle Bin",
        value=(
            f"rule {rule.identifier} keeps snapshots tagged "
            f"{RECYCLE_BIN_TAG}={RECYCLE_BIN_VALUE} for {rule.retention_days} days"
            if rule
            else "no tag-level rule covers it: report-only (deleting it could not be "
            "undone); set recycle_bin_days in the customer-role Terraform"
        ),
        source="rbin ListRules",
    )


def kept_by_bin(finding: Finding, rule: RecycleBinRule | None, deleting: str) -> RecycleBinRule:
    """The Recycle Bin rule a deletion's manifests name; a report-only finding (no rule
    covered it) is refused: ``deleting`` could not be undone."""
    if rule is None or finding.reversibility == "report-only":
        raise ManifestError(
            f"{finding.id} is report-only: no Recycle Bin rule covers it, so {deleting} "
            "could not be undone",
            hint="set recycle_bin_days in the customer-role Terraform and scan again",
        )
    return rule
