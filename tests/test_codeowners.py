"""CODEOWNERS entries per account folder."""

from __future__ import annotations

import fnmatch

import pytest

from generator.errors import ConfigError
from generator.forge.codeowners import BEGIN, END, codeowners_entries, merge_into


def _owners_of(block: str, folder: str) -> list[str]:
    """Who CODEOWNERS asks to review ``folder``: the last line whose pattern matches it.
    (fnmatch's ``*`` also crosses '/', which no folder name here holds.)"""
    owners: list[str] = []
    for line in block.splitlines():
        if line.startswith("/"):
            pattern, *names = line.split()
            if fnmatch.fnmatch(f"/{folder}/", pattern) or pattern == "/remediations/":
                owners = names
    return owners


def test_one_entry_per_rule_and_account_matching_only_that_accounts_folders():
    block = codeowners_entries(
        {"222222222222": ["@org/team-prod"], "333333333333": ["@alice", "ops@example.com"]},
        default_owners=["@org/finops"],
        rules=["ebs-unattached", "logs-retention"],
    )
    lines = block.splitlines()
    assert lines[0] == BEGIN and lines[-1] == END
    assert lines[1] == "/remediations/ @org/finops"  # first: later lines win in CODEOWNERS
    assert lines[2:6] == [
        "/remediations/ebs-unattached-222222222222-*/ @org/team-prod",
        "/remediations/logs-retention-222222222222-*/ @org/team-prod",
        "/remediations/ebs-unattached-333333333333-*/ @alice ops@example.com",
        "/remediations/logs-retention-333333333333-*/ @alice ops@example.com",
    ]
    assert _owners_of(block, "remediations/ebs-unattached-222222222222-us-east-1-vol-1") == [
        "@org/team-prod"
    ]
    assert _owners_of(block, "remediations/ebs-unattached-333333333333-us-east-1-vol-1") == [
        "@alice",
        "ops@example.com",
    ]


def test_a_resource_part_holding_another_account_id_is_routed_to_its_own_account():
    # A prod log group named after the dev account: with `*-<account>-*` patterns the dev
    # line (sorted later, and the last match wins) took the review of this prod change.
    block = codeowners_entries(
        {"222222222222": ["@org/prod"], "333333333333": ["@org/dev"]},
        default_owners=["@org/finops"],
    )
    prod_folder = "remediations/logs-retention-222222222222-us-east-1-copy-of-333333333333-1a2b3c4d"
    assert _owners_of(block, prod_folder) == ["@org/prod"]
    dev_folder = "remediations/ebs-unattached-333333333333-us-east-1-vol-222222222222"
    assert _owners_of(block, dev_folder) == ["@org/dev"]
    # a folder that is no finding ID of a known rule gets the catch-all, no account's owners
    assert _owners_of(block, "remediations/x-222222222222-y") == ["@org/finops"]
    with pytest.raises(ConfigError, match="cannot be matched unambiguously"):
        codeowners_entries({"222222222222": ["@a"]}, rules=["rule-123456789012"])


def test_bad_owner_or_account_is_a_config_error():
    with pytest.raises(ConfigError, match="not @user, @org/team"):
        codeowners_entries({"222222222222": ["team prod"]})
    with pytest.raises(ConfigError, match="12-digit"):
        codeowners_entries({"prod": ["@alice"]})


def test_merge_replaces_only_reclaims_block():
    first = codeowners_entries({"222222222222": ["@a"]}, "ops/remediations/")
    existing = "* @org/everyone\n" + first + "/docs/ @writers\n"
    updated = merge_into(existing, codeowners_entries({"222222222222": ["@b"]}, "ops/remediations"))
    assert updated.startswith("* @org/everyone\n") and updated.endswith("/docs/ @writers\n")
    assert "/ops/remediations/ebs-unattached-222222222222-*/ @b" in updated
    assert "@a" not in updated
    assert merge_into("", first) == first
    assert merge_into("* @x", first) == "* @x\n\n" + first
