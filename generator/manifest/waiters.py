"""What botocore knows about waiters: which operation each one polls.

Neutral: imports botocore and reclaim's errors only, so the step vocabulary can say which
calls a composed manifest makes (waiter polls included) without the validation module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore import xform_name
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.session import Session, get_session
from botocore.waiter import Waiter, WaiterModel, create_waiter_with_client

from generator.errors import ManifestError


@cache
def botocore_session() -> Session:
    return get_session()


def _status(code: str, state: str) -> dict[str, str]:
    return {
        "state": state,
        "matcher": "path",
        "argument": "exportTasks[0].status.code",
        "expected": code,
    }


OWN_WAITERS: dict[str, dict[str, Any]] = {
    # CloudWatch Logs ships no waiters. An export task is PENDING, then RUNNING, then
    # COMPLETED; FAILED, CANCELLED and PENDING_CANCEL end it without a complete export
    # (DescribeExportTasks, botocore's logs model), so the wait fails on them at once.
    "logs": {
        "version": 2,
        "waiters": {
            "ExportTaskCompleted": {
                "operation": "DescribeExportTasks",
                "delay": 30,
                "maxAttempts": 240,
                "acceptors": [
                    _status("COMPLETED", "success"),
                    _status("FAILED", "failure"),
                    _status("CANCELLED", "failure"),
                    _status("PENDING_CANCEL", "failure"),
                ],
            }
        },
    }
}
"""Waiters in botocore's own format for services botocore has none for; botocore's
machinery (``create_waiter_with_client``) polls them."""

FAILURE_DETAIL: dict[str, str] = {"export_task_completed": "exportTasks[0].status.message"}
"""Where AWS says why a waiter's resource ended in a failure state (JMESPath over the last
response), for the error message."""


def _waiter_model(service: str) -> WaiterModel:
    if service in OWN_WAITERS:
        return WaiterModel(OWN_WAITERS[service])
    try:
        return botocore_session().get_waiter_model(service)
    except (UnknownServiceError, DataNotFoundError):
        raise ManifestError(f"service {service!r} has no waiters") from None


def waiter_for(client: Any, waiter: str) -> Waiter:
    """botocore's waiter, or reclaim's own (OWN_WAITERS) for a service that has none."""
    meta = getattr(client, "meta", None)
    service = meta.service_model.service_name if meta is not None else None
    if service not in OWN_WAITERS:
        return client.get_waiter(waiter)
    model = _waiter_model(service)
    names = {xform_name(name): name for name in model.waiter_names}
    return create_waiter_with_client(names[waiter], model, client)


def waiter_operation(service: str, waiter: str) -> str:
    """The operation a botocore waiter polls, e.g. snapshot_completed → DescribeSnapshots."""
    model = _waiter_model(service)
    names = {xform_name(name): name for name in model.waiter_names}
    if waiter not in names:
        raise ManifestError(f"{service} has no waiter {waiter!r}")
    operation: str = model.get_waiter(names[waiter]).operation
    return operation
