"""CODEOWNERS entries per account folder."""

from __future__ import annotations

import fnmatch

import pytest

from generator.errors import ConfigError
from generator.forge.codeowners import BEGIN, END, codeowners_entries, merge_into


def test_one_entry_per_account_matching_only_that_accounts_folders():
    block = codeowners_entries(
        {"222222222222": ["@org/team-prod"], "333333333333": ["@alice", "ops@example.com"]},
        default_owners=["@org/finops"],
    )
    lines = block.splitlines()
    assert lines[0] == BEGIN and lines[-1] == END
    assert lines[1] == "/remediations/ @org/finops"  # first: later lines win in CODEOWNERS
    assert lines[2] == "/remediations/*-222222222222-*/ @org/team-prod"
    assert lines[3] == "/remediations/*-333333333333-*/ @alice ops@example.com"
    pattern = lines[2].split()[0].strip("/")
    assert fnmatch.fnmatch("remediations/ebs-unattached-222222222222-us-east-1-vol-1", pattern)
    assert not fnmatch.fnmatch("remediations/ebs-unattached-333333333333-us-east-1-vol-1", pattern)


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
    assert "/ops/remediations/*-222222222222-*/ @b" in updated and "@a" not in updated
    assert merge_into("", first) == first
    assert merge_into("* @x", first) == "* @x\n\n" + first
