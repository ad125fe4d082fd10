"""Which resources reclaim must never touch, whatever a rule thinks of them."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field


class Exclusions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    skip_tag: str = Field(
        default="reclaim:skip",
        min_length=1,
        description="A resource carrying this tag key (any value) is never proposed.",
    )
    resource_ids: tuple[str, ...] = Field(
        default=(),
        description="Shell-style patterns (fnmatch, case-sensitive) of resource IDs to skip.",
    )

    def reason_to_skip(self, resource_id: str, tags: Mapping[str, str]) -> str | None:
        """Why this resource is excluded, or None when it may be proposed."""
        if self.skip_tag in tags:
            return f"carries the skip tag {self.skip_tag!r}"
        for pattern in self.resource_ids:
            if fnmatchcase(resource_id, pattern):
                return f"matches the exclusion pattern {pattern!r}"
        return None
