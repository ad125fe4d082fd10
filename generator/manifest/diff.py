"""Where two JSON documents first differ, in a line a person can read."""

from __future__ import annotations

from typing import Any


def first_difference(
    expected: Any, actual: Any, *, path: str = "", expected_by: str = "expected"
) -> str:
    """e.g. ``.Origins.Items[0].DomainName is 'b.example', expected 'a.example'``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            if expected.get(key) != actual.get(key):
                return first_difference(
                    expected.get(key),
                    actual.get(key),
                    path=f"{path}.{key}",
                    expected_by=expected_by,
                )
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path or '.'} has {len(actual)} entries, {expected_by} {len(expected)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            if left != right:
                return first_difference(
                    left, right, path=f"{path}[{index}]", expected_by=expected_by
                )
    return f"{path or '.'} is {actual!r}, {expected_by} {expected!r}"
