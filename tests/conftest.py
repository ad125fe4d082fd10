"""Shared fixtures: an isolated in-process AWS (moto), volumes, and a call recorder."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from generator.aws.session import AccountSession
from generator.config import ReclaimConfig, parse_config
from generator.executor.runner import Executor
from tests import trusted

REGION = "us-east-1"
ACCOUNT = "123456789012"

_AWS_ENV_TO_HIDE = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real account, whatever the developer's shell holds."""
    for key in _AWS_ENV_TO_HIDE:
        monkeypatch.delenv(key, raising=False)
    # Run under GitHub Actions, every scan a test runs would append to the real job summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for key, value in {
        "GIT_AUTHOR_NAME": "reclaim tests",
        "GIT_AUTHOR_EMAIL": "tests@reclaim.invalid",
        "GIT_COMMITTER_NAME": "reclaim tests",
        "GIT_COMMITTER_EMAIL": "tests@reclaim.invalid",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ec2(aws: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


def make_volume(
    ec2: Any, *, zone: str = "us-east-1a", tags: dict[str, str] | None = None, **spec: Any
) -> str:
    spec.setdefault("Size", 100)
    spec.setdefault("VolumeType", "gp2")
    if tags:
        spec["TagSpecifications"] = [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return str(ec2.create_volume(AvailabilityZone=zone, **spec)["VolumeId"])


def config_for(tmp_path: Path, **overrides: Any) -> ReclaimConfig:
    """A config running ebs-unattached alone (without CloudTrail); other rules are off so
    that a test about one rule is not disturbed by the rest of the catalog."""
    from generator.rules import RULES

    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    data: dict[str, Any] = {"regions": [REGION], "rules": rules}
    data.update(overrides)
    return parse_config(data, source="test config", base_dir=tmp_path)


def later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


@dataclass
class CallLog:
    """Every AWS operation made through a recording session, in order."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def count(self, operation: str, **params: Any) -> int:
        return sum(
            1
            for name, sent in self.calls
            if name == operation and all(sent.get(k) == v for k, v in params.items())
        )


class RecordingSession(AccountSession):
    def __init__(self, log: CallLog, crash_after: str | None = None) -> None:
        super().__init__(label="test session")
        self.log = log
        self.crash_after = crash_after

    def client(self, service: str, region: str) -> Any:
        client = super().client(service, region)
        if not getattr(client, "_reclaim_recorded", False):
            client.meta.events.register("provide-client-params", self._record)
            client.meta.events.register("after-call", self._maybe_crash)
            client._reclaim_recorded = True
        return client

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.log.calls.append((model.name, dict(params)))

    def _maybe_crash(self, model: Any, http_response: Any, **_: Any) -> None:
        if self.crash_after == model.name and http_response.status_code < 300:
            self.crash_after = None
            raise SimulatedCrash(f"process died right after {model.name}")


class SimulatedCrash(BaseException):
    """Like a killed runner: nothing in reclaim may catch it."""


def executor_for(session: AccountSession) -> Executor:
    return Executor(
        client_for=session.client,
        account_id=session.account_id,
        observer=trusted.observer(),
        clock=trusted.clock(),
        actor="tester",
    )


@pytest.fixture(autouse=True)
def _forget_trusted_scan() -> Iterator[None]:
    trusted.forget()
    yield
    trusted.forget()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends live in this process: without a reset a test sees earlier tests' AWS.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


# End-to-end modules: whole workflow runs, Terraform against moto, a fresh install. They are
# most of the suite's time; `python -m pytest -n auto -m "not slow"` leaves them out.
SLOW_MODULES = frozenset(
    {
        "tests/pipeline/test_scan_workflow_runs.py",
        "tests/pipeline/test_terraform_apply.py",
        "tests/pipeline/test_workflow_runs.py",
        "tests/pipeline/test_iac_cycle.py",
        "tests/pipeline/test_pr_attacks.py",
        "tests/test_newcomer.py",
        "tests/iac/test_terraform_moto.py",
        "tests/iac/test_apply_merged_moto.py",
    }
)
SLOW_TESTS = frozenset({"test_demo_command_runs_as_a_newcomer_would"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parents[1]
    for item in items:
        module = item.path.resolve().relative_to(root).as_posix()
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS:  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.slow)
