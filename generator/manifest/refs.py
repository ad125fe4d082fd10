"""Structured references: ``{"$from": "<scope>.<step>.<output>"}`` inside call parameters
and expectations.

Scopes: ``steps`` is the run being executed, ``apply`` is the recorded apply run (used by a
rollback), ``run`` holds facts of the journal's runs that are not step outputs
(``run.apply.observed_at``: when apply observed the resource; ``run.apply.observed_at_ms``:
the same instant in milliseconds since the epoch, as CloudWatch Logs takes times).
Resolution walks the JSON structure; nothing is ever spliced into a string.

A merge, ``{"$merge": {"base": <value>, "set": {...}}}``, is a recorded document with some
keys changed: APIs that replace a whole document (CloudFront's UpdateDistribution) get the
document as it was just read, with only the rule's change applied, so nothing else in it is
overwritten. Dicts merge key by key, recursively; any other value in ``set`` replaces.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import JsonValue

from generator.errors import ManifestError

REF_KEY = "$from"
MERGE_KEY = "$merge"
SCOPES = ("steps", "apply", "run")
RUN_FACTS: dict[str, set[str]] = {"apply": {"observed_at", "observed_at_ms"}}
"""What the ``run`` scope offers: run kind → fact names."""

Outputs = Mapping[str, Mapping[str, Mapping[str, JsonValue]]]
"""scope → step id → output name → value."""


def ref(path: str) -> dict[str, JsonValue]:
    """A reference to a recorded output, e.g. ``ref("steps.backup.SnapshotId")``."""
    return {REF_KEY: path}


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {REF_KEY}


def is_merge(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {MERGE_KEY}


def parse_merge(value: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
    spec = value[MERGE_KEY]
    if (
        not isinstance(spec, dict)
        or set(spec) != {"base", "set"}
        or not isinstance(spec["set"], dict)
    ):
        raise ManifestError(
            f"malformed merge {value!r}: expected "
            '{"$merge": {"base": <document or reference>, "set": {<key>: <value>, ...}}}'
        )
    return spec["base"], spec["set"]


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in changes.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = merged(current, value)
        else:
            result[key] = value
    return result


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
    if is_merge(value):
        base_spec, changes = parse_merge(value)
        base = resolve(base_spec, outputs)
        if not isinstance(base, dict):
            raise ManifestError(
                f"merge base {base_spec!r} resolved to {type(base).__name__}, not a document"
            )
        return merged(base, resolve(changes, outputs))
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    return value


class _Unresolved:
    """Stands in for a value known only at run time (a reference or a merge)."""

    def __repr__(self) -> str:
        return "<resolved at run time>"


UNRESOLVED: Any = _Unresolved()


def with_placeholders(value: Any, placeholder: Any = UNRESOLVED) -> Any:
    """Stand-ins for references and merges, so a parameter set can be validated before a
    run; botocore validates the resolved values again when the call is made."""
    if is_ref(value) or is_merge(value):
        return placeholder
    if isinstance(value, dict):
        return {key: with_placeholders(item, placeholder) for key, item in value.items()}
    if isinstance(value, list):
        return [with_placeholders(item, placeholder) for item in value]
    return value
