"""The planner is pure: a finding in, manifests out, no AWS, same output every time."""

from __future__ import annotations

import socket

import pytest

from generator.manifest.validation import validate_pair
from generator.planner import plan_finding
from generator.rules import RULES
from tests.factories import volume_finding


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the planner must not open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _shape(manifest):
    return [
        (
            s.id,
            s.phase,
            f"{s.call.service}:{s.call.operation}",
            s.mutates,
            s.destroys_data,
            s.expect_error,
            s.wait.waiter if s.wait else None,
        )
        for s in manifest.steps
    ]


def test_plan_structure(no_network):
    remediation = plan_finding(volume_finding())
    assert _shape(remediation.plan) == [
        ("precheck", "precheck", "ec2:DescribeVolumes", False, False, None, None),
        ("backup", "backup", "ec2:CreateSnapshot", True, False, None, "snapshot_completed"),
        ("dry-run", "dry_run", "ec2:DeleteVolume", False, False, "DryRunOperation", None),
        ("delete", "change", "ec2:DeleteVolume", True, True, None, "volume_deleted"),
        (
            "verify-deleted",
            "verify",
            "ec2:DescribeVolumes",
            False,
            False,
            "InvalidVolume.NotFound",
            None,
        ),
        ("verify-backup", "verify", "ec2:DescribeSnapshots", False, False, None, None),
    ]
    assert _shape(remediation.rollback) == [
        (
            "precheck-deleted",
            "precheck",
            "ec2:DescribeVolumes",
            False,
            False,
            "InvalidVolume.NotFound",
            None,
        ),
        ("precheck-backup", "precheck", "ec2:DescribeSnapshots", False, False, None, None),
        ("restore", "change", "ec2:CreateVolume", True, False, None, "volume_available"),
        ("verify-restored", "verify", "ec2:DescribeVolumes", False, False, None, None),
    ]


def test_plan_is_deterministic_and_valid(no_network):
    first, second = plan_finding(volume_finding()), plan_finding(volume_finding())
    assert first.files == second.files
    validate_pair(first.plan, first.rollback, RULES)


def test_backup_is_tagged_with_plan_id_and_full_spec():
    finding = volume_finding(
        volume_type="gp3",
        iops=6000,
        throughput_mibps=500,
        encrypted=True,
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/abc",
    )
    backup = plan_finding(finding).plan.step("backup")
    tags = {t["Key"]: t["Value"] for t in backup.call.params["TagSpecifications"][0]["Tags"]}
    assert tags["reclaim:plan-id"] == finding.id
    assert tags["reclaim:source-volume"] == "vol-0123456789abcdef0"
    assert tags["reclaim:volume-spec"] == (
        "az=us-east-1a;type=gp3;size=100;iops=6000;throughput=500;encrypted=true;"
        "kms=arn:aws:kms:us-east-1:123456789012:key/abc"
    )
    assert tags["Name"] == "test-do-not-delete"


def test_rollback_recreates_the_exact_spec_from_the_backup_reference():
    finding = volume_finding(
        volume_type="io1",
        iops=5000,
        encrypted=True,
        kms_key_id="key-1",
        tags={"Name": "db", "aws:cloudformation:stack-name": "s"},
    )
    remediation = plan_finding(finding)
    restore = remediation.rollback.step("restore").call.params
    assert restore["SnapshotId"] == {"$from": "apply.backup.SnapshotId"}
    assert (restore["VolumeType"], restore["Size"], restore["Iops"]) == ("io1", 100, 5000)
    assert restore["Encrypted"] is True and restore["KmsKeyId"] == "key-1"
    assert "Throughput" not in restore  # only gp3 takes a throughput
    assert restore["TagSpecifications"][0]["Tags"] == [{"Key": "Name", "Value": "db"}]
    assert (
        restore["ClientToken"]
        == plan_finding(finding).rollback.step("restore").call.params["ClientToken"]
    )
    assert any("aws:" in note for note in remediation.plan.notes)


def test_gp2_restore_does_not_pass_its_derived_iops():
    restore = plan_finding(volume_finding(iops=300)).rollback.step("restore").call.params
    assert "Iops" not in restore


def test_pr_body_explains_what_why_cost_steps_and_undo():
    body = plan_finding(volume_finding()).readme
    for expected in (
        "$10.00/month",
        "$120.00/year",
        "/rollback",
        "Pre-check (read-only)",
        "Backup",
        "Dry run",
        "DeleteVolume",
        "Reversibility",
        "**low**",
        "<!-- reclaim:finding ebs-unattached-123456789012-us-east-1-vol-",
    ):
        assert expected in body


def test_user_tag_values_cannot_break_out_of_the_pr_body_markup():
    finding = volume_finding(tags={"Name": "x` **APPROVED** <img src=y>"})
    body = plan_finding(finding).readme
    heading = next(line for line in body.splitlines() if line.startswith("# "))
    assert "\\`" in heading and "\\*\\*APPROVED\\*\\*" in heading and "\\<img" in heading
    assert "**APPROVED**" not in body
