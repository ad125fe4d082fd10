"""Shared plumbing for the benchmarks: child servers, timing, the Custodian virtualenv.

Everything listens on 127.0.0.1 and every child process is stopped by the parent that
started it (by closing its stdin, then by its own pid if it lingers).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from benchmarks.latency_proxy import COUNT_PATH, FIRST_REQUEST_PATH

ROOT = Path(__file__).resolve().parents[1]
CUSTODIAN_PACKAGES = ("c7n", "c7n-org")


@dataclass
class Child:
    """A helper process that printed its port on its first line."""

    process: subprocess.Popen[str]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=10)


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@contextmanager
def child(module: str, *args: str) -> Iterator[Child]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # moto's request log
        text=True,
        cwd=ROOT,
        env=python_env(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"{module} did not start (said {line!r})")
    started = Child(process, int(line))
    try:
        yield started
    finally:
        started.stop()


@contextmanager
def moto_server(*flags: str) -> Iterator[str]:
    """moto in its own process; its Recycle Bin answers as an account without rules does
    (moto has none: benchmarks.moto_process --empty-recycle-bin)."""
    with child("benchmarks.moto_process", "--empty-recycle-bin", *flags) as server:
        yield f"http://127.0.0.1:{server.port}"


@contextmanager
def latency_proxy(upstream: str, delay_seconds: float, throttle: bool = False) -> Iterator[str]:
    """The proxy in a process of its own; ``throttle``: AWS's token buckets too."""
    port = upstream.rsplit(":", 1)[1]
    flags = ["--throttle"] if throttle else []
    with child("benchmarks.latency_proxy", port, str(delay_seconds), *flags) as proxy:
        yield f"http://127.0.0.1:{proxy.port}"


def proxy_counts(endpoint: str) -> dict[str, int]:
    """Requests forwarded so far, by signing service (ec2, sts, monitoring, ...)."""
    with urllib.request.urlopen(endpoint + COUNT_PATH, timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
    return counts


def proxy_first_request(endpoint: str) -> float | None:
    """When the first request since the previous ask reached the proxy (time.time()), or
    None if none did; the proxy then forgets it."""
    with urllib.request.urlopen(endpoint + FIRST_REQUEST_PATH, timeout=10) as response:
        first: float | None = json.loads(response.read())["first_request_at"]
    return first


def run_to_first_request(
    command: Sequence[str], env: dict[str, str], cwd: Path, proxy: str
) -> float:
    """Seconds from starting ``command`` to its first request through ``proxy`` (the
    process then runs to its end, and must succeed)."""
    proxy_first_request(proxy)  # forget any earlier request
    started = time.time()
    run_timed(command, env, cwd)
    first = proxy_first_request(proxy)
    if first is None:
        raise RuntimeError(f"{' '.join(command)} sent no request through the proxy")
    return first - started


def proxy_requests(endpoint: str) -> int:
    return sum(proxy_counts(endpoint).values())


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    return python_env(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="benchmark",
        AWS_SECRET_ACCESS_KEY="benchmark",
        AWS_DEFAULT_REGION="us-east-1",
        CI="true",
        **extra,
    )


def client(endpoint: str, service: str, region: str = "us-east-1", **credentials: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=credentials.get("key", "benchmark"),
        aws_secret_access_key=credentials.get("secret", "benchmark"),
        aws_session_token=credentials.get("token"),
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint)


def client_in_account(endpoint: str, account: str, service: str, region: str) -> Any:
    """moto routes an assumed role's keys to the role's account."""
    sts = client(endpoint, "sts", region)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed")[
        "Credentials"
    ]
    return client(
        endpoint,
        service,
        region,
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )


def run_timed(command: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        list(command), env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-2000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return elapsed


@dataclass
class Samples:
    name: str
    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def spread(self) -> str:
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f}"


def custodian_bin(venv: Path) -> Path:
    """The Custodian virtualenv's bin directory, created (from PyPI) on first use."""
    bin_dir = venv / "bin"
    if not (bin_dir / "custodian").exists() or not (bin_dir / "c7n-org").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(bin_dir / "pip"), "install", "--quiet", *CUSTODIAN_PACKAGES], check=True
        )
    return bin_dir


def custodian_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "pip"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}
    return ", ".join(f"{name} {versions.get(name, '?')}" for name in ("c7n", "c7n-org"))


def count_custodian_resources(output_dir: Path) -> int:
    return sum(len(json.loads(p.read_text())) for p in output_dir.rglob("resources.json"))


def count_reclaim_findings(path: Path) -> int:
    return len(json.loads(path.read_text())["findings"])
