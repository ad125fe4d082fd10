"""The projection's schedule is the fleet's: a FIFO pool, accounts prepared first."""

from __future__ import annotations

import pytest

from benchmarks.projection import _schedule, wall_time


def test_one_worker_runs_everything_one_after_another() -> None:
    assert _schedule([[1.0, 2.0], [3.0]], prepare=0.5, workers=1) == pytest.approx(7.0)


def test_enough_workers_wait_only_for_the_account_and_its_longest_unit() -> None:
    assert _schedule([[1.0, 2.0], [3.0]], prepare=0.5, workers=8) == pytest.approx(3.5)


def test_shards_split_the_units_and_each_runner_has_its_own_pool() -> None:
    calls = {"ebs-unattached": 10, "rds-idle": 10}
    regions = ("us-east-1", "eu-west-1")
    kwargs = {"accounts": 8, "regions": regions, "latency": 1.0, "account_calls": 0}
    alone = wall_time(calls, workers=1, runners=1, **kwargs)  # type: ignore[arg-type]
    assert alone == pytest.approx(8 * 2 * 2 * 10)
    sharded = wall_time(calls, workers=1, runners=4, **kwargs)  # type: ignore[arg-type]
    # the busiest of 4 runners: at least a quarter of the work, at most all of it
    assert alone / 4 <= sharded < alone
