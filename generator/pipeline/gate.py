"""Who may roll back: the decision behind `reclaim gate-rollback`.

A `/rollback` comment runs with the repository's secrets, so every condition is checked
against GitHub's API rather than taken from the event: the pull request must be merged, be
one of reclaim's (its head a `reclaim/<finding-id>` branch of this repository), and its merge
must be the commit that brought the remediation folder's plan onto the default branch (the
checkout's history, not the branch name, binds the comment to the plan); the commenter must
not be a bot and must hold write, maintain or admin permission (the collaborator-permission
API, not the event's ``author_association``, which says nothing about permission).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generator.forge.base import branch_for
from generator.iac.folder import is_code_folder, reports_only
from generator.manifest.folder import PLAN_FILE
from generator.pipeline.events import IssueCommentEvent
from generator.pipeline.gitops import adding_commit

COMMAND = re.compile(r"^\s*/rollback(\s|$)")
WRITERS = frozenset({"admin", "maintain", "write"})
_FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
BRANCH_PREFIX = branch_for("")


@dataclass(frozen=True)
class PullInfo:
    merged: bool
    head_ref: str
    head_repository: str | None
    """None when the head repository was deleted."""
    merge_commit: str | None = None
    """The commit the merge made on the default branch (GitHub's merge_commit_sha)."""


class GitHubView(Protocol):
    def permission(self, login: str) -> str:
        """The user's role on the repository: admin, maintain, write, triage, read or none."""

    def pull(self, number: int) -> PullInfo: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    folder: str | None = None
    answer: bool = True
    """Whether to react and reply: only to people who may roll back (never to a bot, a
    stranger or an unrelated comment); the job's log says why in every case."""


def refuse(reason: str, *, answer: bool = True) -> Decision:
    return Decision(False, reason, answer=answer)


def decide(
    event: IssueCommentEvent,
    github: GitHubView,
    *,
    repository: str,
    checkout: Path,
    remediations_dir: str,
) -> Decision:
    if event.action != "created" or not COMMAND.match(event.comment.body):
        return refuse("not a new /rollback comment", answer=False)
    if event.repository.full_name.lower() != repository.lower():
        return refuse(
            f"the event is from {event.repository.full_name}, not {repository}", answer=False
        )
    author = event.comment.user
    if author.is_bot:
        return refuse(f"{author.login} is a bot; only people may roll back", answer=False)
    # Who asks is checked before anything is answered: anyone can comment, and an answer to
    # each comment would let a stranger make the bot post (and notify) at will. Only people
    # who may roll back are answered, and no answer names (@-mentions) anyone.
    permission = github.permission(author.login)
    if permission not in WRITERS:
        return refuse(
            f"{author.login} has {permission!r} permission on {repository}; rolling back "
            "needs write, maintain or admin",
            answer=False,
        )
    if event.issue.pull_request is None:
        return refuse(f"#{event.issue.number} is an issue, not a pull request")
    pull = github.pull(event.issue.number)
    if not pull.merged:
        return refuse(f"#{event.issue.number} is not merged, so nothing was applied")
    if (pull.head_repository or "").lower() != repository.lower():
        return refuse(f"#{event.issue.number} does not come from a branch of {repository}")
    finding_id = pull.head_ref.removeprefix(BRANCH_PREFIX)
    if pull.head_ref == finding_id or not _FINDING_ID.match(finding_id) or ".." in finding_id:
        return refuse(f"#{event.issue.number} is not a reclaim pull request ({pull.head_ref})")
    folder = f"{remediations_dir}/{finding_id}"
    path = checkout / folder
    # A merged code change (iac.json) is rolled back too; a CloudFormation report applied
    # nothing, so there is nothing to roll back.
    if not ((path / PLAN_FILE).is_file() or (is_code_folder(path) and not reports_only(path))):
        return refuse(f"{folder} is not on the default branch")
    # The head branch's name is its author's choice: a merged PR from a branch named for
    # another finding must not roll that one back. Only the PR whose merge brought the
    # folder's plan onto the default branch may.
    if pull.merge_commit is None or adding_commit(checkout, folder) != pull.merge_commit:
        return refuse(
            f"#{event.issue.number} did not merge {folder}; comment /rollback on the pull "
            "request that did"
        )
    return Decision(True, f"{author.login} ({permission}) rolls back {finding_id}", folder=folder)
