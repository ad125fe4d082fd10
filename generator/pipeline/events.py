"""The GitHub webhook payloads the workflows hand to reclaim (GITHUB_EVENT_PATH), read into
the few typed fields reclaim decides on. Everything else in a payload is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from generator.errors import ConfigError
from generator.untrusted import parse_json, read_text


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Loose):
    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        # GitHub Apps comment as "name[bot]" with type "Bot"; check both.
        return self.type == "Bot" or self.login.endswith("[bot]")


class Repository(_Loose):
    full_name: str
    default_branch: str = "main"


class Comment(_Loose):
    id: int
    body: str = ""
    user: User


class Issue(_Loose):
    number: int
    pull_request: dict[str, Any] | None = None
    """Present only when the issue is a pull request."""


class IssueCommentEvent(_Loose):
    webhook: ClassVar[str] = "issue_comment"

    action: str
    issue: Issue
    comment: Comment
    repository: Repository


class PushEvent(_Loose):
    webhook: ClassVar[str] = "push"

    ref: str
    before: str
    after: str
    repository: Repository


class PullRequestRef(_Loose):
    number: int


class PullRequestEvent(_Loose):
    webhook: ClassVar[str] = "pull_request"

    number: int
    pull_request: PullRequestRef
    repository: Repository


_Event = TypeVar("_Event", bound=BaseModel)


def load_event(path: Path, model: type[_Event]) -> _Event:
    hint = 'pass --event "$GITHUB_EVENT_PATH" inside a workflow run'
    text = read_text(path, ConfigError, hint=hint)
    data = parse_json(text, f"the GitHub event {path}", ConfigError, hint)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        kind = getattr(model, "webhook", model.__name__)
        raise ConfigError(
            f"{path} is not a GitHub {kind} event payload: {where}: {first['msg']}",
            hint="this command runs in the workflow reclaim init generated for that event",
        ) from None
