"""The fuzz campaign's profile and its tally.

By default (CI) each target runs a tenth of its examples with a fixed seed, so a failure
reproduces. `RECLAIM_FUZZ=full python -m pytest tests/fuzz` runs the full campaign (10,000+
inputs, random seed); `RECLAIM_FUZZ_TALLY=FILE` also writes per target how many inputs ran
and how each ended, by exit code (with pytest-xdist, the workers' tallies added up)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.harness import write_tally


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get("RECLAIM_FUZZ_TALLY")
    if path and not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        Path(path).unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def tally() -> Iterator[None]:
    yield
    path = os.environ.get("RECLAIM_FUZZ_TALLY")
    if path:
        write_tally(path)
