"""Recorded AWS responses (tests/data/aws-captures/placebo, vendored), read at test time.

Each file is ``{"status_code": 200, "data": {...}}`` with datetimes encoded as
``{"__class__": "datetime", "year": ..., ...}`` (see tests/data/README.md). The captures are
data of another project (Apache-2.0), vendored with its licence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.needs import PLACEBO


def _decode(value: dict[str, Any]) -> Any:
    if value.get("__class__") == "datetime":
        return datetime(
            value["year"],
            value["month"],
            value["day"],
            value.get("hour", 0),
            value.get("minute", 0),
            value.get("second", 0),
            value.get("microsecond", 0),
            tzinfo=UTC,
        )
    return value


def require_captures() -> Path:
    return PLACEBO


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode)
    data: dict[str, Any] = document.get("data") or {}
    data.pop("ResponseMetadata", None)
    return data


def files(operation: str) -> list[Path]:
    """Every capture of ``service.Operation`` (e.g. ``ec2.DescribeSnapshots``), sorted."""
    return sorted(require_captures().glob(f"*/{operation}_*.json"))


def case_pages(case: str, operation: str) -> list[dict[str, Any]]:
    return [load(path) for path in sorted((require_captures() / case).glob(f"{operation}_*.json"))]


class _Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self._pages = pages

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        yield from self._pages


class ReplayClient:
    """Serves recorded pages to a rule as if it were a boto3 client. Server-side filters are
    not applied: the rule must do its own checks, as it must with any surprising answer."""

    def __init__(self, pages: dict[str, list[dict[str, Any]]], **answers: dict[str, Any]) -> None:
        self._pages = pages
        self._answers = answers

    def get_paginator(self, operation: str) -> _Pages:
        return _Pages(self._pages.get(operation, [{}]))

    def can_paginate(self, operation: str) -> bool:
        return operation not in self._answers

    def __getattr__(self, operation: str) -> Any:
        if operation in self._answers:
            return lambda **_: self._answers[operation]
        raise AttributeError(operation)


def is_error(path: Path) -> bool:
    return bool(json.loads(path.read_text(encoding="utf-8")).get("status_code", 200) >= 400)


def placebo_responses(operation: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(case/file, response) of every successful capture of ``service.Operation``, datetimes
    decoded as boto3 returns them."""
    for path in files(operation):
        if not is_error(path):
            yield f"{path.parent.name}/{path.name}", load(path)
