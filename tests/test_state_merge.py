"""Merging the first-seen clocks of sharded scans (`reclaim merge-state`).

The properties a tool that deletes things by age needs: the merge does not depend on the order
of the shards, never loses an earliest time, forgets only what a unit's own scan no longer
saw idle, and a sharded scan leaves exactly the state one whole scan would have left.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.state import FirstSeen, SeenState, load_clocks, save_clocks, unit_of
from generator.state_merge import ScanClocks, merge_clocks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
RULES = ("ebs-unattached", "eip-unassociated")
UNITS = [(rule, account, region) for rule in RULES for account in ACCOUNTS for region in REGIONS]
RESOURCES = tuple(f"r-{n}" for n in range(4))

times = st.integers(min_value=0, max_value=60).map(lambda days: T0 + timedelta(days=days))
unit_indexes = st.integers(min_value=0, max_value=len(UNITS) - 1)


def key_in(unit: tuple[str, str, str], resource: str) -> tuple[str, str]:
    rule, account, region = unit
    return rule, f"{account}/{region}/{resource}"


@st.composite
def clocks(draw: st.DrawFn) -> FirstSeen:
    entries = draw(st.dictionaries(st.tuples(unit_indexes, st.sampled_from(RESOURCES)), times))
    result: FirstSeen = {}
    for (unit, resource), when in entries.items():
        rule, key = key_in(UNITS[unit], resource)
        result.setdefault(rule, {})[key] = when
    return result


@st.composite
def shard_reports(draw: st.DrawFn) -> list[ScanClocks]:
    """Reports of shards; each completed some of its units and saw some resources idle (in
    failed units too: a unit can fail part-way). A unit has no, one or (a whole scan merged
    with shards, a shard passed twice) two reports."""
    count = draw(st.integers(min_value=1, max_value=4))
    shards = st.integers(min_value=0, max_value=count - 1)
    owners = [set(draw(st.lists(shards, max_size=2))) for _ in UNITS]
    reports = []
    for shard in range(count):
        owned = [UNITS[i] for i, o in enumerate(owners) if shard in o]
        completed = frozenset(u for u in owned if draw(st.booleans()))
        seen: FirstSeen = {}
        for unit in owned:
            for resource in draw(st.lists(st.sampled_from(RESOURCES), unique=True)):
                rule, key = key_in(unit, resource)
                seen.setdefault(rule, {})[key] = draw(times)
        reports.append(ScanClocks(completed, seen))
    return reports


def flat(clocks: FirstSeen) -> dict[tuple[str, str], datetime]:
    return {(rule, key): when for rule, entries in clocks.items() for key, when in entries.items()}


@given(base=clocks(), reports=shard_reports(), order=st.randoms(use_true_random=False))
def test_the_merge_does_not_depend_on_the_order_of_the_shards(base, reports, order) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(reports)
    order.shuffle(shuffled)
    assert merge_clocks(base, shuffled) == merge_clocks(base, reports)


@given(base=clocks(), reports=shard_reports())
def test_the_merge_keeps_exactly_the_clocks_it_should_at_their_earliest(base, reports) -> None:  # type: ignore[no-untyped-def]
    merged = flat(merge_clocks(base, reports))
    completed = {unit for report in reports for unit in report.completed}
    observed = {k: w for report in reports for k, w in flat(report.first_seen).items()}
    sources = [flat(base), *(flat(r.first_seen) for r in reports)]
    for entry, when in merged.items():
        assert when == min(source[entry] for source in sources if entry in source)
    # every resource a shard saw idle keeps a clock
    assert set(observed) <= set(merged)
    for (rule, key), _when in flat(base).items():
        unit = (rule, *unit_of(key))  # type: ignore[misc]
        if unit not in completed:
            assert (rule, key) in merged  # no shard completed its unit: kept
        elif (rule, key) not in observed:
            assert (rule, key) not in merged  # its shard no longer saw it idle: forgotten
    assert set(merged) <= set(observed) | set(flat(base))


@given(base=clocks(), reports=shard_reports())
def test_merging_the_same_reports_twice_changes_nothing(base, reports) -> None:  # type: ignore[no-untyped-def]
    once = merge_clocks(base, reports)
    assert merge_clocks(once, reports) == once


@st.composite
def scan_runs(draw: st.DrawFn) -> tuple[FirstSeen, list[dict[int, list[str]]], set[int], int]:
    """A committed state; what each unit sees idle (one run); units that fail; shard count."""
    base = draw(clocks())
    idle = {i: draw(st.lists(st.sampled_from(RESOURCES), unique=True)) for i in range(len(UNITS))}
    failing = set(draw(st.lists(unit_indexes, unique=True, max_size=3)))
    return base, [idle], failing, draw(st.integers(min_value=1, max_value=5))


def _scan(state: SeenState, units: list[int], idle: dict[int, list[str]], failing: set[int]):  # type: ignore[no-untyped-def]
    """What scan_into does with the state for these units: a failing unit sees part of its
    resources, then fails (no pruning); a completed one is pruned."""
    now = T0 + timedelta(days=30)
    completed = set()
    for i in units:
        rule, account, region = UNITS[i]
        seen = idle[i][: len(idle[i]) // 2] if i in failing else idle[i]
        for resource in seen:
            state.first_seen(rule, f"{account}/{region}/{resource}", now)
        if i not in failing:
            state.forget_unobserved(rule, account, region)
            completed.add(UNITS[i])
    return ScanClocks(frozenset(completed), state.observed())


@settings(max_examples=60)
@given(run=scan_runs())
def test_sharded_scans_leave_the_state_one_whole_scan_would(run) -> None:  # type: ignore[no-untyped-def]
    base, (idle,), failing, count = run
    with tempfile.TemporaryDirectory() as tmp:
        committed, alone = Path(tmp) / "state.json", Path(tmp) / "whole.json"
        save_clocks(committed, base)
        save_clocks(alone, base)
        whole = SeenState(alone)
        _scan(whole, list(range(len(UNITS))), idle, failing)
        whole.save()

        reports = []
        for shard in range(count):
            # each shard job starts from the committed file and scans only its units
            own = SeenState(committed)
            mine = [i for i in range(len(UNITS)) if i % count == shard]
            reports.append(_scan(own, mine, idle, failing))
        assert merge_clocks(load_clocks(committed), reports) == load_clocks(alone)


def _report(
    path: Path,
    *,
    completed: list[tuple[str, str, str]],
    first_seen: object,
    as_of: str = "2026-02-01T00:00:00Z",
) -> Path:
    data: dict[str, object] = {
        "schema_version": 1,
        "as_of": as_of,
        "findings": [],
        "completed": [{"rule": r, "account": a, "region": g} for r, a, g in completed],
    }
    if first_seen is not None:
        data["first_seen"] = first_seen
    path.write_text(json.dumps(data))
    return path


def test_merge_state_updates_the_file_and_says_what_changed(tmp_path: Path) -> None:
    state = tmp_path / ".reclaim/state.json"
    gone, kept, stays = (
        "111111111111/us-east-1/vol-gone",
        "111111111111/us-east-1/vol-kept",
        ("111111111111/eu-west-1/vol-unscanned"),
    )
    save_clocks(state, {"ebs-unattached": {gone: T0, kept: T0, stays: T0}})
    shard = _report(
        tmp_path / "findings-1.json",
        completed=[("ebs-unattached", "111111111111", "us-east-1")],
        first_seen={
            "ebs-unattached": {
                kept: "2026-01-20T00:00:00Z",
                "111111111111/us-east-1/vol-new": ("2026-02-01T00:00:00Z"),
            }
        },
    )
    old = _report(tmp_path / "findings-2.json", completed=[], first_seen=None)
    result = CliRunner().invoke(main, ["merge-state", "--state", str(state), str(shard), str(old)])
    assert result.exit_code == 0, result.output
    assert "3 clock(s); 1 started, 1 forgotten, 1 kept" in result.output
    assert f"{old} carries no first-seen clocks" in result.output
    clocks = load_clocks(state)["ebs-unattached"]
    assert clocks == {
        kept: T0,  # the earlier time wins
        stays: T0,
        "111111111111/us-east-1/vol-new": datetime(2026, 2, 1, tzinfo=UTC),
    }
    # the same merge again: nothing to write
    before = state.stat().st_mtime_ns
    again = CliRunner().invoke(main, ["merge-state", "--state", str(state), str(shard)])
    assert again.exit_code == 0 and "(unchanged)" in again.output
    assert state.stat().st_mtime_ns == before


def test_merge_state_refuses_what_is_not_a_scan_report_and_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    save_clocks(state, {"ebs-unattached": {"111111111111/us-east-1/vol-1": T0}})
    before = state.read_text()
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"schema_version": 1, "steps": []}')
    result = CliRunner().invoke(main, ["merge-state", "--state", str(state), str(bogus)])
    assert result.exit_code == 4
    assert "plan.json" in result.output and "merge-state takes" in result.output
    assert state.read_text() == before


def test_a_state_key_reclaim_did_not_write_is_kept() -> None:
    odd = {"ebs-unattached": {"not-a-key": T0}}
    everything = ScanClocks(frozenset(UNITS), {})
    assert merge_clocks(odd, [everything]) == odd


def test_reports_of_different_scans_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """A stale artifact (last week's shard) would undo newer clocks: one --as-of only."""
    state = tmp_path / "state.json"
    key = "111111111111/us-east-1/vol-1"
    save_clocks(state, {"ebs-unattached": {key: T0}})
    before = state.read_text()
    unit = [("ebs-unattached", "111111111111", "us-east-1")]
    today = _report(tmp_path / "a.json", completed=unit, first_seen={})
    stale = _report(
        tmp_path / "b.json",
        completed=[("ebs-unattached", "111111111111", "eu-west-1")],
        first_seen={},
        as_of="2026-01-25T00:00:00Z",
    )
    result = CliRunner().invoke(
        main, ["merge-state", "--state", str(state), str(today), str(stale)]
    )
    assert result.exit_code == 4
    assert "not from one scan" in result.output and "same --as-of" in result.output
    assert state.read_text() == before
