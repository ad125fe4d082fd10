"""Scan units, (account, region, rule), and how `--shard I/N` splits them.

A unit's shard depends on its own key alone (a stable hash), never on its position in a
list: every shard job agrees on the split even when one of them sees a different region
list (`all-enabled`) or loses an account to an error, so the shards stay disjoint and
together cover every unit, whatever N is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from generator.errors import UsageError
from generator.findings import ShardInfo

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class Unit:
    """One rule in one region of one account. ``account`` is the account's configured name:
    known before any AWS call, unlike the ID of an account reached with ambient credentials."""

    account: str
    region: str
    rule: str

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}/{self.rule}"


def shard_of(unit: Unit, count: int) -> int:
    """The 1-based shard that owns ``unit`` among ``count`` shards."""
    digest = hashlib.sha256(unit.key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def owns(shard: ShardInfo | None, unit: Unit) -> bool:
    return shard is None or shard_of(unit, shard.count) == shard.index


def parse_shard(text: str) -> ShardInfo:
    match = _SHARD.match(text)
    if match:
        index, count = int(match.group(1)), int(match.group(2))
        if 1 <= index <= count:
            return ShardInfo(index=index, count=count)
    raise UsageError(
        f"--shard {text!r} is not I/N with 1 <= I <= N",
        hint="e.g. --shard 2/4 scans the second of four disjoint parts",
    )
