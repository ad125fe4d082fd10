"""(boto3 service, API operation) → IAM action, and whether that action only reads.

IAM's action prefix is, for almost every service, the SigV4 signing name in botocore's
service model ("elbv2" signs as "elasticloadbalancing", "stepfunctions" as "states"), so the
prefix comes from botocore and only the few services that differ are listed here. Likewise
the action is the operation name except for the few operations IAM authorizes under another
action (S3's ListObjectsV2 is s3:ListBucket).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import botocore.session
from botocore.exceptions import UnknownServiceError

from generator.errors import ConfigError
from generator.service_models import shared_loader

ApiCall = tuple[str, str]
"""(boto3 service name, AWS operation name), e.g. ("ec2", "DeleteVolume")."""

# Services whose IAM prefix is not their signing name.
PREFIX_EXCEPTIONS: dict[str, str] = {
    "cloudwatch": "cloudwatch",  # signs as "monitoring"
    "resourcegroupstaggingapi": "tag",  # signs as "tagging"
}

# Services whose prefix is known here rather than read from their model: those every scan's
# session policy names for its account-level calls (generator.aws.scan_policy.ACCOUNT_CALLS:
# the recommenders and Cost Explorer), most scans never calling them. Parsing the three
# models just for their prefix cost ~45 ms before the first account's hop 2. Calls on these
# services are named only by reclaim's own code (those constants and the rules'
# declarations, never configuration), so they are not checked against the models at run
# time: tests/pipeline/test_iam_actions.py checks each prefix, every account-level call and
# every rule's declared calls against botocore's models.
MODEL_FREE_PREFIXES: dict[str, str] = {
    "ce": "ce",
    "compute-optimizer": "compute-optimizer",
    "cost-optimization-hub": "cost-optimization-hub",
}

# Operations IAM authorizes under a differently named action: (service, operation) → action.
ACTION_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "GetBucketLifecycleConfiguration"): "GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "PutLifecycleConfiguration",
}

# Operations that need no IAM permission at all.
UNAUTHORIZED_OPERATIONS: frozenset[tuple[str, str]] = frozenset({("sts", "GetCallerIdentity")})

_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "BatchGet", "Search")


@cache
def _service_model(service: str) -> object:
    try:
        session = botocore.session.Session()
        session.register_component("data_loader", shared_loader())
        return session.get_service_model(service)
    except UnknownServiceError:
        raise ConfigError(
            f"{service!r} is not a boto3 service name this botocore knows",
            hint="rules name services as boto3 does, e.g. 'ec2', 'elbv2', 'cloudwatch'",
        ) from None


def signing_prefix(service: str) -> str:
    """The prefix as botocore's model of ``service`` gives it: its signing name, or the
    listed exception."""
    model = _service_model(service)
    return PREFIX_EXCEPTIONS.get(service) or str(model.signing_name)  # type: ignore[attr-defined]


def check_operation(service: str, operation: str) -> None:
    """A clear error unless botocore's model of ``service`` has ``operation``."""
    if operation not in _service_model(service).operation_names:  # type: ignore[attr-defined]
        raise ConfigError(
            f"{service} has no operation {operation!r}",
            hint="operations are spelled as in the AWS API reference, e.g. 'DescribeVolumes'",
        )


def iam_prefix(service: str) -> str:
    return MODEL_FREE_PREFIXES.get(service) or signing_prefix(service)


def iam_action(service: str, operation: str) -> str | None:
    """``prefix:Action`` for one call, or None when the call needs no permission."""
    if (service, operation) in UNAUTHORIZED_OPERATIONS:
        return None
    if service not in MODEL_FREE_PREFIXES:
        check_operation(service, operation)
    return f"{iam_prefix(service)}:{ACTION_EXCEPTIONS.get((service, operation), operation)}"


def iam_actions(calls: Iterable[ApiCall]) -> set[str]:
    """The IAM actions a set of (service, operation) calls needs."""
    return {action for s, o in calls if (action := iam_action(s, o)) is not None}


def is_read_only(action: str) -> bool:
    """True for actions that only read (IAM's List and Read access levels, by their names)."""
    return action.split(":", 1)[1].startswith(_READ_PREFIXES)
