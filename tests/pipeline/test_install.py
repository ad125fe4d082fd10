"""The generated workflows' "Install reclaim" step, run for real: this checkout's action.yml
(what `uses: OWNER/REPO@SHA` fetches) into a fresh virtualenv, every dependency from the
hash-locked requirements/pipeline.lock. Needs the package index (PyPI, or
RECLAIM_TEST_INDEX_URL), and nothing else from the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.pipeline.harness import REPO_ROOT, run_reclaim_action

LOCK = REPO_ROOT / "requirements" / "pipeline.lock"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    text = LOCK.read_text()
    # one block per requirement: its line, then its hashes
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text[text.index("\n", text.index("lock.sh")) + 1 :])
    pinned = {}
    for block in blocks:
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;]+)", block)
        assert match, block[:80]
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block[:80]
        pinned[match.group(1).lower()] = match.group(2)
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for requirement in [*declared["dependencies"], "hatchling"]:
        assert _name(requirement) in pinned, requirement
    assert len(pinned) > 20


def test_the_install_step_installs_this_checkout_into_a_fresh_virtualenv(tmp_path: Path) -> None:
    installed = run_reclaim_action({}, name="Install reclaim")
    assert installed.step.returncode == 0, installed.step.stderr[-3000:]
    (bin_dir,) = installed.path_entries
    reclaim = Path(bin_dir) / "reclaim"
    assert reclaim.is_file()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([bin_dir, "/usr/bin", "/bin"])
    where = subprocess.run(
        [str(Path(bin_dir) / "python"), "-c", "import generator, boto3; print(generator.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    # the installed copy in the virtualenv, not the checkout's source
    assert where.startswith(str(Path(bin_dir).parent)) and "site-packages" in where
    version = subprocess.run(
        [str(reclaim), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert "reclaim" in version.stdout
    # the templates came along (init and propose render them from the package)
    templates = Path(where).parent / "templates" / "pipeline" / "workflows"
    assert (templates / "reclaim-apply.yml.j2").is_file()
    assert installed.step.outputs.get("version")


def _copy_checkout(target: Path) -> Path:
    target.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, target / name)
    for folder in ("generator", "templates", "requirements"):
        shutil.copytree(
            REPO_ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return target


def test_a_lock_whose_hash_does_not_match_installs_nothing(tmp_path: Path) -> None:
    """--require-hashes holds: one changed digest (what a swapped file on the index would
    produce) fails the step before reclaim or anything else is installed."""
    checkout = _copy_checkout(tmp_path / "fork")
    lock = checkout / "requirements" / "pipeline.lock"
    text = lock.read_text()
    match = re.search(r"^jmespath==\S+ \\\n\s+--hash=sha256:([0-9a-f]{64})", text, re.M)
    assert match
    digests = re.findall(r"--hash=sha256:([0-9a-f]{64})", text[match.start() : match.start() + 600])
    tampered = text
    for digest in digests[:2]:  # every file of that version
        tampered = tampered.replace(digest, "0" * 64)
    lock.write_text(tampered)
    installed = run_reclaim_action({}, name="Install reclaim", root=checkout, cache=False)
    assert installed.step.returncode != 0
    assert "DO NOT MATCH THE HASHES" in installed.step.stderr
    venv = Path(installed.home) / "reclaim-venv"
    assert not (venv / "bin" / "reclaim").exists()
    assert not list(venv.glob("lib/python*/site-packages/boto3"))


def test_a_lock_line_without_hashes_is_refused(tmp_path: Path) -> None:
    checkout = _copy_checkout(tmp_path / "fork")
    lock = checkout / "requirements" / "pipeline.lock"
    lock.write_text(lock.read_text() + "colorama\n")  # an unpinned name anyone could publish
    installed = run_reclaim_action({}, name="Install reclaim", root=checkout, cache=False)
    assert installed.step.returncode != 0
    assert "hash" in installed.step.stderr.lower()
    assert not (Path(installed.home) / "reclaim-venv" / "bin" / "reclaim").exists()


@pytest.mark.parametrize("index", ["http://127.0.0.1:9/simple"])
def test_the_index_url_input_is_where_the_locked_files_come_from(
    tmp_path: Path, index: str
) -> None:
    """A private index or mirror is used as given (here one that does not answer: the step
    fails instead of falling back to PyPI)."""
    checkout = _copy_checkout(tmp_path / "fork")
    installed = run_reclaim_action(
        {"index-url": index}, name="Install reclaim", root=checkout, cache=False
    )
    assert installed.step.returncode != 0
    assert "127.0.0.1" in installed.step.stderr or "127.0.0.1" in installed.step.stdout


def test_zizmor_finds_nothing_in_the_action() -> None:
    from tests.pipeline.tools import run, tool

    zizmor = tool("zizmor")
    result = run([*zizmor, "--offline", "--persona", "pedantic", "action.yml"], REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_check_jsonschema_accepts_the_action() -> None:
    from tests.pipeline.tools import run, tool

    checker = tool("check-jsonschema")
    result = run([*checker, "--builtin-schema", "vendor.github-actions", "action.yml"], REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_job_without_the_install_step_finds_no_reclaim(tmp_path: Path) -> None:
    """The harness does not lend the test's reclaim to a job: without the step, the first
    `reclaim` fails as it would on a fresh runner."""
    from tests.pipeline.harness import run_job

    workflow = {
        "on": {"push": {}},
        "jobs": {
            "bare": {
                "steps": [
                    {"name": "Set up Python", "uses": "actions/setup-python@" + "0" * 40},
                    {"name": "Use reclaim", "run": "reclaim --version"},
                ]
            }
        },
    }
    work = tmp_path / "work"
    work.mkdir()
    event = tmp_path / "event.json"
    event.write_text("{}")
    github = {
        "event_name": "push",
        "repository": "acme/cost",
        "actor": "alice",
        "run_id": "1",
        "sha": "0" * 40,
        "ref": "refs/heads/main",
    }
    run = run_job(
        workflow,
        "bare",
        workdir=work,
        event_path=event,
        github=github,
        secrets={},
        aws_env={},
        extra_env={},
    )
    step = run.step("Use reclaim")
    assert step.returncode == 127 and "reclaim: command not found" in step.stderr


def test_every_locked_file_exists_as_a_wheel_for_the_workflows_python(tmp_path: Path) -> None:
    """The runner is ubuntu-24.04 (x86_64) with the Python init writes (3.12): each locked
    package has a wheel there whose hash is in the lock (pip download checks it)."""
    import sys

    from generator.pipeline.spec import PipelineOptions

    python = PipelineOptions.model_fields["python_version"].default
    index = os.environ.get("RECLAIM_TEST_INDEX_URL", "https://pypi.org/simple")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--isolated",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
            "--no-deps",
            "--require-hashes",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "--index-url",
            index,
            "-r",
            str(LOCK),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(tmp_path.glob("*.whl"))) == LOCK.read_text().count("==")
