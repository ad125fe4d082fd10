"""Real webhook payloads (vendored under tests/data/github-webhooks), adapted to a scenario the way
GitHub itself would vary them: a comment on a pull request carries ``issue.pull_request``."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.needs import WEBHOOKS


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / name).read_text(encoding="utf-8"))
    return data


def rollback_comment(
    *,
    repository: str,
    number: int,
    login: str,
    on_pull_request: bool = True,
    bot: bool = False,
    body: str = "/rollback please, the volume was needed",
    comment_id: int | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(payload("issue_comment.created.0.json"))
    owner, name = repository.split("/")
    event["repository"]["full_name"] = repository
    event["repository"]["name"] = name
    event["repository"]["owner"]["login"] = owner
    event["repository"]["default_branch"] = "main"
    event["issue"]["number"] = number
    if on_pull_request:
        api = f"https://api.github.com/repos/{repository}/pulls/{number}"
        event["issue"]["pull_request"] = {
            "url": api,
            "html_url": f"https://github.com/{repository}/pull/{number}",
            "diff_url": f"https://github.com/{repository}/pull/{number}.diff",
            "patch_url": f"https://github.com/{repository}/pull/{number}.patch",
            "merged_at": None,
        }
    else:
        event["issue"].pop("pull_request", None)
    event["comment"]["body"] = body
    if comment_id is not None:
        event["comment"]["id"] = comment_id
    event["comment"]["user"]["login"] = f"{login}[bot]" if bot else login
    event["comment"]["user"]["type"] = "Bot" if bot else "User"
    # author_association says nothing about permission; make it look trustworthy to prove
    # the gate ignores it.
    event["comment"]["author_association"] = "OWNER"
    return event


def push(*, repository: str, before: str, after: str, branch: str = "main") -> dict[str, Any]:
    event = copy.deepcopy(payload("push.event.4.json"))
    name = repository.split("/")[1]
    event["repository"]["full_name"] = repository
    event["repository"]["name"] = name
    event["repository"]["default_branch"] = "main"
    event["ref"] = f"refs/heads/{branch}"
    event["before"], event["after"] = before, after
    return event


def pull_request(*, repository: str, number: int) -> dict[str, Any]:
    """A pull_request (opened) payload for pull request ``number`` of ``repository``."""
    event = copy.deepcopy(payload("pull_request.opened.0.json"))
    owner, name = repository.split("/")
    event["repository"]["full_name"] = repository
    event["repository"]["name"] = name
    event["repository"]["owner"]["login"] = owner
    event["repository"]["default_branch"] = "main"
    event["number"] = number
    event["pull_request"]["number"] = number
    return event
