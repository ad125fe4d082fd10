"""Count the AWS calls a client makes, by operation, through botocore's event hooks."""

from __future__ import annotations

from collections import Counter
from typing import Any


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def __getitem__(self, operation: str) -> int:
        return self.calls[operation]
