"""Runs reclaim's commands on generated inputs and records what they tried to do outside.

Every AWS call (botocore's one entry point for operations) and every HTTP request to GitHub
(requests' transport, which PyGithub uses) is recorded and refused: the first as missing
credentials, the second as a connection error. So a command that got past its input checks
shows it in the record, and nothing reaches AWS or GitHub whatever the input made it try.
"""

from __future__ import annotations

import json
import os
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.client
import requests
import requests.adapters
from botocore.exceptions import NoCredentialsError
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ExitCode

DOCUMENTED = frozenset(int(code) for code in ExitCode)

# What a command may ask before it acts: who am I, and the hops of the role chain.
READ_ONLY_AWS = frozenset({"sts:GetCallerIdentity", "sts:AssumeRole"})


@dataclass
class Outcome:
    exit_code: int
    output: str
    aws_calls: list[str] = field(default_factory=list)
    github_requests: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Tally:
    """Per target: how many inputs ran and how each ended (by exit code). Tracebacks are not
    counted here: the first one fails its test with the input that caused it."""

    examples: Counter[str] = field(default_factory=Counter)
    exit_codes: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, target: str, outcome: Outcome) -> None:
        self.examples[target] += 1
        self.exit_codes[target][outcome.exit_code] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "total": sum(self.examples.values()),
            "targets": {
                name: {
                    "examples": count,
                    "exit_codes": dict(sorted(self.exit_codes[name].items())),
                }
                for name, count in sorted(self.examples.items())
            },
        }


TALLY = Tally()


def write_tally(path: str) -> None:
    """Add this process's tally to the file: under pytest-xdist every worker adds its own
    (the controller empties the file when the session starts, see conftest)."""
    import fcntl

    target = Path(path)
    with target.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        before = handle.read().strip()
        total = Tally()
        if before:
            for name, counts in json.loads(before)["targets"].items():
                total.examples[name] += counts["examples"]
                for code, count in counts["exit_codes"].items():
                    total.exit_codes[name][int(code)] += count
        for name, count in TALLY.examples.items():
            total.examples[name] += count
            total.exit_codes[name].update(TALLY.exit_codes[name])
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(total.as_json(), indent=2) + "\n")


@contextmanager
def _refusing_the_outside(outcome: Outcome) -> Iterator[None]:
    def aws(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
        outcome.aws_calls.append(f"{client.meta.service_model.service_name}:{operation}")
        raise NoCredentialsError()

    def http(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        outcome.github_requests.append((request.method, request.url))
        raise requests.ConnectionError("the fuzz harness allows no network")

    with (
        mock.patch.object(botocore.client.BaseClient, "_make_api_call", aws),
        mock.patch.object(requests.adapters.HTTPAdapter, "send", http),
    ):
        yield


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run(
    target: str, args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> Outcome:
    """``reclaim ARGS`` in ``cwd``; fails the calling test on a traceback or an exit code
    `reclaim --help` does not document, and on any AWS or GitHub write (reads are
    recorded and refused)."""
    outcome = Outcome(exit_code=-1, output="")
    environment = {"RECLAIM_LOCK_DIR": str(cwd / ".locks"), "AWS_DEFAULT_REGION": "us-east-1"}
    environment.update(env or {})
    with working_directory(cwd), _refusing_the_outside(outcome):
        result = CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)
    outcome.exit_code = result.exit_code
    outcome.output = result.output
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        raise AssertionError(f"reclaim {' '.join(args)} raised instead of exiting:\n{trace}")
    assert outcome.exit_code in DOCUMENTED, (outcome.exit_code, outcome.output[-2000:])
    writes = [call for call in outcome.aws_calls if call not in READ_ONLY_AWS]
    assert not writes, f"reclaim {' '.join(args)} called AWS beyond who-am-I: {writes}"
    github_writes = [r for r in outcome.github_requests if r[0] not in ("GET", "HEAD")]
    assert not github_writes, f"reclaim {' '.join(args)} wrote to GitHub: {github_writes}"
    TALLY.add(target, outcome)
    return outcome
