"""A shared listing is read page by page: the rules that declare it take each page as it
comes, and the next page is asked for as soon as they have it (AWS answers it while they
work), so a page is gone before the one after the next is asked for. A unit's memory is
two pages, not its region's inventory.

The AWS side is a stand-in EC2 client that makes each DescribeVolumes page when it is
asked for (moto answers every volume in one page), so what the scan holds can be seen:
each page can be watched with a weak reference, and tracemalloc sees only reclaim.
"""

from __future__ import annotations

import threading
import tracemalloc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator.aws.listings import Listing, Listings, ListingStore
from generator.fileio import atomic_writer
from generator.findings import Finding, ScanError, ScanUnit, SkippedResource
from generator.report_stream import StreamingReportWriter, Tee
from generator.rules import RULES
from generator.scan import scan_into, together
from generator.state import FirstSeen, SeenState
from tests.conftest import REGION, config_for

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
PAGE_SIZE = 100


class WatchedPage(dict[str, Any]):
    """A page a weak reference can watch (a plain dict cannot be)."""


class PagedEc2:
    """EC2 as far as the volume rules ask: ``count`` unattached gp2 volumes, each page of
    DescribeVolumes made when it is asked for. ``kept`` lists the pages (by number) still
    alive, anywhere in the process, when the page two after them was asked for (the one
    after them is the readers' while the next is fetched)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.listings = 0
        self.kept: list[int] = []
        self.pages_made = 0

    def can_paginate(self, operation: str) -> bool:
        return True

    def get_paginator(self, operation: str) -> Any:
        ec2 = self

        class Paginator:
            def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
                if operation == "describe_volumes_modifications":
                    return iter([{"VolumesModifications": []}])
                assert operation == "describe_volumes", operation
                return ec2._volume_pages()

        return Paginator()

    def _volume_pages(self) -> Iterator[dict[str, Any]]:
        self.listings += 1
        made: list[weakref.ref[WatchedPage]] = []
        for number, start in enumerate(range(0, self.count, PAGE_SIZE)):
            if number >= 2 and made[number - 2]() is not None:
                self.kept.append(number - 2)
            page = WatchedPage(Volumes=[_volume(i) for i in range(start, start + PAGE_SIZE)])
            made.append(weakref.ref(page))
            self.pages_made += 1
            yield page
            del page


def _volume(index: int) -> dict[str, Any]:
    return {
        "VolumeId": f"vol-{index:017x}",
        "AvailabilityZone": f"{REGION}a",
        "State": "available",
        "VolumeType": "gp2",
        "Size": 100,
        "Iops": 300,
        "Encrypted": False,
        "MultiAttachEnabled": False,
        "Attachments": [],
        "CreateTime": AS_OF - timedelta(days=400),
        "Tags": [{"Key": "team", "Value": f"team-{index % 7}"}],
    }


class StandIn:
    """An account session whose EC2 is ``ec2``."""

    def __init__(self, ec2: PagedEc2) -> None:
        self.ec2 = ec2

    def client(self, service: str, region: str) -> Any:
        assert service == "ec2", f"the volume rules asked {service}"
        return self.ec2

    def account_id(self, region: str = REGION) -> str:
        return "123456789012"


class Counted:
    """A sink that keeps counts only (what a streamed scan keeps of each result)."""

    def __init__(self) -> None:
        self.findings: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.errors: list[ScanError] = []

    def add_finding(self, finding: Finding) -> None:
        self.findings[finding.rule] = self.findings.get(finding.rule, 0) + 1

    def add_skipped(self, skipped: SkippedResource) -> None:
        self.skipped[skipped.rule] = self.skipped.get(skipped.rule, 0) + 1

    def add_error(self, error: ScanError) -> None:
        self.errors.append(error)

    def add_warning(self, warning: ScanError) -> None:
        pass

    def add_completed(self, unit: ScanUnit) -> None:
        pass

    def add_first_seen(self, clocks: FirstSeen) -> None:
        pass


def volume_rules(tmp_path: Path) -> Any:
    return config_for(
        tmp_path,
        rules={
            **{name: {"enabled": False} for name in RULES},
            # the stand-in is EC2 alone: no CloudTrail, no Recycle Bin
            "ebs-unattached": {"use_cloudtrail": False, "use_recycle_bin": False},
            "ebs-gp2-to-gp3": {"include_unattached": True},
        },
    )


def test_both_volume_rules_take_every_page_of_one_listing_and_no_page_outlives_two_more(
    tmp_path: Path,
) -> None:
    ec2 = PagedEc2(1_000)
    state = SeenState(None)
    sink = Counted()
    for as_of in (AS_OF - timedelta(days=30), AS_OF):  # the first scan starts the clocks
        sink = Counted()
        scan_into(
            volume_rules(tmp_path),
            sink,
            as_of=as_of,
            session_for=lambda account: StandIn(ec2),
            state=state,
            workers=1,  # a group of rules reading one listing runs together all the same
        )
    assert sink.errors == []
    assert sink.findings == {"ebs-unattached": 1_000, "ebs-gp2-to-gp3": 1_000}
    assert ec2.listings == 2 and ec2.pages_made == 20  # one listing a scan, for both rules
    assert ec2.kept == []


def test_the_rules_that_read_one_listing_are_one_group_per_region() -> None:
    from generator.aws.units import Unit

    units = [
        Unit("a", region, rule)
        for region in ("us-east-1", "eu-west-1")
        for rule in ("ebs-unattached", "nat-gateway-idle", "ebs-gp2-to-gp3", "eip-unassociated")
    ] + [Unit("a", "us-east-1", "ec2-idle")]
    groups = [(group[0].region, tuple(u.rule for u in group)) for group in together(units)]
    assert groups == [
        ("us-east-1", ("ebs-unattached", "ebs-gp2-to-gp3")),
        ("us-east-1", ("nat-gateway-idle",)),
        ("us-east-1", ("eip-unassociated", "ec2-idle")),
        ("eu-west-1", ("ebs-unattached", "ebs-gp2-to-gp3")),
        ("eu-west-1", ("nat-gateway-idle",)),
        ("eu-west-1", ("eip-unassociated",)),
    ]


def test_every_rule_that_reads_the_region_volumes_declares_the_listing() -> None:
    """An undeclared read is a listing of its own: a second DescribeVolumes in the region."""
    import inspect

    from generator.rules.ebs_volume import VOLUMES

    readers = {
        name for name, rule in RULES.items() if "region_volumes(" in inspect.getsource(type(rule))
    }
    assert {"ebs-unattached", "ebs-gp2-to-gp3", "backup-expired"} <= readers
    assert {name for name in readers if VOLUMES in RULES[name].listings} == readers


def test_every_declared_listing_says_what_botocore_says_of_its_pagination() -> None:
    """Whether a rule may share a listing beside another rests on ``Listing.paginated``
    (generator.rules.base): a declaration botocore's model contradicts could let two
    paginated listings into one rule. No network: can_paginate reads the model."""
    import boto3

    declared = [(name, listing) for name, rule in RULES.items() for listing in rule.listings]
    kinds = {listing.key for _, listing in declared}
    assert len(kinds) >= 4  # the volumes, the addresses, the instances, the DB instances
    for name, listing in declared:
        client = boto3.client(listing.service, region_name=REGION)
        assert listing.paginated == client.can_paginate(listing.operation), (name, listing)


class UnitsPeak(Counted):
    """Notes tracemalloc's peak when the units are all done (the report's first-seen
    clocks, one per idle resource by design, are handed over then)."""

    peak = 0

    def add_first_seen(self, clocks: FirstSeen) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]


def peak_of_the_units(tmp_path: Path, count: int) -> int:
    ec2 = PagedEc2(count)
    config = volume_rules(tmp_path)
    state = SeenState(None)
    scan_into(  # the first-seen clocks are started beforehand, as a scheduled scan finds them
        config,
        Counted(),
        as_of=AS_OF - timedelta(days=30),
        session_for=lambda account: StandIn(ec2),
        state=state,
        workers=2,
    )
    probe = UnitsPeak()
    tracemalloc.start()
    try:
        with (
            atomic_writer(tmp_path / f"findings-{count}.json") as stream,
            StreamingReportWriter(stream, AS_OF) as writer,
        ):
            scan_into(
                config,
                Tee(writer, probe),
                as_of=AS_OF,
                session_for=lambda account: StandIn(ec2),
                state=state,
                workers=2,
            )
    finally:
        tracemalloc.stop()
    assert probe.peak > 0
    return probe.peak


def test_the_units_of_a_streamed_scan_of_four_times_the_volumes_peak_about_as_high(
    tmp_path: Path,
) -> None:
    """Findings are written as they come, skipped resources spooled to a file: what grows
    with the volumes is the first-seen state (a key per idle volume, by design). Holding
    the listing and the candidates cost ~3 KiB a volume (0.9 MiB more for 1,500 more)."""
    small, large = peak_of_the_units(tmp_path, 500), peak_of_the_units(tmp_path, 2_000)
    said = f"{small / 2**20:.2f} MiB -> {large / 2**20:.2f} MiB"
    assert large < 1.5 * small, said
    assert (large - small) / 1_500 < 200, said  # bytes a volume


# ---- the listing store: readers wait for each other, never for a rule that is done ------


class Pages:
    """A paginated call that answers ``pages`` pages, or fails on page ``fail_at``."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages, self.fail_at = pages, fail_at
        self.calls = 0

    def can_paginate(self, operation: str) -> bool:
        return True

    def get_paginator(self, operation: str) -> Any:
        source = self

        class Paginator:
            def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
                for number in range(source.pages):
                    source.calls += 1
                    source.asking(number)
                    if number == source.fail_at:
                        raise RuntimeError(f"page {number} failed")
                    yield {"Items": [number]}

        return Paginator()

    def asking(self, number: int) -> None:
        """Page ``number`` is being asked for (on the thread that asks)."""


LISTING = Listing("svc", "list_items")


def read_on_threads(store: ListingStore, client: Any, readers: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def read(reader: str) -> None:
        listings = Listings(lambda service: client, store, reader=reader)
        try:
            seen[reader] = [page["Items"][0] for page in listings.read(LISTING)]
        except RuntimeError as error:
            seen[reader] = str(error)
        finally:
            store.done(reader)

    threads = [threading.Thread(target=read, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a reader waited for ever"
    return seen


def test_every_reader_gets_every_page_of_one_fetch() -> None:
    client = Pages(5)
    store = ListingStore({LISTING.key: {"a", "b", "c"}})
    assert read_on_threads(store, client, ["a", "b", "c"]) == {
        reader: [0, 1, 2, 3, 4] for reader in "abc"
    }
    assert client.calls == 5 and store.fetched == 1


def test_a_reader_whose_unit_ends_without_reading_holds_nobody_up() -> None:
    client = Pages(3)
    store = ListingStore({LISTING.key: {"reads", "never-reads"}})
    store.done("never-reads")  # its rule failed before it read, or did not need the listing
    assert read_on_threads(store, client, ["reads"]) == {"reads": [0, 1, 2]}


def test_a_page_that_fails_fails_every_reader_and_is_asked_for_once() -> None:
    client = Pages(4, fail_at=2)
    store = ListingStore({LISTING.key: {"a", "b"}})
    seen = read_on_threads(store, client, ["a", "b"])
    assert seen == {"a": "page 2 failed", "b": "page 2 failed"}
    assert client.calls == 3


class Watched(Pages):
    """Pages that note which page was asked for on which thread, in which rule's scope."""

    def __init__(self, pages: int) -> None:
        super().__init__(pages)
        self.asked = [threading.Event() for _ in range(pages)]
        self.asked_by: list[tuple[str, Any]] = []

    def asking(self, number: int) -> None:
        self.asked_by.append((threading.current_thread().name, running_rule()))
        self.asked[number].set()


def running_rule() -> str | None:
    from generator.rules.declared_calls import _running

    scope = _running.get()
    return scope[0] if scope else None


def test_the_next_page_is_asked_for_while_the_readers_work_on_this_one() -> None:
    client = Watched(3)
    listings = Listings(lambda service: client, ListingStore({LISTING.key: {"a"}}), reader="a")
    taken = []
    for page in listings.read(LISTING):
        number = page["Items"][0]
        if number + 1 < client.pages:  # AWS answers page n+1 while this one is worked on
            assert client.asked[number + 1].wait(timeout=10), f"page {number + 1} not asked"
        taken.append(number)
    assert taken == [0, 1, 2] and client.calls == 3


def test_a_page_asked_for_ahead_is_asked_in_the_rule_s_scope_for_the_guard() -> None:
    """The thread that asks for the next page runs in a copy of the reader's context: the
    declared-calls guard sees the rule's own call, not a call outside any rule."""
    from generator.rules.declared_calls import declared_calls

    client = Watched(4)
    listings = Listings(lambda service: client, ListingStore({LISTING.key: {"a"}}), reader="a")
    with declared_calls("the-rule", frozenset({("svc", "ListItems")})):
        assert [page["Items"][0] for page in listings.read(LISTING)] == [0, 1, 2, 3]
    threads = {thread for thread, _ in client.asked_by}
    assert threading.current_thread().name in threads and len(threads) > 1
    assert [rule for _, rule in client.asked_by] == ["the-rule"] * 4


def test_a_listing_left_after_its_first_page_asks_for_one_more_and_leaves_nothing_running() -> None:
    client = Watched(10)
    store = ListingStore({LISTING.key: {"a"}})
    pages = Listings(lambda service: client, store, reader="a").read(LISTING)
    assert next(pages)["Items"] == [0]
    assert client.asked[1].wait(timeout=10)
    pages.close()  # the rule stops reading (it failed, or needs no more)
    store.done("a")
    for thread in threading.enumerate():
        if thread.name == "reclaim-page-ahead":
            thread.join(timeout=10)
            assert not thread.is_alive(), "a page fetch outlived its listing"
    assert client.calls == 2  # the page asked for ahead, and none after it


def test_a_rule_that_does_not_declare_a_listing_reads_its_own() -> None:
    client = Pages(2)
    store = ListingStore({LISTING.key: {"declares"}})
    seen = read_on_threads(store, client, ["declares", "undeclared"])
    assert seen == {"declares": [0, 1], "undeclared": [0, 1]}
    assert store.fetched == 2


class OneAnswer:
    """A call that is not paginated (DescribeAddresses): one answer is the whole listing."""

    def __init__(self) -> None:
        self.calls = 0

    def can_paginate(self, operation: str) -> bool:
        return False

    def list_items(self) -> dict[str, Any]:
        self.calls += 1
        return {"Items": ["only"]}


def test_a_listing_of_one_answer_waits_for_no_reader_that_reads_it_later() -> None:
    """eip-unassociated reads the addresses at once, ec2-idle only after its instances and
    metrics: the first is not held up, and the second still gets the same answer."""
    client = OneAnswer()
    store = ListingStore({LISTING.key: {"early", "late"}})
    assert read_on_threads(store, client, ["early"]) == {"early": ["only"]}
    assert read_on_threads(store, client, ["late"]) == {"late": ["only"]}
    assert client.calls == 1


class PagesAndOneAnswer(Pages):
    """``list_items`` in pages, and ``get_answer``, not paginated, in one answer."""

    answers = 0

    def can_paginate(self, operation: str) -> bool:
        return operation == LISTING.operation

    def get_answer(self) -> dict[str, Any]:
        self.answers += 1
        return {"Items": ["only"]}


ANSWER = Listing("svc", "get_answer", paginated=False)


def test_readers_holding_a_page_of_each_listing_in_opposite_orders_never_wait_for_ever() -> None:
    """What the guard allows (generator.rules.base), at its worst: one reader takes a page
    of the paginated listing and reads the single-answer one before asking for the next
    page, the other holds the single answer while it reads every page. Were the second
    listing paginated too, each would wait for the other's next request for ever."""
    client = PagesAndOneAnswer(3)
    store = ListingStore(
        {LISTING.key: {"pages-first", "answer-first"}, ANSWER.key: {"pages-first", "answer-first"}}
    )
    seen: dict[str, list[Any]] = {}

    def read(reader: str, outer: Listing, inner: Listing) -> None:
        listings = Listings(lambda service: client, store, reader=reader)
        got: list[Any] = []
        for page in listings.read(outer):
            got.append(page["Items"][0])
            if len(got) == 1:
                got += [inside["Items"][0] for inside in listings.read(inner)]
        seen[reader] = got
        store.done(reader)

    threads = [
        threading.Thread(target=read, args=("pages-first", LISTING, ANSWER), daemon=True),
        threading.Thread(target=read, args=("answer-first", ANSWER, LISTING), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "the readers waited for ever"
    assert seen == {"pages-first": [0, "only", 1, 2], "answer-first": ["only", 0, 1, 2]}
    assert client.calls == 3 and client.answers == 1 and store.fetched == 2


# ---- the end of a streamed scan: the first-seen clocks written one at a time ------------


@pytest.mark.parametrize(
    "clocks",
    [
        {},
        {"ebs-unattached": {}},
        {
            "ebs-unattached": {
                "123456789012/us-east-1/vol-1": datetime(2026, 5, 1, tzinfo=UTC),
                "123456789012/us-east-1/vol-2": datetime(2026, 5, 2, 3, 4, 5, 6789, tzinfo=UTC),
            },
            "logs-retention": {'1/eu-west-1/ünïcode "quoted" \\ back\nslash': AS_OF},
            "eip-unassociated": {},
        },
    ],
)
def test_the_clocks_are_written_byte_for_byte_as_pydantic_writes_them(
    clocks: FirstSeen,
) -> None:
    import io

    from pydantic import TypeAdapter

    from generator.report_stream import write_clocks

    written = io.StringIO()
    write_clocks(written, clocks, indent="  ")
    whole = TypeAdapter(FirstSeen).dump_json(clocks, indent=2).decode()
    assert written.getvalue() == whole.replace("\n", "\n  ")
