"""Where IAM can narrow an action below ``Resource: "*"``: resource ARNs and condition keys.

Keyed by IAM action. An action absent here is granted on ``*`` (most Describe/List actions
support nothing narrower), still limited to the configured regions by ``aws:RequestedRegion``.
ARN templates use ``{partition}``, ``{account}`` and ``{region}``; a template with
``{region}`` is expanded once per configured region. Condition values may use ``{plan_tag}``
(the tag every reclaim backup carries) and ``{skip_tag}`` (the exclusion tag from reclaim.yml).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.aws.tags import PLAN_ID_TAG

PLAN_TAG = PLAN_ID_TAG


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """One statement's worth of permission: some resources, under some conditions."""

    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class ActionScope:
    grants: tuple[Grant, ...]
    implied: tuple[tuple[tuple[str, ...], Grant], ...] = ()
    """Further actions IAM checks when this action runs (tag-on-create, KMS for encryption)."""


_VOLUME = "arn:{partition}:ec2:{region}:{account}:volume/*"
_INSTANCE = "arn:{partition}:ec2:{region}:{account}:instance/*"
_ELASTIC_IP = "arn:{partition}:ec2:{region}:{account}:elastic-ip/*"
_LOG_GROUP = "arn:{partition}:logs:{region}:{account}:log-group:*"
_DISTRIBUTION = "arn:{partition}:cloudfront::{account}:distribution/*"
_NOT_SKIPPED = Condition("Null", "aws:ResourceTag/{skip_tag}", ("true",))
# ec2-idle stops (and so starts again) only EBS-backed instances outside any Auto Scaling
# group; its pre-checks refuse the others, and IAM refuses them too.
_EBS_BACKED = Condition("StringEquals", "ec2:RootDeviceType", ("ebs",))
_OUTSIDE_ASG = Condition("Null", "aws:ResourceTag/aws:autoscaling:groupName", ("true",))
_SNAPSHOT = "arn:{partition}:ec2:{region}::snapshot/*"
_KMS_KEY = "arn:{partition}:kms:{region}:{account}:key/*"


def _create_action(name: str) -> Condition:
    return Condition("StringEquals", "ec2:CreateAction", (name,))


_VIA_EC2 = Condition("StringLike", "kms:ViaService", ("ec2.{region}.amazonaws.com",))
# Restoring an encrypted volume makes EBS use the volume's KMS key on reclaim's behalf.
_RESTORE_ENCRYPTED = (
    (
        (
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ),
        Grant((_KMS_KEY,), (_VIA_EC2,), "only through EC2, to restore encrypted volumes"),
    ),
    (
        ("kms:CreateGrant",),
        Grant(
            (_KMS_KEY,),
            (_VIA_EC2, Condition("Bool", "kms:GrantIsForAWSResource", ("true",))),
            "grants only for EBS itself, to restore encrypted volumes",
        ),
    ),
)

SCOPES: dict[str, ActionScope] = {
    "ec2:CreateSnapshot": ActionScope(
        grants=(
            Grant((_VOLUME,), why="snapshot any volume in the configured regions"),
            Grant(
                (_SNAPSHOT,),
                (Condition("Null", "aws:RequestTag/{plan_tag}", ("false",)),),
                "only snapshots tagged with the plan ID at creation",
            ),
        ),
        implied=(
            (
                ("ec2:CreateTags",),
                Grant(
                    (_SNAPSHOT,),
                    (_create_action("CreateSnapshot"),),
                    "tags only while creating a snapshot",
                ),
            ),
        ),
    ),
    "ec2:DeleteVolume": ActionScope(
        grants=(
            Grant(
                (_VOLUME,),
                (_NOT_SKIPPED,),
                "never a volume carrying the skip tag",
            ),
        ),
    ),
    "ec2:CreateVolume": ActionScope(
        grants=(
            Grant(
                (_VOLUME,),
                (Condition("Null", "ec2:ParentSnapshot", ("false",)),),
                "the restored volume: only from a snapshot, never a blank volume",
            ),
            Grant(
                (_SNAPSHOT,),
                (Condition("Null", "aws:ResourceTag/{plan_tag}", ("false",)),),
                "restore only from reclaim's own backup snapshots",
            ),
        ),
        implied=(
            (
                ("ec2:CreateTags",),
                Grant(
                    (_VOLUME,),
                    (_create_action("CreateVolume"),),
                    "tags only while restoring a volume",
                ),
            ),
            *_RESTORE_ENCRYPTED,
        ),
    ),
    "ec2:ModifyVolume": ActionScope(
        grants=(Grant((_VOLUME,), (_NOT_SKIPPED,), "never a volume carrying the skip tag"),),
    ),
    "ec2:ModifySnapshotTier": ActionScope(
        grants=(Grant((_SNAPSHOT,), (_NOT_SKIPPED,), "never a snapshot carrying the skip tag"),),
    ),
    "ec2:RestoreSnapshotTier": ActionScope(
        grants=(Grant((_SNAPSHOT,), why="snapshots only, to undo an archive"),),
    ),
    "ec2:StopInstances": ActionScope(
        grants=(
            Grant(
                (_INSTANCE,),
                (_NOT_SKIPPED, _EBS_BACKED, _OUTSIDE_ASG),
                "EBS-backed instances outside Auto Scaling groups, never one carrying the skip tag",
            ),
        ),
    ),
    "ec2:StartInstances": ActionScope(
        grants=(
            Grant(
                (_INSTANCE,),
                (_EBS_BACKED, _OUTSIDE_ASG),
                "to undo a stop: only instances ec2-idle may stop (EBS-backed, outside Auto "
                "Scaling groups)",
            ),
        ),
    ),
    "ec2:ReleaseAddress": ActionScope(
        grants=(Grant((_ELASTIC_IP,), (_NOT_SKIPPED,), "never an address carrying the skip tag"),),
    ),
    "ec2:AllocateAddress": ActionScope(
        grants=(Grant((_ELASTIC_IP,), why="Elastic IPs only, to recover a released address"),),
    ),
    "ec2:ModifyAddressAttribute": ActionScope(
        grants=(Grant((_ELASTIC_IP,), why="Elastic IPs only"),),
    ),
    "logs:PutRetentionPolicy": ActionScope(
        grants=(Grant((_LOG_GROUP,), (_NOT_SKIPPED,), "never a log group carrying the skip tag"),),
    ),
    "logs:DeleteRetentionPolicy": ActionScope(
        grants=(Grant((_LOG_GROUP,), why="log groups only, to undo a retention change"),),
    ),
    # Reads IAM can narrow too (most Describe and List actions it cannot).
    "ec2:DescribeInstanceAttribute": ActionScope(grants=(Grant((_INSTANCE,), why="instances"),)),
    "cloudfront:GetDistribution": ActionScope(
        grants=(Grant((_DISTRIBUTION,), why="distributions"),)
    ),
    "cloudfront:GetDistributionConfig": ActionScope(
        grants=(Grant((_DISTRIBUTION,), why="distributions"),)
    ),
    "cloudfront:ListTagsForResource": ActionScope(
        grants=(Grant((_DISTRIBUTION,), why="distributions"),)
    ),
    "logs:ListTagsForResource": ActionScope(grants=(Grant((_LOG_GROUP,), why="log groups"),)),
    "cloudfront:UpdateDistribution": ActionScope(
        grants=(
            Grant((_DISTRIBUTION,), (_NOT_SKIPPED,), "never a distribution carrying the skip tag"),
        ),
    ),
}

# Services whose API lives in one region whatever the resource's (aws:RequestedRegion is
# us-east-1 for them): their statements are not limited to the configured regions.
GLOBAL_PREFIXES = frozenset({"cloudfront", "ce", "iam", "route53", "organizations", "budgets"})
