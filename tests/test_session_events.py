"""A session per account gets botocore's built-in handlers copied from one registration,
not registered again: the same handlers as botocore's own session, each session's its own.
"""

from __future__ import annotations

from typing import Any

import botocore.handlers
import botocore.session
import pytest

from generator.aws import session_events
from generator.aws.session import core_session, new_session


def handlers_by_event(core: botocore.session.Session) -> dict[str, list[Any]]:
    """Every registered handler object, by event name (botocore's own trie, read)."""
    found: dict[str, list[Any]] = {}

    def walk(node: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, child in node.get("children", {}).items():
            walk(child, (*prefix, key))
        if node.get("values"):
            found[".".join(prefix)] = [h for part in node["values"] for h in part]

    walk(core._events._emitter._handlers._root, ())
    return found


def test_a_reclaim_session_holds_exactly_the_handlers_botocore_registers() -> None:
    assert handlers_by_event(session_events.new_core_session()) == handlers_by_event(
        botocore.session.Session()
    )


def test_a_handler_registered_on_one_account_s_session_is_never_called_for_another() -> None:
    called: list[str] = []
    event = "reclaim-test-event.ec2.DescribeVolumes"  # no built-in handles it
    first, second = core_session(), core_session()
    first.register(event, lambda **_: called.append("first"))
    client = second.create_client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    second.emit(event)
    client.meta.events.emit(event)
    assert called == []
    first.emit(event)
    assert called == ["first"]


def test_the_built_in_handlers_are_registered_once_for_many_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registrations = []
    original = botocore.session.Session._register_builtin_handlers

    def counted(self: botocore.session.Session, events: Any) -> None:
        registrations.append(self)
        original(self, events)

    monkeypatch.setattr(botocore.session.Session, "_register_builtin_handlers", counted)
    monkeypatch.setattr(session_events, "_template", None)
    sessions = [new_session() for _ in range(5)]
    assert len(registrations) == 1 and len(sessions) == 5


def test_a_built_in_handler_added_later_is_in_every_session_made_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto adds its handler to botocore's list when it is imported: sessions made after
    must send through it, or a test would reach AWS."""
    core_session()  # the template exists, made before the handler was added

    def answered(**_: Any) -> str:
        return "answered here"

    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [*botocore.handlers.BUILTIN_HANDLERS, ("before-send", answered)],
    )
    responses = core_session().emit("before-send.ec2.DescribeVolumes", request=None)
    assert (answered, "answered here") in responses
