"""The /rollback gate's decisions, on real issue_comment payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator.iac.change import CodeChange
from generator.iac.proposal import iac_json
from generator.pipeline.events import IssueCommentEvent
from generator.pipeline.gate import PullInfo, decide
from generator.pipeline.gitops import git
from tests.factories import volume_finding
from tests.pipeline.webhooks import rollback_comment

REPO = "acme/cost"
FINDING = "ebs-unattached-222222222222-us-east-1-vol-0abc"


@dataclass
class FakeGitHub:
    permissions: dict[str, str]
    pulls: dict[int, PullInfo]
    asked: list[str] = field(default_factory=list)

    def permission(self, login: str) -> str:
        self.asked.append(f"permission {login}")
        return self.permissions.get(login, "none")

    def pull(self, number: int) -> PullInfo:
        self.asked.append(f"pull {number}")
        return self.pulls[number]


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=gh", "-c", "user.email=g@x", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The default branch: PR #7's merge added the plan; a later merge (#13) changed only a
    note, from a branch its author named for the same finding."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "remediations" / FINDING).mkdir(parents=True)
    (tmp_path / "remediations" / FINDING / "plan.json").write_text("{}")
    _commit(tmp_path, "Merge #7")
    (tmp_path / "NOTES.md").write_text("typo fixed\n")
    _commit(tmp_path, "Merge #13")
    return tmp_path


@pytest.fixture
def github(checkout: Path) -> FakeGitHub:
    plan_merge = git(checkout, "rev-parse", "HEAD~1").strip()
    later_merge = git(checkout, "rev-parse", "HEAD").strip()
    head = f"reclaim/{FINDING}"
    return FakeGitHub(
        permissions={
            "alice": "write",
            "mia": "maintain",
            "ada": "admin",
            "rob": "read",
            "tess": "triage",
        },
        pulls={
            7: PullInfo(True, head, REPO, merge_commit=plan_merge),
            13: PullInfo(True, head, REPO, merge_commit=later_merge),
            8: PullInfo(merged=False, head_ref=f"reclaim/{FINDING}", head_repository=REPO),
            9: PullInfo(merged=True, head_ref=f"reclaim/{FINDING}", head_repository="evil/fork"),
            10: PullInfo(merged=True, head_ref="feature/x", head_repository=REPO),
            11: PullInfo(merged=True, head_ref="reclaim/../../etc", head_repository=REPO),
            12: PullInfo(merged=True, head_ref="reclaim/gone-finding", head_repository=REPO),
        },
    )


def gate(github: FakeGitHub, checkout: Path, **comment: object):  # type: ignore[no-untyped-def]
    event = IssueCommentEvent.model_validate(rollback_comment(repository=REPO, **comment))  # type: ignore[arg-type]
    return decide(
        event, github, repository=REPO, checkout=checkout, remediations_dir="remediations"
    )


@pytest.mark.parametrize("login", ["alice", "mia", "ada"])
def test_writers_maintainers_and_admins_may_roll_back_a_merged_pr(
    github: FakeGitHub, checkout: Path, login: str
) -> None:
    decision = gate(github, checkout, number=7, login=login)
    assert decision.allowed and decision.folder == f"remediations/{FINDING}"


@pytest.mark.parametrize("login", ["rob", "tess", "stranger"])
def test_read_triage_and_outsiders_are_refused_whatever_author_association_says(
    github: FakeGitHub, checkout: Path, login: str
) -> None:
    decision = gate(github, checkout, number=7, login=login)
    assert not decision.allowed and not decision.answer  # no reply a stranger can trigger
    assert "needs write, maintain or admin" in decision.reason
    assert "pull 7" not in github.asked  # refused before looking further


@pytest.mark.parametrize("on_pull_request", [True, False])
def test_a_stranger_gets_no_answer_wherever_they_comment(
    github: FakeGitHub, checkout: Path, on_pull_request: bool
) -> None:
    """On a plain issue too: who asks is checked before what is asked about."""
    decision = gate(github, checkout, number=7, login="rob", on_pull_request=on_pull_request)
    assert not decision.allowed and not decision.answer
    assert github.asked == ["permission rob"]


@pytest.mark.parametrize(
    ("number", "on_pull_request"), [(7, True), (7, False), (8, True), (10, True), (12, True)]
)
def test_no_answer_mentions_anyone(
    github: FakeGitHub, checkout: Path, number: int, on_pull_request: bool
) -> None:
    decision = gate(github, checkout, number=number, login="alice", on_pull_request=on_pull_request)
    assert "@" not in decision.reason


def test_bots_are_refused_without_an_answer_or_an_api_call(
    github: FakeGitHub, checkout: Path
) -> None:
    decision = gate(github, checkout, number=7, login="alice", bot=True)
    assert not decision.allowed and not decision.answer
    assert github.asked == []


def test_a_plain_issue_is_refused(github: FakeGitHub, checkout: Path) -> None:
    decision = gate(github, checkout, number=7, login="alice", on_pull_request=False)
    assert not decision.allowed and "is an issue, not a pull request" in decision.reason


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (8, "#8 is not merged"),
        (9, "does not come from a branch of acme/cost"),
        (10, "is not a reclaim pull request"),
        (11, "is not a reclaim pull request"),
        (12, "remediations/gone-finding is not on the default branch"),
    ],
)
def test_pull_requests_that_are_not_merged_reclaim_prs_are_refused(
    github: FakeGitHub, checkout: Path, number: int, reason: str
) -> None:
    decision = gate(github, checkout, number=number, login="alice")
    assert not decision.allowed and reason in decision.reason


@pytest.mark.parametrize("body", ["please /rollback", "/rollbackx", "/roll back", ""])
def test_only_a_comment_starting_with_the_command_counts(
    github: FakeGitHub, checkout: Path, body: str
) -> None:
    decision = gate(github, checkout, number=7, login="alice", body=body)
    assert not decision.allowed and not decision.answer and github.asked == []


def test_a_merged_pr_from_a_branch_named_for_another_plan_cannot_roll_it_back(
    github: FakeGitHub, checkout: Path
) -> None:
    """#13's author named its branch reclaim/<finding>, and it was merged (it fixed a typo):
    its merge did not bring the plan, so /rollback there rolls nothing back."""
    decision = gate(github, checkout, number=13, login="alice")
    assert not decision.allowed and decision.folder is None
    assert f"#13 did not merge remediations/{FINDING}" in decision.reason
    assert gate(github, checkout, number=7, login="alice").allowed  # its own PR still may


@pytest.mark.parametrize(
    ("managed_by", "allowed"), [("terraform", True), ("cloudformation", False)]
)
def test_a_merged_code_change_may_be_rolled_back_a_stack_report_may_not(
    tmp_path: Path, managed_by: str, allowed: bool
) -> None:
    """A Terraform code change (iac.json, no plan.json) was applied; a CloudFormation
    resource's report applied nothing, so there is nothing to roll back."""
    git(tmp_path, "init", "-q", "-b", "main")
    folder = tmp_path / "remediations" / FINDING
    folder.mkdir(parents=True)
    change = CodeChange(
        finding=volume_finding(),
        managed_by=managed_by,  # type: ignore[arg-type]
        stack="batch" if managed_by == "cloudformation" else None,
    )
    (folder / "iac.json").write_text(iac_json(change))
    merge = _commit(tmp_path, "Merge #7")
    github = FakeGitHub(
        permissions={"alice": "write"},
        pulls={7: PullInfo(True, f"reclaim/{FINDING}", REPO, merge_commit=merge)},
    )
    decision = gate(github, tmp_path, number=7, login="alice")
    assert decision.allowed is allowed, decision.reason
    if not allowed:
        assert "is not on the default branch" in decision.reason
