"""Structured references: ``{"$from": "<scope>.<step>.<output>"}`` inside call parameters.

Scopes: ``steps`` is the run being executed, ``apply`` is the recorded apply run (used by a
rollback). Resolution walks the JSON structure; nothing is ever spliced into a string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import JsonValue

from generator.errors import ManifestError

REF_KEY = "$from"
SCOPES = ("steps", "apply")

Outputs = Mapping[str, Mapping[str, Mapping[str, JsonValue]]]
"""scope → step id → output name → value."""


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {REF_KEY}


def parse_ref(value: Mapping[str, Any]) -> tuple[str, str, str]:
    target = value[REF_KEY]
    parts = target.split(".") if isinstance(target, str) else []
    if len(parts) != 3 or parts[0] not in SCOPES or not all(parts):
        raise ManifestError(
            f"malformed reference {value!r}: expected "
            f'{{"$from": "<{"|".join(SCOPES)}>.<step-id>.<output>"}}'
        )
    return parts[0], parts[1], parts[2]


def iter_refs(value: Any) -> Iterator[tuple[str, str, str]]:
    if is_ref(value):
        yield parse_ref(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_refs(item)


def resolve(value: Any, outputs: Outputs) -> Any:
    """A copy of ``value`` with every reference replaced by its recorded output."""
    if is_ref(value):
        scope, step, name = parse_ref(value)
        try:
            return outputs[scope][step][name]
        except KeyError:
            raise ManifestError(
                f"reference {scope}.{step}.{name} has no recorded value",
                hint="the step that produces it has not completed; check journal.json",
            ) from None
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    return value


def with_placeholders(value: Any, placeholder: str = "ref-placeholder") -> Any:
    """Stand-in strings for references, so a parameter set can be validated before a run."""
    if is_ref(value):
        return placeholder
    if isinstance(value, dict):
        return {key: with_placeholders(item, placeholder) for key, item in value.items()}
    if isinstance(value, list):
        return [with_placeholders(item, placeholder) for item in value]
    return value
