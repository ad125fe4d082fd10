"""The GitHub calls of the gate, over PyGithub (with its GithubRetry)."""

from __future__ import annotations

from github import GithubException
from github.Repository import Repository

from generator.errors import ForgeError
from generator.pipeline.gate import PullInfo


class PyGithubView:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def _calling(self, what: str, error: GithubException) -> ForgeError:
        message = error.data.get("message") if isinstance(error.data, dict) else error.data
        return ForgeError(f"GitHub refused {what}: {error.status} {message}")

    def permission(self, login: str) -> str:
        try:
            response = self.repo.get_collaborator_role_name(login)
        except GithubException as error:
            if error.status == 404:  # not a collaborator at all
                return "none"
            raise self._calling(f"the permission of {login}", error) from None
        return str(response)

    def pull(self, number: int) -> PullInfo:
        try:
            pull = self.repo.get_pull(number)
        except GithubException as error:
            raise self._calling(f"pull request #{number}", error) from None
        head_repo = pull.head.repo
        return PullInfo(
            merged=bool(pull.merged),
            head_ref=pull.head.ref,
            head_repository=head_repo.full_name if head_repo is not None else None,
            merge_commit=pull.merge_commit_sha,
        )

    def react(self, comment_id: int, issue_number: int, content: str) -> None:
        try:
            # get_comment is lazy: this is one POST .../issues/comments/{id}/reactions.
            self.repo.get_issue(issue_number).get_comment(comment_id).create_reaction(content)
        except GithubException as error:
            raise self._calling(f"a reaction on comment {comment_id}", error) from None

    def reply(self, issue_number: int, body: str) -> None:
        try:
            self.repo.get_issue(issue_number).create_comment(body)
        except GithubException as error:
            raise self._calling(f"a comment on #{issue_number}", error) from None

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Edit the comment that starts with ``marker``, or create it; returns its URL."""
        try:
            issue = self.repo.get_issue(number)
            for comment in issue.get_comments():
                if comment.body.startswith(marker):
                    if comment.body != body:
                        comment.edit(body)
                    return str(comment.html_url)
            return str(issue.create_comment(body).html_url)
        except GithubException as error:
            raise self._calling(f"the summary comment on #{number}", error) from None
