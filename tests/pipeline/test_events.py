"""Webhook payloads the workflow commands cannot use are clear errors, never tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ConfigError, ExitCode
from generator.pipeline.events import IssueCommentEvent, PushEvent, load_event
from tests.pipeline.webhooks import payload


def test_a_real_issue_comment_payload_loads(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload("issue_comment.created.0.json")))
    event = load_event(path, IssueCommentEvent)
    assert event.action == "created"


def test_the_payload_of_another_event_names_the_event_expected(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload("pull_request.closed.3.json")))
    with pytest.raises(ConfigError, match=r"not a GitHub push event payload: ref: Field required"):
        load_event(path, PushEvent)


@pytest.mark.parametrize("content", ["", "not json", "{"])
def test_an_unreadable_payload_says_where_it_should_come_from(tmp_path: Path, content: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(content)
    with pytest.raises(
        ConfigError, match=r"the GitHub event .*event\.json: not valid JSON"
    ) as caught:
        load_event(path, IssueCommentEvent)
    assert caught.value.hint is not None and "GITHUB_EVENT_PATH" in caught.value.hint


def test_the_rollback_gate_given_a_push_payload_exits_with_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40}))
    result = CliRunner().invoke(main, ["gate-rollback", "--event", str(path)])
    assert result.exit_code == ExitCode.CONFIG
    assert "not a GitHub issue_comment event payload" in result.output
    assert "Traceback" not in result.output
