"""The session policy of a scan: its credentials can make the enabled rules' read calls and
nothing else, whatever the remediation role itself allows.

One remediation role serves scans and changes (the customer deploys one role per account).
A scan or propose passes this policy with its hop-2 AssumeRole, and AWS grants the
intersection of the role's policies and this one: a scheduled scan's credentials cannot
delete, stop or modify anything, even if reclaim or a dependency had a bug that tried.
The rules' ``calls.scan`` declarations are enforced on every scan (rules.declared_calls), so
this list is complete by construction. The caller passes those declarations in (the
catalog is not imported here: rules import ``generator.aws``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from generator.errors import ReclaimError
from generator.iam.actions import ApiCall, iam_actions, is_read_only

# Calls a scan makes for the account rather than for one rule (generator.aws.fleet):
# GetCallerIdentity needs no permission; DescribeRegions resolves `regions: all-enabled`;
# the recommenders give the re-check of open PRs AWS's second opinion
# (generator.aws.recommenders; refused or not opted in, it is said and skipped).
ACCOUNT_CALLS: frozenset[ApiCall] = frozenset(
    {
        ("ec2", "DescribeRegions"),
        ("cost-optimization-hub", "ListRecommendations"),
        ("compute-optimizer", "GetIdleRecommendations"),
        # realized savings of applied changes (reclaim measure-savings)
        ("ce", "GetCostAndUsage"),
        ("ce", "GetCostAndUsageWithResources"),
    }
)

# AssumeRole accepts an inline session policy of at most 2,048 characters.
MAX_POLICY_CHARS = 2048
_VERB = re.compile(r"^[A-Z][a-z]+")


def scan_actions(scan_calls: Iterable[frozenset[ApiCall]]) -> list[str]:
    """The IAM actions of the rules' scans (each rule's ``calls.scan``) and of the account
    set-up, sorted."""
    calls = set(ACCOUNT_CALLS)
    for declared in scan_calls:
        calls |= declared
    actions = sorted(iam_actions(calls))
    writes = [a for a in actions if not is_read_only(a)]
    if writes:
        raise ReclaimError(
            f"scan calls that are not reads: {', '.join(writes)}",
            hint="a bug in a rule: detection must only read",
        )
    return actions


def _document(actions: list[str]) -> str:
    statement = {
        "Sid": "ReclaimScanReadsOnly",
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))


def _by_verb(actions: list[str]) -> list[str]:
    """``ec2:DescribeVolumes`` and ``ec2:DescribeImages`` → ``ec2:Describe*``: still reads."""
    grouped = set()
    for action in actions:
        prefix, name = action.split(":", 1)
        verb = _VERB.match(name)
        grouped.add(f"{prefix}:{verb.group(0)}*" if verb else action)
    return sorted(grouped)


def scan_session_policy(scan_calls: Iterable[frozenset[ApiCall]]) -> str:
    """The inline session policy (JSON text) for a scan of rules making ``scan_calls``
    (each rule's ``calls.scan``)."""
    actions = scan_actions(scan_calls)
    for candidate in (actions, _by_verb(actions)):
        text = _document(candidate)
        if len(text) <= MAX_POLICY_CHARS:
            return text
    raise ReclaimError(
        f"the scan session policy for {len(actions)} actions exceeds AssumeRole's "
        f"{MAX_POLICY_CHARS} characters",
        hint="enable fewer rules per scan, or split the scan by rule across shards",
    )
