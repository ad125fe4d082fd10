"""One listing per (account, region, API, parameters) per scan, shared by the rules, page by
page.

Several rules read the same inventory: ebs-unattached and ebs-gp2-to-gp3 both need every
volume of a region, ec2-idle and eip-unassociated every address, ec2-idle and
ec2-previous-generation every running instance, rds-idle, aurora-idle and extended-support
every DB instance. Asked separately, each listing is paid once
per rule (on the account's token bucket too). A rule declares the listings it reads
(``Rule.listings``) and reads them through its context, ``ctx.listing(VOLUMES)``: an
iterator of pages. The scan runs an account-region's rules that declare the same listing
together, each on a thread of its own (generator.aws.fleet), and the listing is fetched
once: each page goes to every rule that declares it. The next page is asked for as soon as
this one has come (``_PageAhead``: AWS's time to answer it overlaps the readers' work on
this one) and handed out when every reader has taken this one or is done. So a page is
held while its readers work on it and no longer: a unit's memory is about two pages (the
readers' and the next) whatever the number of resources. A
rule that must see the whole listing before it judges says so (``Listing.read_whole``) and
keeps what it needs itself; a listing one answer long (DescribeAddresses) is whole anyway.

Readers wait for each other page by page: a rule shares at most one paginated listing
(``Listing.paginated``), or two rules reading two of them in opposite orders would wait for
each other for ever. A single-answer listing (DescribeAddresses) never waits: its one page
waits for no reader, and after it the listing is over. So a rule may share any number of
those beside its one paginated listing (ec2-idle: the running instances, then the addresses).

A shared answer is still checked against the declaration of every rule that reads it
(``check``): reading a listing is making the call, as far as IAM is concerned.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from generator.aws.pool import start_in_context

ClientFactory = Callable[[str], Any]
Check = Callable[[str, str], None]
Page = Mapping[str, Any]


def _no_check(service: str, operation: str) -> None:
    return None


@dataclass(frozen=True)
class Listing:
    """One listing a rule reads: a paginated or single-answer call, by its boto3 method
    name, with its parameters. Equal listings (same call, same parameters) are one fetch."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    paginated: bool = field(default=True, compare=False, hash=False)
    """Whether the operation answers in pages (False: one answer is the whole listing, and
    its readers never wait for each other). Declared, and held to botocore's own model by
    tests/test_listing_pages.py; the fetch still asks the client (``_source``)."""
    whole: str | None = field(default=None, compare=False, hash=False)
    """Why the rule that declares it must see every page before it judges (None: it
    judges page by page, holding nothing of a page once it has moved on)."""
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        params = json.dumps(self.params, sort_keys=True, default=str)
        object.__setattr__(self, "key", f"{self.service}:{self.operation}:{params}")

    def read_whole(self, why: str) -> Listing:
        """The same listing, declared by a rule that must see all of it before it judges."""
        return replace(self, whole=why)


ADDRESSES = Listing("ec2", "describe_addresses", paginated=False)
"""Every address of the region, in one answer (DescribeAddresses is not paginated)."""


def api_name(client: Any, service: str, operation: str) -> tuple[str, str]:
    """("ec2", "DescribeVolumes") for a client's ``describe_volumes``: the names the rules
    declare and the guard checks."""
    meta = getattr(client, "meta", None)
    mapping = getattr(meta, "method_to_api_mapping", None)
    if meta is not None and isinstance(mapping, Mapping) and operation in mapping:
        return str(meta.service_model.service_name), str(mapping[operation])
    return service, re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), operation)


Source = tuple[Iterator[Page], Callable[[Page], bool]]
"""The pages as AWS answers them, and whether a page is the last (known from the page)."""


def _source(client: Any, listing: Listing) -> Source:
    can_paginate = getattr(client, "can_paginate", None)  # a test double may not say
    paginated = can_paginate(listing.operation) if callable(can_paginate) else listing.paginated
    if not paginated:
        return iter([getattr(client, listing.operation)(**listing.params)]), lambda page: True
    paginator = client.get_paginator(listing.operation)
    return iter(paginator.paginate(**listing.params)), _last_page_test(paginator)


def _last_page_test(paginator: Any) -> Callable[[Page], bool]:
    """Whether botocore's paginator would stop after a page: its more-results key says no,
    or every output token is absent. Unknown (a test double): never known before the end."""
    import jmespath  # botocore's own dependency, loaded by the time a page is asked for

    config = getattr(paginator, "_pagination_cfg", None)
    if not isinstance(config, Mapping) or "output_token" not in config:
        return lambda page: False
    tokens = config["output_token"]
    tokens = [tokens] if isinstance(tokens, str) else list(tokens)
    compiled = [jmespath.compile(token) for token in tokens]
    more = jmespath.compile(config["more_results"]) if config.get("more_results") else None

    def last(page: Page) -> bool:
        if more is not None and not more.search(page):
            return True
        return all(token.search(page) is None for token in compiled)

    return last


class _PageAhead:
    """The next page of a listing, asked for on a thread of its own while the readers work
    on the one before: AWS's time to answer it overlaps theirs. The thread runs in a copy
    of the asking reader's context, so the declared-calls guard checks the call as that
    reader's own (generator.rules.declared_calls); it makes one request and ends, so a
    listing its readers abandon leaves nothing running."""

    def __init__(self, pages: Iterator[Page]) -> None:
        self._pages = pages
        self._page: Page | None = None
        self._error: BaseException | None = None
        self._thread = start_in_context(self._fetch, name="reclaim-page-ahead")

    def _fetch(self) -> None:
        try:
            self._page = next(self._pages, None)
        except BaseException as failure:  # raised to the reader that takes this page
            self._error = failure

    def take(self) -> Page | None:
        """The page (None: the listing is over), once it has come; its failure, raised."""
        self._thread.join()
        page, self._page = self._page, None
        if self._error is not None:
            raise self._error
        return page


class _Broadcast:
    """One listing's pages handed to its readers: page n+1 is asked for when page n has
    come, and handed out once every reader still reading has finished with page n (it asks
    for page n+1), so page n is gone before page n+2 is asked for (thread-safe)."""

    def __init__(self, readers: Collection[str], start: Callable[[], Source]) -> None:
        self._changed = threading.Condition()
        self._next = dict.fromkeys(readers, 0)  # the page each reader takes next
        self._asking: set[str] = set()  # readers done with their page, asking for the next
        self._held: tuple[int, Page] | None = None
        self._count: int | None = None  # pages in all, once known
        self._error: BaseException | None = None
        self._fetching = False
        self._start = start
        self._source: Source | None = None
        self._ahead: _PageAhead | None = None  # the next page, asked for already

    def joins(self, reader: str) -> bool:
        """Whether ``reader`` is expected and has not read yet (else it reads on its own)."""
        with self._changed:
            return self._next.get(reader) == 0

    def pages(self, reader: str) -> Iterator[Page]:
        try:
            while True:
                page = self._take(reader)
                if page is None:
                    return
                yield page
                del page  # not held here while the next page is fetched
        finally:
            self.leave(reader)

    def leave(self, reader: str) -> None:
        with self._changed:
            if self._next.pop(reader, None) is not None:
                self._changed.notify_all()

    def _take(self, reader: str) -> Page | None:
        with self._changed:
            self._asking.add(reader)
            self._changed.notify_all()
        try:
            while True:
                with self._changed:
                    wanted = self._next[reader]
                    while True:
                        if self._held is not None and self._held[0] == wanted:
                            self._next[reader] = wanted + 1
                            return self._held[1]
                        if self._count is not None and wanted >= self._count:
                            return None
                        if self._error is not None:
                            raise self._error
                        if not self._fetching and self._all_asking_for(wanted):
                            self._fetching = True
                            self._held = None
                            break
                        self._changed.wait()
                self._fetch(wanted)
        finally:
            with self._changed:
                self._asking.discard(reader)

    def _all_asking_for(self, wanted: int) -> bool:
        """Every reader still reading is done with page ``wanted - 1`` (it asks for the
        next): no one needs it any more. The first page waits for no one."""
        return wanted == 0 or all(
            index == wanted and reader in self._asking for reader, index in self._next.items()
        )

    def _fetch(self, index: int) -> None:
        held: tuple[int, Page] | None = None
        count: int | None = None
        error: BaseException | None = None
        try:
            if self._source is None:
                self._source = self._start()
            pages, is_last = self._source
            ahead, self._ahead = self._ahead, None
            page = ahead.take() if ahead is not None else next(pages, None)
            if page is None:
                count = index
            else:
                held = (index, page)
                count = index + 1 if is_last(page) else None
                del page
                if count is None:  # asked for now, while the readers work on this one
                    self._ahead = _PageAhead(pages)
        except BaseException as failure:  # every reader of this page gets the failure
            error = failure
        with self._changed:
            self._held, self._fetching, self._error = held, False, error
            if count is not None:
                self._count = count
            self._changed.notify_all()


class ListingStore:
    """The shared listings of one account-region: which rules read each (declared), and
    the page each is at (thread-safe)."""

    def __init__(self, readers: Mapping[str, Collection[str]] | None = None) -> None:
        self._readers = {key: set(names) for key, names in (readers or {}).items()}
        self._broadcasts: dict[str, _Broadcast] = {}
        self._lock = threading.Lock()
        self.fetched = 0
        """How many listings were fetched from AWS (each once, however many rules read it)."""

    def pages(self, listing: Listing, reader: str, client: Any) -> Iterator[Page]:
        with self._lock:
            expected = reader in self._readers.get(listing.key, ())
            broadcast = self._broadcasts.get(listing.key)
            if expected and broadcast is None:
                broadcast = self._broadcasts[listing.key] = _Broadcast(
                    self._readers[listing.key], lambda: self._started(client, listing)
                )
        if broadcast is None or not broadcast.joins(reader):
            # Not declared by this rule (or read again): a listing of its own, page by page.
            broadcast = _Broadcast((reader,), lambda: self._started(client, listing))
        return broadcast.pages(reader)

    def done(self, reader: str) -> None:
        """``reader``'s unit is over: no listing waits for it any longer."""
        with self._lock:
            for names in self._readers.values():
                names.discard(reader)
            broadcasts = list(self._broadcasts.values())
        for broadcast in broadcasts:
            broadcast.leave(reader)

    def _started(self, client: Any, listing: Listing) -> Source:
        with self._lock:
            self.fetched += 1
        return _source(client, listing)


class Listings:
    """A rule's view of its account-region's shared listings."""

    def __init__(
        self,
        client: ClientFactory,
        store: ListingStore | None = None,
        check: Check = _no_check,
        reader: str = "",
    ) -> None:
        self._client = client
        self.store = store if store is not None else ListingStore()
        self._check = check
        self.reader = reader

    def checked_by(self, check: Check, client: ClientFactory | None = None) -> Listings:
        """The same store and reader, with every read checked by ``check(service,
        Operation)``."""
        return Listings(client or self._client, self.store, check, self.reader)

    def read(self, listing: Listing) -> Iterator[Page]:
        """The pages of ``listing``, one at a time, fetched once per account-region and scan
        for the rules that declare it; checked now, before any page is asked for."""
        client = self._client(listing.service)
        self._check(*api_name(client, listing.service, listing.operation))
        return self.store.pages(listing, self.reader, client)

    def pages(self, service: str, operation: str, **params: Any) -> Iterator[Page]:
        """``read(Listing(service, operation, params))``."""
        return self.read(Listing(service, operation, params))
