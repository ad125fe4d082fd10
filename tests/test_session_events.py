"""A session per account gets botocore's built-in handlers copied from one registration,
not registered again: the same handlers as botocore's own session, each session's its own.
"""

from __future__ import annotations

from typing import Any

import botocore.handlers
import botocore.hooks
import botocore.session
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber
from botocore.utils import EVENT_ALIASES

from generator.aws import session_events
from generator.aws.session import RETRY_CONFIG, core_session, new_session

FAKE = Credentials("testing", "testing")


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


class _CountedAliases(dict[str, str]):
    """botocore's alias table, counting how often an event name is worked out from it."""

    lookups = 0

    def items(self) -> Any:
        type(self).lookups += 1
        return super().items()


def _autoscaling(session: Any) -> Any:
    return session.client("autoscaling", region_name="eu-west-1", config=RETRY_CONFIG)


def _describe_groups(client: Any) -> Any:
    """One stubbed DescribeAutoScalingGroups: every event of a call, nothing sent."""
    with Stubber(client) as stub:
        stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []})
        client.describe_auto_scaling_groups()
    return client


def test_a_second_account_s_client_works_out_no_event_name_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each client's emitter is a copy; botocore's copy forgets the aliased names."""
    monkeypatch.setattr(botocore.hooks, "EVENT_ALIASES", _CountedAliases(EVENT_ALIASES))
    monkeypatch.setattr(session_events, "_ALIASED", {})
    monkeypatch.setattr(_CountedAliases, "lookups", 0)
    _describe_groups(_autoscaling(new_session(FAKE)))
    assert _CountedAliases.lookups > 0  # the counter counts the first account's names
    second = new_session(FAKE)  # boto3 registers its handlers through the session itself
    _CountedAliases.lookups = 0
    _describe_groups(_autoscaling(second))
    assert _CountedAliases.lookups == 0


def test_a_handler_registered_under_an_old_service_alias_is_still_called() -> None:
    """'autoscaling' events are emitted as 'auto-scaling': the shared cache keeps aliasing,
    for a client whose names another client already worked out, and only on its own."""
    _describe_groups(_autoscaling(new_session(FAKE)))  # the names are cached
    called: list[str] = []
    client = _autoscaling(new_session(FAKE))
    other = _describe_groups(_autoscaling(new_session(FAKE)))
    client.meta.events.register(
        "before-parameter-build.autoscaling.DescribeAutoScalingGroups",
        lambda **_: called.append("mine"),
    )
    _describe_groups(other)
    assert called == []
    _describe_groups(client)
    assert called == ["mine"]
