"""apply and rollback tell each step as it starts and finishes, and a wait shows its elapsed
time (a line every 30 s in CI), instead of a table at the very end."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from generator.cli import _executor, main
from generator.progress import PlainStepProgress, step_progress_for
from tests.test_exit_codes import Planned


def test_a_wait_prints_a_line_every_interval_with_the_elapsed_time() -> None:
    stream = io.StringIO()
    progress = PlainStepProgress(stream, "apply", interval=0.05)
    progress.started("backup", "Snapshot the volume", "")
    progress.waiting("backup", "Snapshot the volume", "snapshot_completed (up to 120 min)")
    time.sleep(0.28)
    progress.finished("backup", "Snapshot the volume", "done")
    time.sleep(0.1)  # the ticker has stopped: no line after the step finished

    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("backup: started: Snapshot the volume")
    assert lines[1].endswith("backup: waiting for snapshot_completed (up to 120 min)")
    ticks = [line for line in lines if "still waiting for snapshot_completed" in line]
    assert len(ticks) >= 3
    assert all(re.search(r": \d+ s so far$", tick) for tick in ticks)
    assert re.search(r"backup: done in \d+ s$", lines[-1])
    assert all(re.match(r"\[apply +\d+\.\ds\] ", line) for line in lines)


def test_ci_gets_plain_lines_every_30_seconds(monkeypatch: Any) -> None:
    monkeypatch.setenv("CI", "true")
    progress = step_progress_for("rollback", io.StringIO())
    assert isinstance(progress, PlainStepProgress) and progress.interval == 30.0


class _Recorder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events: list[tuple[str, str, list[str]]] = []

    def _journal_done(self) -> list[str]:
        path = self.folder / "journal.json"
        if not path.exists():
            return []
        run = json.loads(path.read_text()).get("apply") or {}
        return [s["step_id"] for s in run.get("steps", []) if s["status"] == "completed"]

    def started(self, step_id: str, description: str, detail: str) -> None:
        self.events.append(("started", step_id, self._journal_done()))

    def waiting(self, step_id: str, description: str, detail: str) -> None:
        self.events.append(("waiting", step_id, self._journal_done()))

    def finished(self, step_id: str, description: str, detail: str) -> None:
        self.events.append(("finished", step_id, self._journal_done()))

    def failed(self, step_id: str, description: str, detail: str) -> None:
        self.events.append(("failed", step_id, self._journal_done()))


def test_each_step_is_told_while_the_run_is_under_way(ec2: Any, tmp_path: Path) -> None:
    planned = Planned(ec2, tmp_path)
    executor = _executor(planned.folder, planned.config, None, "apply", as_of=planned.as_of)
    recorder = _Recorder(planned.folder)
    executor.on_step = recorder

    executor.apply(planned.folder)

    told = [(event, step) for event, step, _ in recorder.events]
    assert told[:2] == [("started", "precheck"), ("finished", "precheck")]
    assert ("waiting", "backup") in told
    assert told.index(("finished", "backup")) < told.index(("started", "delete"))
    # When delete starts, the journal already holds the backup: told live, not at the end.
    (done_then,) = [
        done for event, step, done in recorder.events if (event, step) == ("started", "delete")
    ]
    assert "backup" in done_then and "delete" not in done_then


def test_the_cli_streams_apply_steps_to_stderr(ec2: Any, tmp_path: Path) -> None:
    planned = Planned(ec2, tmp_path)
    result = CliRunner().invoke(
        main,
        ["apply", str(planned.folder), "--config", str(planned.config), "--as-of", planned.as_of],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "backup: started:",
        "backup: waiting for snapshot_completed",
        "backup: done in",
        "delete: done in",
    ):
        assert line in out, out
    assert out.index("backup: done in") < out.index("delete: started")


def test_on_a_terminal_a_wait_is_a_live_spinner_with_the_elapsed_time() -> None:
    from rich.console import Console

    from generator.progress import RichStepProgress

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    progress = RichStepProgress(console, "apply")
    progress.interval = 0.05
    progress.started("backup", "Snapshot the volume", "")
    progress.waiting("backup", "Snapshot the volume", "snapshot_completed (up to 120 min)")
    time.sleep(0.3)
    assert progress._status is not None  # the live display is up while waiting
    progress.finished("backup", "Snapshot the volume", "done")

    text = stream.getvalue()
    assert progress._status is None
    assert "apply: backup: waiting for snapshot_completed" in text
    assert re.search(r"waiting for snapshot_completed \(up to 120 min\): \d+ s", text)
    assert "apply: backup: done in" in text


def test_a_run_waiting_for_the_plan_lock_says_so_and_when_it_got_it(
    ec2: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import threading

    from generator.executor.lock import LOCK_DIR_ENV, plan_lock

    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    planned = Planned(ec2, tmp_path)
    stream = io.StringIO()
    executor = _executor(
        planned.folder, planned.config, None, "apply", wait_seconds=10, as_of=planned.as_of
    )
    executor.on_step = PlainStepProgress(stream, "apply")
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with plan_lock(planned.folder, wait_seconds=0):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=other_run)
    holder.start()
    held.wait(5)
    threading.Timer(0.6, release.set).start()
    executor.apply(planned.folder)
    holder.join()

    text = stream.getvalue()
    assert "lock: waiting for the plan lock, held by another apply or rollback (pid " in text
    assert "up to 10 s)" in text
    assert re.search(r"lock: acquired in \d+ s", text)
    assert text.index("lock: acquired") < text.index("precheck: started")
