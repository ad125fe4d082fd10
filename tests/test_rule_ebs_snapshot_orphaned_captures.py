"""Real DescribeSnapshots/DescribeVolumes/DescribeImages answers (Cloud Custodian's recorded
captures, vendored under tests/data) through ebs-snapshot-orphaned's parsing and decisions:
every snapshot is either found or left alone with a reason, and every finding plans."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from generator.findings import Finding
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.ebs_snapshot_orphaned import EbsSnapshotOrphaned, OrphanedSnapshotSettings
from tests.captures import ReplayClient, case_pages, files, require_captures
from tests.rule_harness import context

AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


class _OneRule:
    """rbin answering one covering tag-level rule (the Recycle Bin is not in the captures)."""

    def get_paginator(self, name: str) -> Any:
        assert name == "list_rules"
        pages = [
            {
                "Rules": [
                    {
                        "Identifier": "rule-1",
                        "RetentionPeriod": {
                            "RetentionPeriodValue": 14,
                            "RetentionPeriodUnit": "DAYS",
                        },
                    }
                ]
            }
        ]

        class _Pages:
            def paginate(self, **_: Any) -> Any:
                return pages

        return _Pages()


def _cases() -> list[str]:
    return sorted({path.parent.name for path in files("ec2.DescribeSnapshots")})


@pytest.mark.parametrize("case", _cases())
def test_every_describe_snapshots_capture_parses_and_decides(case: str) -> None:
    require_captures()
    pages = case_pages(case, "ec2.DescribeSnapshots")
    snapshots = [s for page in pages for s in page.get("Snapshots", [])]
    ec2 = ReplayClient(
        {
            "describe_snapshots": pages,
            "describe_volumes": case_pages(case, "ec2.DescribeVolumes") or [{}],
            "describe_images": case_pages(case, "ec2.DescribeImages") or [{}],
        }
    )
    owner = next((str(s["OwnerId"]) for s in snapshots if s.get("OwnerId")), "123456789012")
    ctx = dataclasses.replace(
        context(as_of=AS_OF),
        account_id=owner,
        client=lambda service: _OneRule() if service == "rbin" else ec2,
    )
    found = list(EbsSnapshotOrphaned().detect(ctx, OrphanedSnapshotSettings()))
    # the rule's own reading: no owner reported counts as the account's
    owned = {
        s["SnapshotId"] for s in snapshots if not s.get("OwnerId") or str(s["OwnerId"]) == owner
    }
    decided = {item.resource_id for item in found}
    assert decided == owned, owned - decided
    for item in found:
        if isinstance(item, Finding):
            rule = RULES["ebs-snapshot-orphaned"]
            validate_pair(rule.build_plan(item), rule.build_rollback(item), RULES)
        else:
            assert item.reason
