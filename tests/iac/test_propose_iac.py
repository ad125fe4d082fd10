"""propose: a managed finding's PR carries the code change (or a needs-human report),
never an API plan; an unmanaged finding still gets its plan."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.findings import Finding
from generator.forge.base import Outcome
from generator.forge.local import LocalGitForge
from generator.iac.config import IacConfig
from generator.iac.managed import IacIndex
from generator.propose import sync_proposals
from generator.rules.ebs_gp2_to_gp3 import Gp2Volume
from generator.rules.ebs_volume import VolumeSpec
from tests.factories import finding_of, volume_finding
from tests.github.helpers import report
from tests.iac.roots import MAIN_TF, MODULE_TF, write_root

SCRATCH, KEEP, RED, SHARD_A = (
    "vol-0000000000000aaaa",
    "vol-0000000000000bbbb",
    "vol-0000000000000cccc",
    "vol-0000000000000dddd",
)

STATE = {
    "version": 4,
    "resources": [
        {
            "mode": "managed",
            "type": "aws_ebs_volume",
            "name": "scratch",
            "instances": [{"attributes": {"id": SCRATCH}}],
        },
        {
            "mode": "managed",
            "type": "aws_ebs_volume",
            "name": "keep",
            "instances": [{"attributes": {"id": KEEP}}],
        },
        {
            "mode": "managed",
            "type": "aws_ebs_volume",
            "name": "by_team",
            "instances": [{"index_key": "red", "attributes": {"id": RED}}],
        },
        {
            "mode": "managed",
            "module": "module.disks",
            "type": "aws_ebs_volume",
            "name": "this",
            "instances": [{"index_key": "a", "attributes": {"id": SHARD_A}}],
        },
    ],
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    write_root(tmp_path / "infra")
    (tmp_path / "infra" / "terraform.tfstate").write_text(json.dumps(STATE))
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def index(repo: Path) -> IacIndex:
    iac = IacConfig.model_validate(
        {
            "terraform": [
                {"name": "storage", "path": "infra", "state": {"local": "infra/terraform.tfstate"}}
            ]
        }
    )
    return IacIndex.load(iac, repo)


def gp2_finding(volume_id: str) -> Finding:
    volume = VolumeSpec(
        volume_id=volume_id,
        availability_zone="us-east-1a",
        state="in-use",
        volume_type="gp2",
        size_gib=100,
        create_time=datetime(2026, 1, 1, tzinfo=UTC),
        tags={},
    )
    record = Gp2Volume(
        volume=volume,
        gp2_baseline_iops=300,
        gp2_max_throughput_mibps=128,
        target_iops=3000,
        target_throughput_mibps=125,
        skip_tag="reclaim:skip",
    )
    return finding_of("ebs-gp2-to-gp3", record, title=f"Convert {volume_id} to gp3")


def branch_files(repo: Path, finding_id: str) -> dict[str, str]:
    names = git(repo, "diff", "--name-only", "main", f"reclaim/{finding_id}").split()
    return {name: git(repo, "show", f"reclaim/{finding_id}:{name}") for name in names}


def test_managed_findings_get_code_changes_and_unmanaged_ones_plans(repo: Path) -> None:
    forge = LocalGitForge(repo)
    deleted = volume_finding(volume_id=SCRATCH)
    element = volume_finding(volume_id=RED)
    in_module = volume_finding(volume_id=SHARD_A)
    converted = gp2_finding(SCRATCH)
    unmanaged = volume_finding(volume_id="vol-0000000000000ffff")
    outcome = sync_proposals(
        report(deleted, element, in_module, unmanaged),
        forge,
        "remediations",
        iac=index(repo),
        repo_root=repo,
    )
    assert {r.outcome for r in outcome.results} == {Outcome.CREATED}

    files = branch_files(repo, deleted.id)
    assert set(files) == {
        f"remediations/{deleted.id}/iac.json",
        f"remediations/{deleted.id}/README.md",
        "infra/main.tf",
    }
    block = MAIN_TF[MAIN_TF.index('\nresource "aws_ebs_volume" "scratch"') + 1 :]
    block = block[: block.index("}\n}\n") + 4]
    assert files["infra/main.tf"] == MAIN_TF.replace(block, "", 1)
    recorded = json.loads(files[f"remediations/{deleted.id}/iac.json"])
    assert recorded["address"] == "aws_ebs_volume.scratch" and recorded["action"] == "delete"
    assert recorded["file"] == "infra/main.tf" and recorded["lines"] == [12, 20]
    readme = files[f"remediations/{deleted.id}/README.md"]
    assert "`aws_ebs_volume.scratch`" in readme and f"Snapshot {SCRATCH}" in readme
    assert "`infra/main.tf:12-20`" in readme

    assert branch_files(repo, element.id)["infra/main.tf"] == MAIN_TF.replace(
        "    red  = 1 # the red team's\n", "", 1
    )
    assert branch_files(repo, in_module.id)["infra/modules/disks/main.tf"] == MODULE_TF.replace(
        '["a", "b"]', '["b"]'
    )
    plain = branch_files(repo, unmanaged.id)
    assert set(plain) == {
        f"remediations/{unmanaged.id}/{n}" for n in ("plan.json", "rollback.json", "README.md")
    }

    sync_proposals(report(converted), forge, "remediations", iac=index(repo), repo_root=repo)
    gp3 = branch_files(repo, converted.id)
    assert gp3["infra/main.tf"] == MAIN_TF.replace('"gp2" # cheap', '"gp3" # cheap', 1)
    assert not any(name.endswith("plan.json") for name in gp3)


def test_what_cannot_be_written_as_code_is_needs_human_with_address_and_file(repo: Path) -> None:
    forge = LocalGitForge(repo)
    stack = volume_finding(
        volume_id="vol-0000000000000eeee", tags={"aws:cloudformation:stack-name": "batch-prod"}
    )
    repeated = gp2_finding(RED)  # a literal type in a for_each block would change every instance
    outcome = sync_proposals(
        report(stack, repeated), forge, "remediations", iac=index(repo), repo_root=repo
    )
    assert {r.outcome for r in outcome.results} == {Outcome.CREATED}
    for finding, expected in (
        (stack, "CloudFormation stack 'batch-prod'"),
        (repeated, "every one of them"),
    ):
        files = branch_files(repo, finding.id)
        assert set(files) == {
            f"remediations/{finding.id}/iac.json",
            f"remediations/{finding.id}/README.md",
        }
        recorded = json.loads(files[f"remediations/{finding.id}/iac.json"])
        assert expected in recorded["needs_human"]
        assert "This PR changes nothing" in files[f"remediations/{finding.id}/README.md"]
    recorded = json.loads(branch_files(repo, repeated.id)[f"remediations/{repeated.id}/iac.json"])
    assert (
        recorded["address"] == 'aws_ebs_volume.by_team["red"]'
        and recorded["file"] == "infra/main.tf"
    )
    message = git(repo, "log", "-1", "--format=%B", f"reclaim/{stack.id}")
    assert "batch-prod" in message


def test_a_merged_code_change_is_not_reported_as_already_merged_because_main_tf_exists(
    repo: Path,
) -> None:
    forge = LocalGitForge(repo)
    first = sync_proposals(
        report(volume_finding(volume_id=SCRATCH)),
        forge,
        "remediations",
        iac=index(repo),
        repo_root=repo,
    )
    assert [r.outcome for r in first.results] == [Outcome.CREATED]


def test_labels_say_code_change_and_needs_human() -> None:
    from generator.iac.change import CodeChange
    from generator.iac.proposal import iac_proposal

    finding = volume_finding(volume_id=SCRATCH)
    done = iac_proposal(
        CodeChange(
            finding=finding,
            managed_by="terraform",
            root="r",
            address="a.b",
            action="delete",
            file="m.tf",
            lines=(1, 2),
            edits={"m.tf": ""},
        ),
        "rem",
    )
    left = iac_proposal(
        CodeChange(finding=finding, managed_by="cloudformation", stack="s", needs_human="x"), "rem"
    )
    assert "iac:terraform" in done.labels and "needs-human" not in done.labels
    assert done.code_edits == {"m.tf": ""} and "edits" not in json.loads(
        done.files[f"rem/{finding.id}/iac.json"]
    )
    assert {"iac:cloudformation", "needs-human"} <= set(left.labels) and left.code_edits == {}
    assert (
        done.fingerprint
        != iac_proposal(
            CodeChange(
                finding=finding,
                managed_by="terraform",
                root="r",
                address="a.b",
                action="delete",
                file="m.tf",
                lines=(1, 2),
                edits={"m.tf": "x"},
            ),
            "rem",
        ).fingerprint
    )
