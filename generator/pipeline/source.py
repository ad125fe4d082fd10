"""Where the generated workflows get reclaim from: this repository as a GitHub Action
(``action.yml`` at its root), named by full commit SHA, never a package name on an index.

A name on an index can be registered by anyone and a tag can be moved; a commit cannot. The
action installs reclaim from its own checkout of that commit and every dependency from
``requirements/pipeline.lock`` with ``--require-hashes``.

`reclaim init` chooses the commit the running reclaim was installed from: pip's record of a
VCS install (PEP 610 ``direct_url.json``, e.g. ``pip install git+https://github.com/O/R@SHA``),
else the git checkout the code runs from (``pip install -e .``). ``--action OWNER/REPO@SHA``
names another (a fork, a newer commit), and is remembered like every init option.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from generator.errors import ConfigError

UPSTREAM = "reclaim-dev/reclaim"
"""The repository whose root action.yml installs reclaim, when nothing says otherwise."""

ACTION_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}$"
_GITHUB_URL = re.compile(
    r"^(?:git\+)?(?:https://|ssh://git@|git@)github\.com[/:]"
    r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)
_SHA = re.compile(r"^[0-9a-f]{40}$")
ACTION_HINT = (
    "pass --action OWNER/REPO@SHA: a repository holding reclaim's action.yml at its root (this "
    f"project, {UPSTREAM}, or your fork) and the full 40-character commit to install"
)


@dataclass(frozen=True)
class Detected:
    action: str
    how: str
    """How it was found, for init's report."""
    dirty: bool = False
    """The checkout has uncommitted changes, which that commit does not contain."""


def github_repository(url: str) -> str | None:
    """``owner/name`` of a GitHub remote or VCS URL, else None."""
    match = _GITHUB_URL.match(url.strip())
    return match.group("repo") if match else None


def _from_direct_url() -> Detected | None:
    try:
        text = metadata.distribution("reclaim").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    vcs = record.get("vcs_info") or {}
    commit = str(vcs.get("commit_id", ""))
    repository = github_repository(str(record.get("url", "")))
    if vcs.get("vcs") == "git" and _SHA.match(commit) and repository:
        return Detected(f"{repository}@{commit}", "the commit pip installed reclaim from")
    return None


def _git(checkout: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _from_checkout(checkout: Path) -> Detected | None:
    if not (checkout / "action.yml").is_file():
        return None
    commit = _git(checkout, "rev-parse", "HEAD")
    if not commit or not _SHA.match(commit):
        return None
    remote = _git(checkout, "remote", "get-url", "origin") or ""
    repository = github_repository(remote) or UPSTREAM
    dirty = bool(_git(checkout, "status", "--porcelain", "--untracked-files=no"))
    return Detected(f"{repository}@{commit}", "the git checkout reclaim runs from", dirty)


def detect(checkout: Path | None = None) -> Detected | None:
    """The action reference of the running reclaim, or None when it cannot be known."""
    found = _from_direct_url()
    if found is not None:
        return found
    return _from_checkout(checkout or Path(__file__).resolve().parents[2])


def default_action() -> str:
    found = detect()
    if found is None:
        raise ConfigError("cannot tell which commit of reclaim to install", hint=ACTION_HINT)
    return found.action
