"""One AWS call of a manifest: invoke, classify the outcome, check expectations, wait."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jmespath
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from pydantic import JsonValue

from generator.manifest.diff import first_difference
from generator.manifest.models import Expectation, WaitFor
from generator.manifest.waiters import FAILURE_DETAIL, waiter_for


@dataclass(frozen=True)
class CallError(Exception):
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def invoke(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call ``operation``; AWS errors become ``CallError`` with AWS's error code."""
    return _answer(lambda: getattr(client, xform_name(operation))(**params))


def invoke_all(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """``invoke``, with every page of an operation botocore paginates merged into one
    response: a question such as "did this plan start an export already?" must not be
    answered from the first page alone (DescribeExportTasks answers 50 tasks a page)."""
    method = xform_name(operation)
    if not client.can_paginate(method):
        return invoke(client, operation, params)
    return _answer(lambda: client.get_paginator(method).paginate(**params).build_full_result())


def _answer(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        response = call()
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CallError(
            details.get("Code", "Unknown"), details.get("Message", str(error))
        ) from None
    except BotoCoreError as error:
        raise CallError(type(error).__name__, str(error)) from None
    response.pop("ResponseMetadata", None)
    return _json_safe(response)  # type: ignore[no-any-return]


def extract(paths: dict[str, str], response: dict[str, Any]) -> dict[str, JsonValue]:
    return {name: jmespath.search(path, response) for name, path in paths.items()}


CLOCK_SKEW = timedelta(minutes=5)
"""How far the runner's clock may be ahead of AWS's when reclaim compares an AWS timestamp
with a time it recorded itself (GitHub's runners keep NTP time; an old backup is days old)."""


def parse_time(value: JsonValue) -> datetime:
    """A timestamp from a response or the journal (ISO 8601 after the JSON round trip)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CallError("UnreadableTime", f"expected a timestamp, found {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_TIME_IN_TEXT = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?"
)


def time_in_message(message: str) -> datetime | None:
    """The latest ISO 8601 timestamp an AWS error message names (UTC when it names no
    offset), or None when it names none: how reclaim reads "retry after <time>"."""
    found: list[datetime] = []
    for day, clock, zone in _TIME_IN_TEXT.findall(message):
        offset = "+00:00" if zone in ("", "Z", "UTC", "GMT") else zone
        if len(offset) == 5:  # +0000
            offset = f"{offset[:3]}:{offset[3:]}"
        try:
            found.append(datetime.fromisoformat(f"{day}T{clock}{offset}"))
        except ValueError:
            continue
    return max(found, default=None)


def at_or_after(actual: JsonValue, earliest: JsonValue) -> bool:
    """``actual`` is a timestamp no earlier than ``earliest`` (less the allowed skew)."""
    if actual is None or earliest is None:
        return False
    try:
        return parse_time(actual) >= parse_time(earliest) - CLOCK_SKEW
    except CallError:
        return False


def unmet(expectations: tuple[Expectation, ...], response: dict[str, Any]) -> list[str]:
    """Each expectation the response does not meet, as 'what: expected X, found Y'."""
    failures = []
    for expectation in expectations:
        actual = jmespath.search(expectation.path, response)
        if expectation.compare == "at_or_after":
            if not at_or_after(actual, expectation.equals):
                failures.append(
                    f"{expectation.what}: expected at or after {expectation.equals}, "
                    f"found {actual!r}"
                )
            continue
        if actual == expectation.equals:
            continue
        if isinstance(actual, dict | list) and isinstance(expectation.equals, dict | list):
            # Whole documents: name the first difference instead of printing both.
            failures.append(f"{expectation.what}: " + first_difference(expectation.equals, actual))
        else:
            failures.append(
                f"{expectation.what}: expected {expectation.equals!r}, found {actual!r}"
            )
    return failures


def wait(client: Any, spec: WaitFor, params: dict[str, Any]) -> None:
    """Poll ``spec``'s waiter; every way it can fail becomes ``CallError`` (the step fails
    and is journaled), botocore's own errors (a lost connection, a read timeout) included."""
    try:
        waiter_for(client, spec.waiter).wait(
            **params,
            WaiterConfig={"Delay": spec.delay_seconds, "MaxAttempts": spec.max_attempts},
        )
    except WaiterError as error:
        reason = error.kwargs.get("reason") or str(error)
        detail_at = FAILURE_DETAIL.get(spec.waiter)
        last = error.last_response
        detail = jmespath.search(detail_at, last) if detail_at and isinstance(last, dict) else None
        if detail:
            reason = f"{reason} (AWS says: {detail})"
        raise CallError("WaiterFailed", f"{spec.waiter}: {reason}") from None
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CallError(details.get("Code", "Unknown"), details.get("Message", "")) from None
    except BotoCoreError as error:
        # WaiterError is a BotoCoreError too, handled above; this is the network or the SDK.
        raise CallError(type(error).__name__, f"{spec.waiter}: {error}") from None
