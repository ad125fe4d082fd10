"""A GitHub stand-in per test, and forges connected to it that never really sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from github import Auth

from generator.forge.github import GitHubForge, GitHubSettings, connect
from generator.forge.throttle import WritePacer
from tests.github.helpers import FakeTime
from tests.github_standin.server import GitHubStandIn

ForgeFactory = Callable[..., GitHubForge]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def standin(tmp_path: Path, fake_time: FakeTime) -> Iterator[GitHubStandIn]:
    server = GitHubStandIn(tmp_path, clock=fake_time.clock).start()
    try:
        yield server
    finally:
        server.stop()
    if server.violations:
        pytest.fail(
            "exchanges that break GitHub's API description:\n" + "\n".join(server.violations)
        )


@pytest.fixture
def make_forge(standin: GitHubStandIn, fake_time: FakeTime) -> ForgeFactory:
    def factory(auth: Auth.Auth | None = None, **settings: Any) -> GitHubForge:
        values: dict[str, Any] = {"repository": "acme/infra", "api_url": standin.api_url}
        values.update(settings)
        return connect(
            GitHubSettings(**values),
            auth or Auth.Token("test-token"),
            sleeper=fake_time.sleep,
            pacer=WritePacer(clock=fake_time.clock, sleeper=fake_time.sleep),
        )

    return factory
