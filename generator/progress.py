"""Scan progress: a rich progress bar on a terminal, plain log lines in CI or a pipe.

Called from the scanning thread only (the pool's results are consumed there), so neither
display needs its own locking.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from generator.aws.fleet import UnitOutcome
from generator.config import AccountConfig

if TYPE_CHECKING:
    from rich.console import Console


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
    from rich.console import Console

    return RichProgress(Console(file=stream))


# ---- apply and rollback: each step as it starts and finishes; waits show elapsed time ----


def _minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


class PlainStepProgress:
    """Plain lines for a CI log: a line when a step starts and ends, and while a step waits
    (a snapshot can take two hours) one line every ``interval`` seconds."""

    def __init__(
        self,
        stream: IO[str],
        kind: str,
        *,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.kind = kind
        self.interval = interval
        self.clock = clock
        self.started_at = clock()
        self._step_started: dict[str, float] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            elapsed = self.clock() - self.started_at
            print(f"[{self.kind} {elapsed:6.1f}s] {text}", file=self.stream, flush=True)

    def _took(self, step_id: str) -> str:
        return _minutes(self.clock() - self._step_started.get(step_id, self.clock()))

    def started(self, step_id: str, description: str, detail: str) -> None:
        self._step_started[step_id] = self.clock()
        self._line(f"{step_id}: started: {description}")

    def waiting(self, step_id: str, description: str, detail: str) -> None:
        self._end_wait()
        self._step_started.setdefault(step_id, self.clock())
        self._line(f"{step_id}: waiting for {detail}")
        since = self.clock()
        self._stop = threading.Event()

        def tick(stop: threading.Event) -> None:
            while not stop.wait(self.interval):
                self._line(
                    f"{step_id}: still waiting for {detail}: {_minutes(self.clock() - since)} "
                    "so far"
                )

        self._ticker = threading.Thread(target=tick, args=(self._stop,), daemon=True)
        self._ticker.start()

    def _end_wait(self) -> None:
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None

    def finished(self, step_id: str, description: str, detail: str) -> None:
        self._end_wait()
        if step_id in self._step_started:
            self._line(f"{step_id}: {detail} in {self._took(step_id)}")
        else:
            self._line(f"{step_id}: {detail}")

    def failed(self, step_id: str, description: str, detail: str) -> None:
        self._end_wait()
        self._line(f"{step_id}: FAILED after {self._took(step_id)}: {detail}")


class RichStepProgress(PlainStepProgress):
    """On a terminal: the same lines, and a live spinner with the elapsed time while a step
    waits."""

    def __init__(self, console: Console, kind: str) -> None:
        super().__init__(console.file, kind, interval=1.0)
        self.console = console
        self._status: Any = None

    def _line(self, text: str) -> None:
        with self._lock:
            self.console.print(f"{self.kind}: {text}", markup=False, highlight=False)

    def waiting(self, step_id: str, description: str, detail: str) -> None:
        self._end_wait()
        self._step_started.setdefault(step_id, self.clock())
        self._line(f"{step_id}: waiting for {detail}")
        since = self.clock()
        self._status = self.console.status(f"{step_id}: waiting for {detail}")
        self._status.start()
        self._stop = threading.Event()

        def tick(stop: threading.Event) -> None:
            while not stop.wait(self.interval):
                self._status.update(
                    f"{step_id}: waiting for {detail}: {_minutes(self.clock() - since)}"
                )

        self._ticker = threading.Thread(target=tick, args=(self._stop,), daemon=True)
        self._ticker.start()

    def _end_wait(self) -> None:
        super()._end_wait()
        if self._status is not None:
            self._status.stop()
            self._status = None


def step_progress_for(
    kind: str, stream: IO[str] | None = None
) -> PlainStepProgress | RichStepProgress:
    """Rich on an interactive terminal; plain lines (a wait: one every 30 s) in CI or a pipe."""
    stream = stream or sys.stderr
    in_ci = os.environ.get("CI", "").lower() == "true"
    if in_ci or not stream.isatty():
        return PlainStepProgress(stream, kind)
    from rich.console import Console

    return RichStepProgress(Console(file=stream), kind)
