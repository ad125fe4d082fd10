"""The neutral tag helpers every rule, the manifests and the generated IAM policy share."""

from __future__ import annotations

from generator.aws.tags import (
    AWS_RESERVED_TAG_PREFIX,
    PLAN_ID_TAG,
    restorable_tags,
    tag_list,
    tags_from_api,
)
from generator.manifest.paths import json_literal
from generator.pipeline.policy import policy_json, role_policies
from generator.rules import RULES


def test_the_iam_conditions_name_the_tag_the_backups_carry() -> None:
    assert PLAN_ID_TAG == "reclaim:plan-id"
    policies = role_policies(RULES.values(), skip_tag="keep-me")
    document = policy_json(policies.write, account="1" * 12, regions=(), skip_tag="keep-me")
    text = str(document)
    assert f"aws:RequestTag/{PLAN_ID_TAG}" in text and f"aws:ResourceTag/{PLAN_ID_TAG}" in text


def test_tags_from_api_sorts_and_tolerates_missing_tags_and_values() -> None:
    assert tags_from_api(None) == {}
    assert list(tags_from_api([{"Key": "b", "Value": "2"}, {"Key": "a"}]).items()) == [
        ("a", ""),
        ("b", "2"),
    ]


def test_restorable_tags_leave_out_what_aws_sets() -> None:
    tags = {f"{AWS_RESERVED_TAG_PREFIX}cloudformation:stack-name": "s", "Name": "x"}
    assert restorable_tags(tags) == {"Name": "x"}
    assert tag_list({"z": "1", "a": "2"}) == [
        {"Key": "a", "Value": "2"},
        {"Key": "z", "Value": "1"},
    ]


def test_json_literal_escapes_backticks() -> None:
    assert json_literal("a`b") == '`"a\\`b"`'
    assert json_literal(["x", 1]) == '`["x", 1]`'
