"""Scan progress: a rich progress bar on a terminal, plain log lines in CI or a pipe.

Called from the scanning thread only (the pool's results are consumed there), so neither
display needs its own locking.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console

from generator.aws.fleet import UnitOutcome
from generator.config import AccountConfig


def _describe(outcome: UnitOutcome) -> str:
    where = f"{outcome.account_id}/{outcome.unit.region}/{outcome.unit.rule}"
    if outcome.error:
        return f"{where}: FAILED: {outcome.error}"
    return (
        f"{where}: {outcome.findings} finding(s), {outcome.skipped} left alone "
        f"({outcome.seconds:.1f} s)"
    )


class SilentProgress:
    def units_added(self, count: int) -> None:
        pass

    def account_failed(self, account: AccountConfig, message: str) -> None:
        pass

    def unit_done(self, outcome: UnitOutcome) -> None:
        pass

    def __enter__(self) -> SilentProgress:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class PlainProgress:
    """One line per finished unit: readable in a CI log, greppable afterwards."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.started = time.monotonic()

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[scan {elapsed:6.1f}s] {text}", file=self.stream, flush=True)

    def units_added(self, count: int) -> None:
        self.total += count

    def account_failed(self, account: AccountConfig, message: str) -> None:
        self._line(f"account {account.label} FAILED: {message}")

    def unit_done(self, outcome: UnitOutcome) -> None:
        self.done += 1
        self._line(f"{self.done}/{self.total} {_describe(outcome)}")

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class RichProgress:
    def __init__(self, console: Console) -> None:
        # Imported here: CI runs (plain lines) never pay for rich.progress.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("units"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("scan", total=0, last="")

    def units_added(self, count: int) -> None:
        total = self.progress.tasks[0].total or 0
        self.progress.update(self.task, total=total + count)

    def account_failed(self, account: AccountConfig, message: str) -> None:
        self.console.print(f"[red]account {account.label} failed:[/red] {message}", highlight=False)

    def unit_done(self, outcome: UnitOutcome) -> None:
        if outcome.error:
            self.console.print(f"[red]{_describe(outcome)}[/red]", highlight=False)
        self.progress.update(self.task, advance=1, last=_describe(outcome)[:60])

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.progress.stop()


def progress_for(stream: IO[str] | None = None) -> PlainProgress | RichProgress:
    """Rich on an interactive terminal; plain lines when CI=true or not a TTY."""
    stream = stream or sys.stderr
    in_ci = os.environ.get("CI", "").lower() == "true"
    if in_ci or not stream.isatty():
        return PlainProgress(stream)
    return RichProgress(Console(file=stream))
