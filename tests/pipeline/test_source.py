"""Which commit of reclaim `reclaim init` names in the workflows, and when it refuses to guess."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import generator.pipeline.source as source
from generator.errors import ConfigError
from generator.pipeline.cli_support import build_options


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/reclaim-dev/reclaim", "reclaim-dev/reclaim"),
        ("https://github.com/reclaim-dev/reclaim.git", "reclaim-dev/reclaim"),
        ("git+https://github.com/acme/reclaim-fork.git", "acme/reclaim-fork"),
        ("git@github.com:acme/reclaim.git", "acme/reclaim"),
        ("ssh://git@github.com/acme/reclaim", "acme/reclaim"),
        ("https://gitlab.com/acme/reclaim", None),
        ("https://github.com.evil.example/acme/reclaim", None),
        ("file:///src/reclaim", None),
    ],
)
def test_github_repositories_are_read_from_remote_urls(url: str, repository: str | None) -> None:
    assert source.github_repository(url) == repository


class _Dist:
    def __init__(self, record: dict[str, Any] | None) -> None:
        self.record = record

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.record is None else json.dumps(self.record)


def test_a_vcs_install_names_its_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    sha = "b" * 40
    record = {
        "url": "https://github.com/acme/reclaim-fork.git",
        "vcs_info": {"vcs": "git", "commit_id": sha},
    }
    monkeypatch.setattr(source.metadata, "distribution", lambda name: _Dist(record))
    found = source.detect(Path("/nonexistent"))
    assert found is not None and found.action == f"acme/reclaim-fork@{sha}"


def test_a_checkout_names_its_head_and_says_when_it_is_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source.metadata, "distribution", lambda name: _Dist(None))
    repo = tmp_path / "reclaim"
    repo.mkdir()
    (repo / "action.yml").write_text("name: reclaim\n")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", "git@github.com:acme/reclaim.git")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    found = source.detect(repo)
    assert found is not None and found.action == f"acme/reclaim@{git('rev-parse', 'HEAD')}"
    assert not found.dirty
    (repo / "action.yml").write_text("name: changed\n")
    found = source.detect(repo)
    assert found is not None and found.dirty


def test_no_provenance_is_a_clear_error_not_a_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel from an index records no commit: init asks for --action instead of naming a
    package anyone could register."""
    monkeypatch.setattr(source, "detect", lambda checkout=None: None)
    monkeypatch.setattr("generator.pipeline.cli_support.detect", lambda: None)
    with pytest.raises(ConfigError, match="which commit of reclaim") as refused:
        build_options(tmp_path, {"repository": "acme/cost", "service_account_id": "111111111111"})
    assert "--action OWNER/REPO@SHA" in str(refused.value.hint)
    options = build_options(
        tmp_path,
        {
            "repository": "acme/cost",
            "service_account_id": "111111111111",
            "action": "acme/reclaim@" + "c" * 40,
        },
    )
    assert options.action == "acme/reclaim@" + "c" * 40
