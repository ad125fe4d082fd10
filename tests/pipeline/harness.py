"""Runs the `run:` steps of a generated workflow job the way a GitHub runner would.

Each step runs in bash with ``-eo pipefail``, the environment GitHub builds (workflow, job
and step ``env:``, evaluated; GITHUB_* variables; a fresh GITHUB_OUTPUT per step) and the
job's working directory. ``uses:`` steps are stood in for: checkout is the test's clone of
the default branch, configure-aws-credentials puts the test's AWS credentials in the
environment, setup-python does nothing (the test's Python is on PATH), setup-terraform puts
the terraform installed here first on PATH, its providers from the local mirror (or the test
skips, see tests/needs.py), and the artifact actions copy files through the run's store. reclaim's own action (``uses: OWNER/REPO@SHA``
of the "Install reclaim" step) is mapped onto this checkout and its composite steps really
run: a fresh virtualenv, the hash-locked dependencies from the package index, reclaim built
from the checkout; its bin/ goes on PATH through GITHUB_PATH as on a runner. The install is
done once per test session and reused by later jobs (``RECLAIM_TEST_INDEX_URL`` names
another index). A job can be given the runner's clock (a ``date`` on PATH that answers for that
instant). Expressions are evaluated by a small evaluator covering what the generated
workflows use; anything else fails loudly.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


_LOCAL_ACTION = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}$")


class Unsupported(AssertionError):
    pass


@dataclass
class Installed:
    path_entries: list[str]
    """What the action appended to GITHUB_PATH."""
    step: StepRun
    home: str
    """The RUNNER_TEMP it ran with (its virtualenv is there)."""


_INSTALLS: dict[str, Installed] = {}
"""One real install of reclaim's action per set of inputs, per test session."""


def _action_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "AWS_", "PIP_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }


def run_reclaim_action(
    given: dict[str, Any],
    *,
    name: str,
    contexts: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    root: Path = REPO_ROOT,
    cache: bool = True,
) -> Installed:
    """Run the composite steps of ``root``/action.yml, as `uses:` of it would, with
    ``github.action_path`` = ``root``. Cached per inputs unless ``cache`` is false."""
    contexts = contexts or {"github": {}}
    action = yaml.safe_load((root / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    inputs = {key: spec.get("default", "") for key, spec in action.get("inputs", {}).items()}
    unknown = set(given) - set(inputs)
    assert not unknown, f"{name}: inputs the action does not declare: {sorted(unknown)}"
    inputs.update({key: interpolate(value, contexts) for key, value in given.items()})
    if os.environ.get("RECLAIM_TEST_INDEX_URL") and "index-url" not in given:
        inputs["index-url"] = os.environ["RECLAIM_TEST_INDEX_URL"]
    key = repr((str(root), sorted(inputs.items())))
    if cache and key in _INSTALLS:
        return _INSTALLS[key]
    home = Path(tempfile.mkdtemp(prefix="reclaim-action-"))
    atexit.register(shutil.rmtree, home, True)
    path_file = home / "github-path"
    path_file.write_text("")
    action_contexts = {
        **contexts,
        "github": {**contexts.get("github", {}), "action_path": str(root)},
        "inputs": inputs,
        "runner": {"temp": str(home)},
    }
    python = _setup_python(home)
    base = env if env is not None else _action_env()
    stdout, stderr, returncode = "", "", 0
    for step in action["runs"]["steps"]:
        assert step.get("shell") == "bash" and "run" in step, "only bash run steps"
        assert "${{" not in step["run"], "expression inside the action's run script"
        step_env = {
            **base,
            "PATH": os.pathsep.join([str(python), *_runner_path()]),
            "RUNNER_TEMP": str(home),
            "GITHUB_PATH": str(path_file),
            "GITHUB_OUTPUT": str(home / "output"),
        }
        step_env.pop("PYTHONPATH", None)
        for k, v in (step.get("env") or {}).items():
            step_env[k] = interpolate(v, action_contexts)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=home,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        stdout, stderr, returncode = stdout + done.stdout, stderr + done.stderr, done.returncode
        if returncode:
            break
    outputs = _outputs(home / "output") if (home / "output").exists() else {}
    installed = Installed(
        [line for line in path_file.read_text().splitlines() if line],
        StepRun(name, returncode, stdout, stderr, outputs),
        str(home),
    )
    if cache and returncode == 0:
        _INSTALLS[key] = installed
    return installed


def _lookup(path: str, contexts: dict[str, Any]) -> Any:
    value: Any = contexts
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def evaluate(expression: str, contexts: dict[str, Any]) -> Any:
    expression = expression.strip()
    if "||" in expression:
        for operand in expression.split("||"):
            value = evaluate(operand, contexts)
            if value:
                return value
        return value
    if "&&" in expression:
        value = True
        for operand in expression.split("&&"):
            value = evaluate(operand, contexts)
            if not value:
                return value
        return value
    if "==" in expression:
        left, right = expression.split("==", 1)
        return evaluate(left, contexts) == evaluate(right, contexts)
    if expression == "!cancelled()":
        return True
    match = re.fullmatch(r"startsWith\((.*),\s*'(.*)'\)", expression)
    if match:
        value = evaluate(match.group(1), contexts)
        return isinstance(value, str) and value.lower().startswith(match.group(2).lower())
    if re.fullmatch(r"'[^']*'", expression):
        return expression[1:-1]
    if re.fullmatch(r"[A-Za-z_][\w.-]*", expression):
        return _lookup(expression, contexts)
    raise Unsupported(f"the harness cannot evaluate {expression!r}")


def interpolate(text: Any, contexts: dict[str, Any]) -> str:
    if not isinstance(text, str):
        return str(text).lower() if isinstance(text, bool) else str(text)

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), contexts)
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    return _EXPRESSION.sub(one, text)


def condition(text: Any, contexts: dict[str, Any]) -> bool:
    if text is None:
        return True
    inner = _EXPRESSION.fullmatch(str(text).strip())
    return bool(evaluate(inner.group(1) if inner else str(text), contexts))


def load_workflow(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True)
    return data


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class JobRun:
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    skipped_because: str | None = None
    summary: str = ""
    """What the job's steps appended to $GITHUB_STEP_SUMMARY."""

    def step(self, name: str) -> StepRun:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r}; ran {[s.name for s in self.steps]}")

    @property
    def failed(self) -> bool:
        return any(step.returncode != 0 for step in self.steps)


def _runner_path() -> list[str]:
    """PATH without any directory holding a `reclaim` (the test's own virtualenv, a version
    manager's shims): as on a fresh runner, a job finds `reclaim` only if it installs it."""
    own = str(Path(sys.prefix) / "bin")
    return [
        entry
        for entry in os.environ["PATH"].split(os.pathsep)
        if entry and entry != own and not (Path(entry) / "reclaim").exists()
    ]


def _setup_python(temp: Path) -> Path:
    """setup-python: `python` on PATH is the test's interpreter (its base, not a venv)."""
    tool = temp / "python-tool"
    tool.mkdir(exist_ok=True)
    for name in ("python", "python3"):
        link = tool / name
        if not link.exists():
            link.symlink_to(getattr(sys, "_base_executable", sys.executable))
    return tool


def _setup_terraform(temp: Path) -> Path:
    """setup-terraform: the terraform installed here, first on PATH (or the test skips),
    installing providers only from the local mirror: a runner would download them, this
    machine cannot. The mirror goes in through the wrapper itself, since reclaim runs
    terraform without the job's TF_* variables."""
    from tests.pipeline.tools import terraform_plugin_dir, tool

    real = tool("terraform")[0]
    mirror = terraform_plugin_dir()
    tool_dir = temp / "terraform-tool"
    tool_dir.mkdir(exist_ok=True)
    config = tool_dir / "terraformrc"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    wrapper = tool_dir / "terraform"
    wrapper.write_text(
        f'#!/bin/sh\nTF_CLI_CONFIG_FILE="{config}" CHECKPOINT_DISABLE=1 exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return tool_dir


def _clock(bin_dir: Path, now: datetime) -> None:
    """`date` on PATH answering for ``now``, whatever format it is asked for."""
    real = shutil.which("date")
    assert real, "no date command on PATH"
    shim = bin_dir / "date"
    shim.write_text(f'#!/bin/sh\nexec "{real}" -d "@{int(now.timestamp())}" "$@"\n')
    shim.chmod(0o755)


def _artifact(
    uses: str, given: dict[str, Any], contexts: dict[str, Any], workdir: Path, store: Path | None
) -> str | None:
    """upload-artifact copies files into the run's store; download-artifact copies them out.
    Returns why the step failed, like the action would, or None."""
    if store is None:
        return None
    if "upload-artifact" in uses:
        target = store / interpolate(given["name"], contexts)
        found = list(workdir.glob(interpolate(given["path"], contexts)))
        if not found and given.get("if-no-files-found") == "error":
            return "No files were found with the provided path"
        target.mkdir(parents=True, exist_ok=True)
        for path in found:
            shutil.copy2(path, target / path.name)
        return None
    destination = workdir / interpolate(given.get("path", "."), contexts)
    for artifact in sorted(store.glob(interpolate(given.get("pattern", "*"), contexts))):
        into = destination if given.get("merge-multiple") else destination / artifact.name
        into.mkdir(parents=True, exist_ok=True)
        for path in artifact.iterdir():
            shutil.copy2(path, into / path.name)
    return None


def _outputs(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def run_job(
    workflow: dict[str, Any],
    job_id: str,
    *,
    workdir: Path,
    event_path: Path,
    github: dict[str, Any],
    secrets: dict[str, str],
    aws_env: dict[str, str],
    extra_env: dict[str, str],
    needs: dict[str, Any] | None = None,
    honour_job_if: bool = True,
    matrix: dict[str, Any] | None = None,
    artifacts: Path | None = None,
    now: datetime | None = None,
) -> JobRun:
    """``artifacts``: the run's artifact store, shared by its jobs (upload/download);
    ``now``: the runner's clock, for steps that ask `date`."""
    job = workflow["jobs"][job_id]
    temp = workdir.parent / f"runner-temp-{job_id}"
    temp.mkdir(exist_ok=True)
    bin_dir = temp / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if now is not None:
        _clock(bin_dir, now)
    contexts: dict[str, Any] = {
        "github": github,
        "secrets": secrets,
        "needs": needs or {},
        "runner": {"temp": str(temp)},
        "steps": {},
        "matrix": matrix or {},
        "vars": {},
    }
    result = JobRun()
    summary_file = temp / "summary.md"
    summary_file.unlink(missing_ok=True)  # each job (each matrix job too) starts a new one
    if honour_job_if and not condition(job.get("if"), contexts):
        result.skipped_because = str(job.get("if"))
        return result
    base_env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "AWS_", "PIP_")) and k != "VIRTUAL_ENV"
        },
        "PATH": os.pathsep.join([str(bin_dir), *_runner_path()]),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_ACTOR": github["actor"],
        "GITHUB_RUN_ID": github["run_id"],
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SHA": github["sha"],
        "GITHUB_REF": github["ref"],
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        **extra_env,
    }
    for key, value in {**workflow.get("env", {}), **job.get("env", {})}.items():
        base_env[key] = interpolate(value, contexts)
    failed = False
    for index, step in enumerate(job["steps"]):
        name = step.get("name", f"step {index}")
        uses = step.get("uses", "")
        # Without an `if`, a step runs only while all before it succeeded (success()).
        if (failed and step.get("if") is None) or not condition(step.get("if"), contexts):
            if "id" in step:
                contexts["steps"][step["id"]] = {"outputs": {}, "outcome": "skipped"}
            continue
        if "configure-aws-credentials" in uses:
            base_env.update(aws_env)
            continue
        if "upload-artifact" in uses or "download-artifact" in uses:
            refused = _artifact(uses, step.get("with", {}), contexts, workdir, artifacts)
            if refused:
                result.steps.append(StepRun(name, 1, "", refused, {}))
                failed = True
            continue
        if uses.startswith("actions/checkout@"):
            continue  # the test's clone is the checkout
        if uses.startswith("actions/setup-python@"):
            base_env["PATH"] = os.pathsep.join([str(_setup_python(temp)), base_env["PATH"]])
            continue
        if uses.startswith("hashicorp/setup-terraform@"):
            base_env["PATH"] = os.pathsep.join([str(_setup_terraform(temp)), base_env["PATH"]])
            continue
        if _LOCAL_ACTION.match(uses.split(" ", 1)[0]):
            installed = run_reclaim_action(
                step.get("with") or {}, name=name, contexts=contexts, env=base_env
            )
            result.steps.append(installed.step)
            if installed.step.returncode:
                failed = True
                continue
            # GITHUB_PATH: prepended to PATH for every later step; the installed reclaim,
            # not this checkout's source, is what they run.
            base_env["PATH"] = os.pathsep.join([*installed.path_entries, base_env["PATH"]])
            continue
        if uses:
            raise Unsupported(f"{name}: the harness does not stand in for {uses}")
        output_file = temp / f"output-{index}"
        output_file.write_text("")
        env = dict(base_env)
        env["GITHUB_OUTPUT"] = str(output_file)
        for key, value in (step.get("env") or {}).items():
            env[key] = interpolate(value, contexts)
        script = step["run"]
        assert "${{" not in script, f"{name}: expression inside run"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs = _outputs(output_file)
        result.steps.append(StepRun(name, done.returncode, done.stdout, done.stderr, outputs))
        if "id" in step:
            outcome = "success" if done.returncode == 0 else "failure"
            contexts["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome}
        failed = failed or done.returncode != 0
    for key, value in (job.get("outputs") or {}).items():
        result.outputs[key] = interpolate(value, contexts)
    if summary_file.exists():
        result.summary = summary_file.read_text(encoding="utf-8")
    return result
