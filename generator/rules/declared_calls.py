"""A rule's detection may make only the AWS calls it declares in ``calls.scan``.

Those declarations become the read-only policy of the remediation role `reclaim init`
generates and the session policy of every scan (generator.aws.scan_policy). moto checks no
IAM policy, so a call a rule forgot to declare would pass every test and then fail with
AccessDenied in a customer account. The guard makes it fail here, in every scan, with the
rule and the call named: a botocore ``before-call`` hook on the scan's clients checks each
call, paginated and waiter calls included, against the rule running on that thread.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from generator.errors import ReclaimError
from generator.findings import Finding, SkippedResource
from generator.iam.actions import iam_action
from generator.rules.base import ApiCall, Rule, RuleSettings
from generator.rules.context import ScanContext

_HOOK_ID = "reclaim-declared-calls"
_running = threading.local()


class UndeclaredCall(ReclaimError):
    """A rule called AWS outside its declared scan calls (a bug in that rule)."""


@contextmanager
def declared_calls(rule: str, calls: frozenset[ApiCall]) -> Iterator[None]:
    """While the block runs on this thread, guarded clients allow only ``calls``."""
    previous = getattr(_running, "scope", None)
    _running.scope = (rule, calls)
    try:
        yield
    finally:
        _running.scope = previous


def guard(client: Any) -> Any:
    """Register the check on ``client`` (once; botocore drops a repeated unique id).
    Anything that is not a botocore client (a test double) is returned as it is."""
    meta = getattr(client, "meta", None)
    if meta is None or not hasattr(meta, "events"):
        return client
    service = client.meta.service_model.service_name

    def check(model: Any, **_: Any) -> None:
        scope = getattr(_running, "scope", None)
        if scope is None:
            return
        rule, calls = scope
        if (service, model.name) not in calls:
            action = iam_action(service, model.name) or f"{service} {model.name}"
            raise UndeclaredCall(
                f"rule {rule} called {action}, which it does not declare in its scan calls",
                hint="a bug in that rule: declare the call (it becomes part of the "
                "generated IAM policy) or stop making it",
            )

    client.meta.events.register("before-call", check, unique_id=_HOOK_ID)
    return client


def detect_declared(
    rule: Rule, ctx: ScanContext, settings: RuleSettings
) -> Iterator[Finding | SkippedResource]:
    """``rule.detect``, with every client it asks ``ctx`` for guarded: consume it on one
    thread (the scope is that thread's while the generator runs)."""
    guarded = dataclasses.replace(ctx, client=lambda service: guard(ctx.client(service)))
    with declared_calls(rule.name, rule.calls.scan):
        yield from rule.detect(guarded, settings)
