"""Where IAM can narrow an action below ``Resource: "*"``: resource ARNs and condition keys.

Each rule declares the scopes of its own actions next to its calls
(``RuleCalls.scopes``, keyed by IAM action); the policy generator
(generator.pipeline.policy) writes one statement per (rule, action, grant), so two rules
that share an action each get exactly their own grant. An action a rule does not scope is
granted on ``*`` (most Describe/List actions support nothing narrower), still limited to the
configured regions by ``aws:RequestedRegion``.

ARN templates use ``{partition}``, ``{account}`` and ``{region}``; a template with
``{region}`` is expanded once per configured region. Condition values may use
``{plan_tag}`` (the tag every reclaim backup carries) and ``{skip_tag}`` (the exclusion tag
from reclaim.yml). The templates and conditions below are the ones several rules use.
"""

from __future__ import annotations

from dataclasses import dataclass


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


VOLUME = "arn:{partition}:ec2:{region}:{account}:volume/*"
SNAPSHOT = "arn:{partition}:ec2:{region}::snapshot/*"
INSTANCE = "arn:{partition}:ec2:{region}:{account}:instance/*"
ELASTIC_IP = "arn:{partition}:ec2:{region}:{account}:elastic-ip/*"
LOG_GROUP = "arn:{partition}:logs:{region}:{account}:log-group:*"
DISTRIBUTION = "arn:{partition}:cloudfront::{account}:distribution/*"
KMS_KEY = "arn:{partition}:kms:{region}:{account}:key/*"
HOSTED_ZONE = "arn:{partition}:route53:::hostedzone/*"
DB_INSTANCE = "arn:{partition}:rds:{region}:{account}:db:*"
EKS_CLUSTER = "arn:{partition}:eks:{region}:{account}:cluster/*"
ECR_REPOSITORY = "arn:{partition}:ecr:{region}:{account}:repository/*"
SECRET = "arn:{partition}:secretsmanager:{region}:{account}:secret:*"
BUCKET = "arn:{partition}:s3:::*"
"""Bucket ARNs name neither account nor region: scope them with ``OWN_ACCOUNT``."""
OBJECT = "arn:{partition}:s3:::*/*"

NOT_SKIPPED = Condition("Null", "aws:ResourceTag/{skip_tag}", ("true",))
"""Denies the action on a resource carrying the skip tag, whatever a plan says."""


OWN_ACCOUNT = Condition("StringEquals", "s3:ResourceAccount", ("{account}",))
"""Only resources of the account the policy is in (for ARNs without an account, S3's)."""


def create_action(name: str) -> Condition:
    """``ec2:CreateTags`` only as part of the named create call (tag-on-create)."""
    return Condition("StringEquals", "ec2:CreateAction", (name,))


def only(*resources: str, why: str) -> ActionScope:
    """A scope of one unconditional grant."""
    return ActionScope(grants=(Grant(resources, why=why),))


def never_skipped(resource: str, why: str) -> ActionScope:
    """A scope of one grant denied on resources carrying the skip tag."""
    return ActionScope(grants=(Grant((resource,), (NOT_SKIPPED,), why),))


# Services whose API lives in one region whatever the resource's (aws:RequestedRegion is
# us-east-1 for them): their statements are not limited to the configured regions.
GLOBAL_PREFIXES = frozenset(
    {"cloudfront", "ce", "iam", "route53", "organizations", "budgets", "cost-optimization-hub"}
)
