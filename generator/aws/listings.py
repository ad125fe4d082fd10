"""One listing per (account, region, API, parameters) per scan, shared by the rules.

Several rules read the same inventory: ebs-unattached and ebs-gp2-to-gp3 both need every
volume of a region, ec2-idle and eip-unassociated every address. Asked separately, each
listing is paid twice (on the account's EC2 token bucket too). A rule asks its context
for ``ctx.pages("ec2", "describe_volumes", ...)`` instead of paginating itself: the first
rule to ask fetches the pages (the others asking meanwhile wait for that answer), and
every later rule of the same account-region gets the same pages. The store is dropped when
the account-region's last unit is done, so the memory held is the listings of the
account-regions in flight.

A shared answer is still checked against the declaration of every rule that reads it
(``check``): reading a listing is making the call, as far as IAM is concerned.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ClientFactory = Callable[[str], Any]
Check = Callable[[str, str], None]
Page = Mapping[str, Any]


def _no_check(service: str, operation: str) -> None:
    return None


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pages: tuple[Page, ...] | None = None


class ListingStore:
    """The pages fetched so far in one account-region (thread-safe)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self._lock = threading.Lock()
        self.fetched = 0
        """How many listings were fetched from AWS (not served from the store)."""

    def entry(self, key: tuple[str, str, str]) -> _Entry:
        with self._lock:
            return self._entries.setdefault(key, _Entry())


def api_name(client: Any, service: str, operation: str) -> tuple[str, str]:
    """("ec2", "DescribeVolumes") for a client's ``describe_volumes``: the names the rules
    declare and the guard checks."""
    meta = getattr(client, "meta", None)
    mapping = getattr(meta, "method_to_api_mapping", None)
    if meta is not None and isinstance(mapping, Mapping) and operation in mapping:
        return str(meta.service_model.service_name), str(mapping[operation])
    return service, re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), operation)


class Listings:
    """A rule's view of its account-region's shared listings."""

    def __init__(
        self,
        client: ClientFactory,
        store: ListingStore | None = None,
        check: Check = _no_check,
    ) -> None:
        self._client = client
        self.store = store if store is not None else ListingStore()
        self._check = check

    def checked_by(self, check: Check, client: ClientFactory | None = None) -> Listings:
        """The same store, with every read checked by ``check(service, Operation)``."""
        return Listings(client or self._client, self.store, check)

    def pages(self, service: str, operation: str, **params: Any) -> Sequence[Page]:
        """Every page of ``operation`` (a paginated or single-answer call, by its boto3
        method name) with ``params``, fetched once per account-region and scan."""
        client = self._client(service)
        self._check(*api_name(client, service, operation))
        key = (service, operation, json.dumps(params, sort_keys=True, default=str))
        entry = self.store.entry(key)
        with entry.lock:  # a second rule asking meanwhile waits for the first one's answer
            if entry.pages is None:
                entry.pages = tuple(_fetch(client, operation, params))
                with self.store._lock:
                    self.store.fetched += 1
            return entry.pages


def _fetch(client: Any, operation: str, params: dict[str, Any]) -> list[Page]:
    can_paginate = getattr(client, "can_paginate", None)  # a test double may not say
    paginated = can_paginate(operation) if callable(can_paginate) else True
    if paginated:
        return list(client.get_paginator(operation).paginate(**params))
    return [getattr(client, operation)(**params)]
