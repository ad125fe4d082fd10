"""The README's "Try it" as a newcomer meets it: two commands, the first run verbatim in a
fresh virtualenv from a copy of the repository, the second the very command CI runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def try_it_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def ci_test_command() -> str:
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = lines.index("# The README's second command, verbatim:")
    return lines[marker + 1].strip()


def test_try_it_is_two_commands_and_the_first_makes_a_virtualenv() -> None:
    first, second = try_it_commands()  # exactly two
    assert "\n" not in first and "\n" not in second
    steps = [step.strip() for step in first.split("&&")]
    assert steps[0].startswith("python3 -m venv ")
    assert steps[1].startswith(". ") and steps[1].endswith("/bin/activate")
    assert steps[-1] == "reclaim demo"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    _, second = try_it_commands()
    assert second == ci_test_command()
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv .venv" in run and ". .venv/bin/activate" in run


def _copy_of_the_repository(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _without_this_virtualenv() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    here = Path(sys.prefix)
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if not entry.startswith(str(here))
    )
    return env


@pytest.mark.slow
def test_the_first_command_runs_verbatim_in_a_fresh_clone(tmp_path: Path) -> None:
    first, _ = try_it_commands()
    clone = _copy_of_the_repository(tmp_path / "reclaim")
    result = subprocess.run(
        ["bash", "-c", first],
        cwd=clone,
        env=_without_this_virtualenv(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"findings\s+│ \d+ \(\$[\d,.]+/month, \$[\d,.]+/year\)", out), out[-3000:]
    assert re.search(r"applied\s+│ deleted vol-\w+ after backup", out)
    assert re.search(r"restored\s+│ vol-\w+ from snap-\w+: identical", out)
    assert "left alone: " in out
    assert (clone / ".venv" / "bin" / "reclaim").exists()
    assert (clone / "reclaim-demo" / ".git").exists()
