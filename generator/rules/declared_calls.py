"""A rule's detection may make only the AWS calls it declares in ``calls.scan``.

Those declarations become the read-only policy of the remediation role `reclaim init`
generates and the session policy of every scan (generator.aws.scan_policy). moto checks no
IAM policy, so a call a rule forgot to declare would pass every test and then fail with
AccessDenied in a customer account. The guard makes it fail here, in every scan, with the
rule and the call named: a botocore ``before-call`` hook on the scan's clients checks each
call, paginated and waiter calls included, against the rule running in that context.

The running rule is a context variable, not a thread-local: work a rule hands to a pool
(generator.aws.pool.bounded_map, which runs each task in a copy of the caller's context)
is checked as the rule's own. A listing shared by several rules (ScanContext.pages) is
fetched once, by whichever rule asks first: every rule that reads it is checked against its
own declaration by ``require``, whether the answer came from AWS or from the shared copy.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from generator.aws.listings import Listings
from generator.errors import ReclaimError
from generator.findings import Finding, SkippedResource
from generator.iam.actions import iam_action
from generator.rules.base import ApiCall, Rule, RuleSettings
from generator.rules.context import ScanContext

_HOOK_ID = "reclaim-declared-calls"
_running: contextvars.ContextVar[tuple[str, frozenset[ApiCall]] | None] = contextvars.ContextVar(
    "reclaim_declared_calls", default=None
)


class UndeclaredCall(ReclaimError):
    """A rule called AWS outside its declared scan calls (a bug in that rule)."""


@contextmanager
def declared_calls(rule: str, calls: frozenset[ApiCall]) -> Iterator[None]:
    """While the block runs (in this context), guarded clients allow only ``calls``."""
    token = _running.set((rule, calls))
    try:
        yield
    finally:
        # A generator finalised in another context has nothing to undo here.
        with contextlib.suppress(ValueError):
            _running.reset(token)


def require(service: str, operation: str) -> None:
    """Refuse ``service`` ``operation`` (API names, e.g. ("ec2", "DescribeVolumes")) unless
    the rule running in this context declares it; outside any rule's scope, allow it."""
    scope = _running.get()
    if scope is None:
        return
    rule, calls = scope
    if (service, operation) not in calls:
        action = iam_action(service, operation) or f"{service} {operation}"
        raise UndeclaredCall(
            f"rule {rule} called {action}, which it does not declare in its scan calls",
            hint="a bug in that rule: declare the call (it becomes part of the "
            "generated IAM policy) or stop making it",
        )


def guard(client: Any) -> Any:
    """Register the check on ``client`` (once; botocore drops a repeated unique id).
    Anything that is not a botocore client (a test double) is returned as it is."""
    meta = getattr(client, "meta", None)
    if meta is None or not hasattr(meta, "events"):
        return client
    service = client.meta.service_model.service_name

    def check(model: Any, **_: Any) -> None:
        require(service, model.name)

    client.meta.events.register("before-call", check, unique_id=_HOOK_ID)
    return client


def detect_declared(
    rule: Rule, ctx: ScanContext, settings: RuleSettings
) -> Iterator[Finding | SkippedResource]:
    """``rule.detect``, with every client it asks ``ctx`` for guarded, and every shared
    listing it reads checked against its declaration: consume it in one context (the
    scope is that context's while the generator runs; rule code that fans out uses
    generator.aws.pool.bounded_map, whose tasks run in copies of it)."""
    client = lambda service: guard(ctx.client(service))  # noqa: E731
    guarded = dataclasses.replace(
        ctx,
        client=client,
        listings=(ctx.listings or Listings(ctx.client)).checked_by(require, client),
    )
    with declared_calls(rule.name, rule.calls.scan):
        yield from rule.detect(guarded, settings)
