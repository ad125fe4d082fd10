"""Against Terraform state that `terraform apply` wrote on a moto server: every shape maps
to its address and block, and the plan check lets through exactly the finding's change,
refusing (before anything changes) a PR whose edit touches one more resource."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from generator.errors import StateRefusal
from generator.iac.apply import IMPORT_FILE, apply_code_change, import_block
from generator.iac.change import code_change
from generator.iac.config import IacConfig
from generator.iac.managed import IacIndex, TerraformManaged
from generator.iac.plan_check import ExpectedChange, plan_problems
from generator.iac.proposal import managed_by
from generator.iac.terraform import Terraform
from tests.factories import volume_finding
from tests.iac.roots import MAIN_TF, write_provider, write_root
from tests.pipeline.tools import terraform_plugin_dir, tool

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "TF_CLI_CONFIG_FILE": "/dev/null",
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def applied(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """The root, applied once on moto (state in infra/terraform.tfstate)."""
    binary = tool("terraform")[0]
    plugins = terraform_plugin_dir()
    repo = tmp_path_factory.mktemp("ops")
    root = write_root(repo / "infra")
    write_provider(root, moto_url)
    terraform = Terraform(root, CREDENTIALS, binary, (f"-plugin-dir={plugins}",))
    terraform.init()
    plan = terraform.plan()
    assert len(plan["resource_changes"]) == 9
    terraform.apply_saved()
    return terraform


@pytest.fixture
def ec2(moto_url: str) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def index(terraform: Terraform) -> IacIndex:
    iac = IacConfig.model_validate(
        {
            "terraform": [
                {"name": "storage", "path": "infra", "state": {"local": "infra/terraform.tfstate"}}
            ]
        }
    )
    return IacIndex.load(iac, terraform.root.parent)


def state_ids(terraform: Terraform) -> dict[str, str]:
    return {i.address: i.id or "" for i in index(terraform).instances()}


def volume_exists(ec2: Any, volume_id: str) -> bool:
    return any(v["VolumeId"] == volume_id for v in ec2.describe_volumes()["Volumes"])


def test_every_shape_in_applied_state_maps_to_its_block(applied: Terraform) -> None:
    ids = state_ids(applied)
    assert {
        "aws_ebs_volume.scratch",
        "aws_ebs_volume.keep",
        "aws_ebs_volume.pool[0]",
        "aws_ebs_volume.pool[1]",
        'aws_ebs_volume.by_team["red"]',
        'aws_ebs_volume.by_team["blue"]',
        'module.disks.aws_ebs_volume.this["a"]',
        'module.disks.aws_ebs_volume.this["b"]',
        "aws_eip.spare",
    } <= set(ids)
    lines = {}
    for address in (
        "aws_ebs_volume.scratch",
        'aws_ebs_volume.by_team["red"]',
        'module.disks.aws_ebs_volume.this["a"]',
        "aws_ebs_volume.pool[1]",
    ):
        managed = managed_by(index(applied), volume_finding(volume_id=ids[address]))
        assert isinstance(managed, TerraformManaged) and managed.address == address
        assert managed.location is not None
        lines[address] = (
            managed.location.file.name,
            managed.location.start_line,
            managed.location.end_line,
            managed.location.repeat,
        )
    assert lines == {
        "aws_ebs_volume.scratch": ("main.tf", 12, 20, None),
        'aws_ebs_volume.by_team["red"]': ("main.tf", 34, 41, "for_each"),
        'module.disks.aws_ebs_volume.this["a"]': ("main.tf", 5, 9, "for_each"),
        "aws_ebs_volume.pool[1]": ("main.tf", 28, 32, "count"),
    }


def _planned(terraform: Terraform, text: str) -> dict[str, Any]:
    (terraform.root / "main.tf").write_text(text)
    return terraform.plan()


def test_a_pr_that_also_removes_another_block_is_refused_and_changes_nothing(
    applied: Terraform, ec2: Any
) -> None:
    ids = state_ids(applied)
    finding = volume_finding(volume_id=ids['aws_ebs_volume.by_team["red"]'])
    change = code_change(finding, managed_by(index(applied), finding), applied.root.parent)
    genuine = change.edits["infra/main.tf"]
    keep = genuine[genuine.index("# keep this one") :]
    keep = keep[: keep.index("}\n") + 2]
    forged = genuine.replace(keep, "")
    expected = ExpectedChange(
        'aws_ebs_volume.by_team["red"]', ids['aws_ebs_volume.by_team["red"]'], "delete"
    )
    try:
        problems = plan_problems(_planned(applied, forged), expected)
        assert problems == ["it would also delete aws_ebs_volume.keep"]
        # Refused: the saved plan is never applied, and the other volume is still there.
        assert volume_exists(ec2, ids["aws_ebs_volume.keep"])
        assert volume_exists(ec2, ids['aws_ebs_volume.by_team["red"]'])
        # The genuine edit passes the same check.
        assert plan_problems(_planned(applied, genuine), expected) == []
        # A PR that names the right address but edits another resource's code is refused too.
        other = MAIN_TF.replace("    blue = 2\n", "")
        assert plan_problems(_planned(applied, other), expected) == [
            'it would also delete aws_ebs_volume.by_team["blue"]',
            'it does not change aws_ebs_volume.by_team["red"]',
        ]
    finally:
        (applied.root / "main.tf").write_text(MAIN_TF)


def test_gp3_update_in_place_passes_and_applies_but_one_more_attribute_is_refused(
    applied: Terraform, ec2: Any
) -> None:
    ids = state_ids(applied)
    volume_id = ids["aws_ebs_volume.scratch"]
    expected = ExpectedChange("aws_ebs_volume.scratch", volume_id, "update", {"type": "gp3"})
    genuine = MAIN_TF.replace('"gp2" # cheap', '"gp3" # cheap', 1)
    try:
        bigger = genuine.replace(
            "size              = 1\n  type", "size              = 2\n  type", 1
        )
        assert plan_problems(_planned(applied, bigger), expected) == [
            "it would also change size of aws_ebs_volume.scratch"
        ]
        deleted = MAIN_TF.replace(
            'resource "aws_ebs_volume" "scratch" {', 'resource "aws_ebs_volume" "scratched" {'
        )
        problems = plan_problems(_planned(applied, deleted), expected)
        assert "it would delete aws_ebs_volume.scratch, not update it" in problems
        assert plan_problems(_planned(applied, genuine), expected) == []
        applied.apply_saved()
        (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        assert volume["VolumeType"] == "gp3" and volume["Size"] == 1
    finally:
        (applied.root / "main.tf").write_text(genuine)


def test_apply_backs_up_then_applies_and_rollback_imports_the_restored_volume(
    applied: Terraform, ec2: Any
) -> None:
    ids = state_ids(applied)
    address = 'aws_ebs_volume.by_team["red"]'
    red, keep = ids[address], ids["aws_ebs_volume.keep"]
    finding = volume_finding(volume_id=red)  # as apply re-observes it
    before = (applied.root / "main.tf").read_text()
    change = code_change(finding, managed_by(index(applied), finding), applied.root.parent)
    snapshots: list[str] = []

    def backup() -> None:
        assert volume_exists(ec2, red)  # the backup comes before the block disappears
        snapshot = ec2.create_snapshot(VolumeId=red)["SnapshotId"]
        snapshots.append(snapshot)

    # A merged PR whose edit also removes another block: refused, no backup, nothing gone.
    genuine = change.edits["infra/main.tf"]
    keep_block = genuine[genuine.index("# keep this one") :]
    (applied.root / "main.tf").write_text(
        genuine.replace(keep_block[: keep_block.index("}\n") + 2], "")
    )
    with pytest.raises(StateRefusal, match=r"it would also delete aws_ebs_volume\.keep"):
        apply_code_change(finding, index(applied), applied, backup)
    assert snapshots == [] and volume_exists(ec2, keep) and volume_exists(ec2, red)

    # The genuine merge: backup, then exactly the reviewed change.
    (applied.root / "main.tf").write_text(genuine)
    done = apply_code_change(finding, index(applied), applied, backup)
    assert done.address == address and len(snapshots) == 1
    assert not volume_exists(ec2, red) and volume_exists(ec2, keep)
    assert address not in state_ids(applied)

    # Rollback: the volume restored from the backup, and the follow-up PR's code: the block
    # back as it was, with an import block bringing the new volume under the same address.
    restored = ec2.create_volume(AvailabilityZone="us-east-1a", SnapshotId=snapshots[0])["VolumeId"]
    (applied.root / "main.tf").write_text(before)
    (applied.root / IMPORT_FILE).write_text(import_block(address, restored))
    try:
        plan = applied.plan()
        changed = [
            c
            for c in plan["resource_changes"]
            if c["change"]["actions"] != ["no-op"] or c["change"].get("importing")
        ]
        assert [
            (c["address"], c["change"]["actions"], c["change"]["importing"]["id"]) for c in changed
        ] == [(address, ["no-op"], restored)]
        applied.apply_saved()
        assert state_ids(applied)[address] == restored
    finally:
        (applied.root / IMPORT_FILE).unlink()
