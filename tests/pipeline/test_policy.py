"""The customer role's policies: computed from the rules, narrowed, and accepted by parliament."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest

from generator.iam import scopes
from generator.iam.actions import iam_action, is_read_only
from generator.iam.scopes import GLOBAL_PREFIXES
from generator.pipeline.policy import RolePolicies, policy_json, role_policies, unscoped_writes
from generator.rules import RULES
from generator.rules.base import RuleCalls

ACCOUNT = "222222222222"


@pytest.fixture(scope="module")
def policies() -> RolePolicies:
    return role_policies(RULES.values(), skip_tag="keep-me")


def _statements(
    policies: RolePolicies, name: str, regions: tuple[str, ...] = ("us-east-1",)
) -> list[dict[str, Any]]:
    document = policy_json(
        policies.documents[name], account=ACCOUNT, regions=regions, skip_tag="keep-me"
    )
    return list(document["Statement"])


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _unnamed(statement: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in statement.items() if key != "Sid"}


def _granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in _as_list(s["Action"])]


def test_every_declared_call_is_granted_and_reads_are_apart_from_writes(
    policies: RolePolicies,
) -> None:
    read = {a for s in _statements(policies, "read") for a in _as_list(s["Action"])}
    write = {a for s in _statements(policies, "write") for a in _as_list(s["Action"])}
    assert all(is_read_only(a) for a in read)
    # The only reads among the writes are KMS's, usable only through EC2 for a restore.
    for statement in _statements(policies, "write"):
        if any(is_read_only(a) for a in _as_list(statement["Action"])):
            assert "kms:ViaService" in statement["Condition"]["StringLike"]
    for rule in RULES.values():
        for service, operation in rule.calls.scan | rule.calls.apply | rule.calls.rollback:
            action = iam_action(service, operation)
            assert action is None or action in read | write, action


def test_the_account_wide_reads_of_a_scan_are_granted(policies: RolePolicies) -> None:
    """`regions: all-enabled` asks DescribeRegions through the remediation role."""
    read = {a for s in _statements(policies, "read") for a in _as_list(s["Action"])}
    assert "ec2:DescribeRegions" in read


def test_snapshots_may_only_be_created_with_the_plan_id_tag(policies: RolePolicies) -> None:
    statements = _granting(_statements(policies, "write"), "ec2:CreateSnapshot")
    on_snapshots = [s for s in statements if ":snapshot/" in str(s["Resource"])]
    assert on_snapshots and all(
        s["Condition"]["Null"] == {"aws:RequestTag/reclaim:plan-id": "false"} for s in on_snapshots
    )
    # ebs-unattached tags what it creates (its backup, its restored volume) with tag-on-create
    # grants, and an existing volume only with the Recycle Bin tag (its bin variant), never
    # one carrying the skip tag. Another rule may tag existing resources with its own grant
    # (test_rules_sharing_an_action_each_keep_their_own_grant).
    own = role_policies([RULES["ebs-unattached"]], skip_tag="keep-me")
    tagging = _granting(_statements(own, "write"), "ec2:CreateTags")
    on_create = [s for s in tagging if "ec2:CreateAction" in s["Condition"].get("StringEquals", {})]
    assert {s["Condition"]["StringEquals"]["ec2:CreateAction"] for s in on_create} == {
        "CreateSnapshot",
        "CreateVolume",
    }
    (existing,) = [s for s in tagging if s not in on_create]
    assert existing["Resource"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/*"
    assert existing["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": "reclaim:recycle-bin"
    }
    assert existing["Condition"]["StringEquals"]["aws:RequestTag/reclaim:recycle-bin"] == "retain"
    assert existing["Condition"]["Null"] == {"aws:ResourceTag/keep-me": "true"}
    # and the catalog's policy holds them unchanged, whatever other rules grant
    in_catalog = [_unnamed(s) for s in _granting(_statements(policies, "write"), "ec2:CreateTags")]
    assert all(_unnamed(s) in in_catalog for s in tagging)


def test_volumes_carrying_the_skip_tag_cannot_be_deleted(policies: RolePolicies) -> None:
    (statement,) = _granting(_statements(policies, "write"), "ec2:DeleteVolume")
    assert statement["Resource"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/*"
    assert statement["Condition"]["Null"] == {"aws:ResourceTag/keep-me": "true"}


def test_restores_come_only_from_reclaims_own_snapshots(policies: RolePolicies) -> None:
    statements = _granting(_statements(policies, "write"), "ec2:CreateVolume")
    sources = [s for s in statements if ":snapshot/" in str(s["Resource"])]
    assert [s["Condition"]["Null"] for s in sources] == [
        {"aws:ResourceTag/reclaim:plan-id": "false"}
    ]


def _global(statement: dict[str, Any]) -> bool:
    return any(a.split(":")[0] in GLOBAL_PREFIXES for a in _as_list(statement["Action"]))


def test_every_statement_is_limited_to_the_configured_regions(policies: RolePolicies) -> None:
    for name in ("read", "write"):
        for statement in _statements(policies, name, ("us-east-1", "eu-west-1")):
            if _global(statement):
                # CloudFront, Cost Explorer: one endpoint, whatever the resource's region
                assert "aws:RequestedRegion" not in json.dumps(statement)
                assert all("::" in r or r == "*" for r in _as_list(statement["Resource"]))
                continue
            assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == [
                "us-east-1",
                "eu-west-1",
            ]
            for resource in _as_list(statement["Resource"]):
                assert (
                    resource == "*"
                    or ":us-east-1:" in resource
                    or ":eu-west-1:" in resource
                    or _regionless(resource)  # S3 buckets: aws:RequestedRegion limits them
                )


def test_no_regions_means_every_region(policies: RolePolicies) -> None:
    for statement in _statements(policies, "write", regions=()):
        assert "aws:RequestedRegion" not in json.dumps(statement)
        assert all(
            ":*:" in r or _regionless(r) or _global(statement)
            for r in _as_list(statement["Resource"])
        )


def _regionless(arn: str) -> bool:
    """An ARN whose service puts no region in it (S3 buckets: ``arn:aws:s3:::name``)."""
    return arn.startswith("arn:aws:s3:::")


def test_the_bundled_rules_grant_no_write_on_every_resource(policies: RolePolicies) -> None:
    assert unscoped_writes(policies) == []


def test_changes_never_touch_what_carries_the_skip_tag(policies: RolePolicies) -> None:
    """Every action that changes or removes an existing resource is denied on a resource
    with the skip tag, whatever a plan says; undo actions (start, restore) are not."""
    for action in (
        "ec2:DeleteVolume",
        "ec2:ModifyVolume",
        "ec2:ModifySnapshotTier",
        "ec2:StopInstances",
        "ec2:ReleaseAddress",
        "logs:PutRetentionPolicy",
        "cloudfront:UpdateDistribution",
        "rds:StopDBInstance",
        "redshift:PauseCluster",
        "rds:StopDBCluster",
    ):
        (statement,) = _granting(_statements(policies, "write"), action)
        assert statement["Condition"]["Null"]["aws:ResourceTag/keep-me"] == "true", action


def _allows(
    statements: list[dict[str, Any]], action: str, resource: str, keys: dict[str, str]
) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` given these condition
    keys (a key absent from ``keys`` is absent from the request)."""
    import fnmatch

    from tests.pipeline.oidc import condition_holds

    for statement in statements:
        if action not in _as_list(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"])):
            continue
        if all(
            condition_holds(test, key, expected, keys)
            for test, pairs in statement.get("Condition", {}).items()
            for key, expected in pairs.items()
        ):
            return True
    return False


REGION = {"aws:RequestedRegion": "us-east-1"}
VOLUME = f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-0new"
INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc"


def test_no_blank_volume_can_be_created_only_restores(policies: RolePolicies) -> None:
    write = _statements(policies, "write")
    snapshot = "arn:aws:ec2:us-east-1::snapshot/snap-0backup"
    restore = {**REGION, "ec2:ParentSnapshot": snapshot}
    assert _allows(write, "ec2:CreateVolume", VOLUME, restore)
    assert _allows(
        write, "ec2:CreateVolume", snapshot, {**REGION, "aws:ResourceTag/reclaim:plan-id": "p"}
    )
    # a blank volume (no SnapshotId: no parent snapshot, and no snapshot resource) is refused
    assert not _allows(write, "ec2:CreateVolume", VOLUME, REGION)
    # and one from a snapshot reclaim did not make is refused on the snapshot
    assert not _allows(write, "ec2:CreateVolume", snapshot, REGION)


@pytest.mark.parametrize("action", ["ec2:StopInstances", "ec2:StartInstances"])
def test_instances_ec2_idle_never_stops_cannot_be_stopped_or_started(
    policies: RolePolicies, action: str
) -> None:
    write = _statements(policies, "write")
    ordinary = {**REGION, "ec2:RootDeviceType": "ebs"}
    assert _allows(write, action, INSTANCE, ordinary)
    in_asg = {**ordinary, "aws:ResourceTag/aws:autoscaling:groupName": "web"}
    assert not _allows(write, action, INSTANCE, in_asg)
    instance_store = {**REGION, "ec2:RootDeviceType": "instance-store"}
    assert not _allows(write, action, INSTANCE, instance_store)
    other_region = {"aws:RequestedRegion": "ap-south-1", "ec2:RootDeviceType": "ebs"}
    assert not _allows(write, action, INSTANCE.replace("us-east-1", "ap-south-1"), other_region)


def test_parliament_finds_nothing_but_split_multi_resource_actions(
    policies: RolePolicies,
) -> None:
    """IAM evaluates each resource of a multi-resource action (CreateSnapshot: the volume and
    the snapshot) separately, and a request-tag condition only applies to the resource being
    created, so the volume and the snapshot need separate statements, as in AWS's own
    examples. parliament checks one statement at a time and reports RESOURCE_MISMATCH for
    each half; every such report must be covered by a sibling statement of the same action."""
    import parliament  # a test extra: pip install -e ".[test]"

    for name in ("read", "write"):
        for regions in (("us-east-1", "eu-west-1"), ()):
            document = policy_json(
                policies.documents[name], account=ACCOUNT, regions=regions, skip_tag="keep-me"
            )
            findings = parliament.analyze_policy_string(json.dumps(document)).findings
            for finding in findings:
                if _lifecycle_escalation(finding) or _newer_than_parliament(finding):
                    continue
                assert finding.issue == "RESOURCE_MISMATCH", (finding.issue, finding.detail)
                for detail in finding.detail:
                    prefix = detail["required_format"].split("*")[-2]  # e.g. ":snapshot/"
                    covered = [
                        s
                        for s in _granting(list(document["Statement"]), detail["action"])
                        if prefix in json.dumps(s["Resource"])
                    ]
                    assert covered, detail


_CONDITIONS_NEWER_THAN_PARLIAMENT = {
    # elb-idle's tag-on-create: the Service Authorization Reference lists
    # elasticloadbalancing:CreateAction for AddTags (tags only as part of a create call).
    "Unknown condition elasticloadbalancing:CreateAction for action elasticloadbalancing:AddTags",
}


def _newer_than_parliament(finding: Any) -> bool:
    """An action parliament's bundled IAM database predates (rds:DescribeDBMajorEngineVersions,
    2025) is accepted only when the operation is in the botocore model reclaim runs with: a
    misspelt action still fails."""
    if finding.issue == "UNKNOWN_CONDITION_FOR_ACTION":
        return finding.detail in _CONDITIONS_NEWER_THAN_PARLIAMENT
    if finding.issue != "UNKNOWN_ACTION":
        return False
    prefix, _, operation = str(finding.location["string"]).partition(":")
    model = botocore.session.get_session().get_service_model(prefix)
    return operation in model.operation_names


def _lifecycle_escalation(finding: Any) -> bool:
    """s3-incomplete-multipart's s3:PutLifecycleConfiguration: a lifecycle rule can expire
    objects, and IAM has no key limiting what the configuration says. Known and accepted:
    the rule is off by default (its settings say why), and the plan's write is re-derived
    and checked before it runs."""
    return finding.issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION" and (
        "s3:PutLifecycleConfiguration" in str(finding.detail)
    )


@dataclass(frozen=True)
class _Tagger:
    """What the policy reads of a rule: a toy that tags existing volumes (and untags them)."""

    name: str
    calls: RuleCalls


def _tagger(name: str, *, scoped: bool = True) -> Any:
    declared = {
        "ec2:CreateTags": scopes.never_skipped(scopes.VOLUME, "tag volumes, not skipped ones"),
        "ec2:DeleteTags": scopes.never_skipped(scopes.VOLUME, "untag volumes"),
    }
    return _Tagger(
        name,
        RuleCalls(
            scan=frozenset({("ec2", "DescribeVolumes")}),
            apply=frozenset({("ec2", "DescribeVolumes"), ("ec2", "CreateTags")}),
            rollback=frozenset({("ec2", "DescribeVolumes"), ("ec2", "DeleteTags")}),
            scopes=declared if scoped else {},
        ),
    )


def test_rules_sharing_an_action_each_keep_their_own_grant() -> None:
    """ebs-unattached may tag only while creating; a rule tagging existing volumes gets its
    own statement, which neither widens ebs-unattached's nor is narrowed by it."""
    both = role_policies([RULES["ebs-unattached"], _tagger("ebs-flag")], skip_tag="keep-me")
    write = _statements(both, "write")
    snapshot = "arn:aws:ec2:us-east-1::snapshot/snap-0other"
    tag_on_create = {**REGION, "ec2:CreateAction": "CreateSnapshot"}
    # the tagger's grant: existing volumes without the skip tag, whatever the create action
    assert _allows(write, "ec2:CreateTags", VOLUME, REGION)
    assert not _allows(write, "ec2:CreateTags", VOLUME, {**REGION, "aws:ResourceTag/keep-me": "x"})
    # ebs-unattached's: snapshots only while creating them; the tagger's adds no snapshot
    assert _allows(write, "ec2:CreateTags", snapshot, tag_on_create)
    assert not _allows(write, "ec2:CreateTags", snapshot, REGION)
    alone = _statements(role_policies([RULES["ebs-unattached"]], skip_tag="keep-me"), "write")
    assert not _allows(alone, "ec2:CreateTags", VOLUME, REGION)
    sids = [s["Sid"] for s in write]
    assert len(sids) == len(set(sids))
    assert unscoped_writes(both) == []


def test_rules_declaring_the_same_scope_share_its_statement() -> None:
    one = _statements(role_policies([_tagger("ebs-flag")], skip_tag="keep-me"), "write")
    two = role_policies([_tagger("ebs-flag"), _tagger("ebs-mark")], skip_tag="keep-me")
    assert _statements(two, "write") == one


def test_a_rule_that_leaves_a_shared_write_unscoped_is_reported() -> None:
    """One statement per (rule, action), named after the rule when rules differ: the
    unscoped rule's `*` grant is its own, the scoped rule's stays as it was."""
    policies = role_policies(
        [_tagger("ebs-flag"), _tagger("ebs-loose", scoped=False)], skip_tag="k"
    )
    assert unscoped_writes(policies) == ["ec2:CreateTags", "ec2:DeleteTags"]
    sids = {s.sid for s in policies.write}
    assert {"EbsFlagEc2CreateTags", "EbsLooseEc2CreateTags"} <= sids
    flag = next(s for s in policies.write if s.sid == "EbsFlagEc2CreateTags")
    assert flag.grant.resources == (scopes.VOLUME,)
