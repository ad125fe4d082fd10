"""A `reclaim` process ends without the interpreter's teardown (generator.process_exit), and
loses nothing by it: every byte of stdout, every file a command writes, every exit status,
every atexit handler; a thread still running is waited for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml

from generator.errors import ExitCode
from generator.process_exit import FLUSH_FAILED
from generator.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
VOLUMES = 150  # the findings JSON is then larger than a pipe's buffer (64 KiB)


def _run(
    argv: list[str], *, stdout: int = subprocess.PIPE, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``argv`` under this Python, this checkout importable, stdout buffered as a default
    Python buffers it (a CI runner may set PYTHONUNBUFFERED): what a process writes last is
    still in its buffer when it ends."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environ.pop("PYTHONUNBUFFERED", None)
    return subprocess.run(
        [sys.executable, *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        cwd=cwd,
        env=environ,
    )


def run_python(
    code: str, stdout: int = subprocess.PIPE, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -c code``."""
    return _run(["-c", textwrap.dedent(code)], stdout=stdout, cwd=cwd)


def _reclaim(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "generator", *args], cwd=cwd, **env)


@pytest.mark.usefixtures("moto_server")
def test_a_scan_s_stdout_findings_file_and_state_are_whole(moto_server: str, tmp_path: Path):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_server)
    for _ in range(VOLUMES):
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)
    rules: dict[str, object] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    (tmp_path / "reclaim.yml").write_text(
        yaml.safe_dump({"regions": ["us-east-1"], "rules": rules})
    )
    now = datetime.now(UTC)
    first = _reclaim("scan", "--as-of", now.isoformat(), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    later = (now + timedelta(days=30)).isoformat()
    output = tmp_path / "findings.json"
    summary = tmp_path / "step-summary.md"
    result = _reclaim(
        "scan",
        "--as-of",
        later,
        "--format",
        "json",
        "--output",
        str(output),
        cwd=tmp_path,
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) > 64 * 1024
    printed = json.loads(result.stdout)
    written = json.loads(output.read_text())
    assert len(printed["findings"]) == len(written["findings"]) == VOLUMES
    assert f"{VOLUMES} finding" in summary.read_text()
    state = tmp_path / ".reclaim" / "state.json"
    assert len(json.loads(state.read_text())["first_seen"]["ebs-unattached"]) == VOLUMES


def test_a_failed_command_s_status_and_message_reach_the_caller(tmp_path: Path):
    missing = _reclaim("scan", "--config", str(tmp_path / "nope.yml"), cwd=tmp_path)
    assert missing.returncode == ExitCode.CONFIG
    assert "does not exist" in missing.stderr and "hint:" in missing.stderr
    usage = _reclaim("no-such-command", cwd=tmp_path)
    assert usage.returncode == 2 and "No such command" in usage.stderr


def test_atexit_handlers_run_before_the_process_ends(tmp_path: Path):
    marker = tmp_path / "ran"
    result = run_python(f"""
        import atexit
        from pathlib import Path
        from generator.process_exit import finish
        atexit.register(lambda: Path({str(marker)!r}).write_text("ran"))
        finish(0)
    """)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "ran"


def test_a_thread_still_running_is_waited_for(tmp_path: Path):
    marker = tmp_path / "done"
    result = run_python(f"""
        import threading, time
        from pathlib import Path
        from generator.process_exit import finish
        def work():
            time.sleep(0.3)
            Path({str(marker)!r}).write_text("done")
        threading.Thread(target=work).start()
        finish(4)
    """)
    assert result.returncode == 4
    assert marker.read_text() == "done"


def test_a_message_as_the_exit_code_is_printed_and_is_status_1():
    result = run_python("""
        from generator.process_exit import finish
        finish("cannot go on")
    """)
    assert result.returncode == 1 and result.stderr.strip() == "cannot go on"


def test_output_buffered_at_the_end_is_flushed():
    result = run_python("""
        import sys
        from generator.process_exit import finish
        sys.stdout.write("x" * 100_000)
        sys.stderr.write("last words")
        finish(0)
    """)
    assert result.returncode == 0
    assert len(result.stdout) == 100_000 and result.stderr == "last words"


def test_stdout_closed_by_the_reader_is_the_status_python_itself_gives():
    """`reclaim scan --format json | head -c1`: the rest cannot be written."""
    code = """
        import sys
        sys.stdout.write("x" * 100)  # buffered: written only at exit, to a closed pipe
        {end}
    """

    def status(end: str) -> int:
        read, write = os.pipe()
        os.close(read)
        try:
            return run_python(code.format(end=end), stdout=write).returncode
        finally:
            os.close(write)

    # FLUSH_FAILED is the status Python's own exit gives; a failed command keeps its own.
    assert status("") == FLUSH_FAILED
    assert status("from generator.process_exit import finish; finish(0)") == FLUSH_FAILED
    assert status("from generator.process_exit import finish; finish(3)") == 3


def test_the_teardown_is_skipped(tmp_path: Path):
    """What is skipped: finalizers of objects still alive at exit. Which is why nothing
    reclaim writes may wait for one (generator.process_exit)."""
    marker = tmp_path / "finalized"
    result = run_python(f"""
        from pathlib import Path
        from generator.process_exit import finish
        class Alive:
            def __del__(self):
                Path({str(marker)!r}).write_text("finalized")
        kept = Alive()
        finish(0)
    """)
    assert result.returncode == 0
    assert not marker.exists()
