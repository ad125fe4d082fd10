"""What botocore knows about waiters: which operation each one polls.

Neutral: imports botocore and reclaim's errors only, so the step vocabulary can say which
calls a composed manifest makes (waiter polls included) without the validation module.
"""

from __future__ import annotations

from functools import cache

from botocore import xform_name
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.session import Session, get_session

from generator.errors import ManifestError


@cache
def botocore_session() -> Session:
    return get_session()


def waiter_operation(service: str, waiter: str) -> str:
    """The operation a botocore waiter polls, e.g. snapshot_completed → DescribeSnapshots."""
    try:
        model = botocore_session().get_waiter_model(service)
    except (UnknownServiceError, DataNotFoundError):
        raise ManifestError(f"service {service!r} has no waiters") from None
    names = {xform_name(name): name for name in model.waiter_names}
    if waiter not in names:
        raise ManifestError(f"{service} has no waiter {waiter!r}")
    operation: str = model.get_waiter(names[waiter]).operation
    return operation
