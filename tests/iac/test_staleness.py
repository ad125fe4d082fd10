"""A local state file older than its root's code: the code change is left to a person, with
the reason, because the addresses and IDs reclaim reads from it may be wrong."""

from __future__ import annotations

import json
from pathlib import Path

from generator.iac.change import code_change
from generator.iac.proposal import managed_by
from tests.factories import volume_finding
from tests.iac.test_propose_iac import RED, STATE, git, index
from tests.iac.test_propose_iac import repo as repo  # the fixture


def _change(repo: Path) -> tuple[str | None, dict[str, str]]:
    finding = volume_finding(volume_id=RED)
    change = code_change(finding, managed_by(index(repo), finding), repo)
    return change.needs_human, change.edits


def commit(repo: Path, message: str) -> None:
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def test_code_committed_after_its_state_makes_the_change_needs_human(repo: Path) -> None:
    assert _change(repo)[0] is None  # code and state in one commit: the state is current
    main = repo / "infra" / "main.tf"
    main.write_text(main.read_text() + '\nresource "aws_eip" "later" {\n  domain = "vpc"\n}\n')
    commit(repo, "code, not applied")
    needs_human, edits = _change(repo)
    assert edits == {}
    assert needs_human is not None
    assert "the Terraform state infra/terraform.tfstate was last committed in" in needs_human
    assert "before the code of root 'storage' changed" in needs_human
    assert "run terraform apply in the root and commit the state" in needs_human
    # Applied and its state committed: proposed again.
    (repo / "infra" / "terraform.tfstate").write_text(json.dumps({**STATE, "serial": 2}))
    commit(repo, "state after apply")
    assert _change(repo)[0] is None


def test_a_change_outside_the_root_does_not_make_its_state_stale(repo: Path) -> None:
    (repo / "README.md").write_text("docs\n")
    (repo / "other").mkdir()
    (repo / "other" / "main.tf").write_text('resource "aws_eip" "x" {}\n')
    commit(repo, "elsewhere")
    assert _change(repo)[0] is None
