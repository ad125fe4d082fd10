"""The git a workflow step needs: which plans a push added, which merged plans have no
journal yet, and committing journals back to a branch other runs also push to."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from generator.errors import ForgeError
from generator.manifest.folder import IAC_FILE, JOURNAL_FILE, PLAN_FILE

ZERO_SHA = "0" * 40
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
PUSH_ATTEMPTS = 5


def git(repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    """git's output. Paths in it may be any bytes a pull request committed: undecodable ones
    come through as surrogates (as os.fsdecode does), never as a UnicodeDecodeError."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            env={**os.environ, **(env or {})},
            check=False,
        )
    except OSError as error:
        raise ForgeError(f"cannot run git in {repo}: {error.strerror}") from None
    if check and result.returncode != 0:
        raise ForgeError(f"git {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def shown(path: str) -> str:
    """A path as it can be printed and stored: git hands over whatever bytes a branch
    committed, and undecodable ones (kept as surrogates) are written as escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _paths(output: str) -> list[str]:
    """The NUL-separated paths of a ``-z`` listing (no quoting, whatever the name holds)."""
    return [name for name in output.split("\0") if name]


def changed_paths(repo: Path, before: str, after: str, under: str, *filters: str) -> list[str]:
    """Files ``before..after`` changed under ``under`` (``--diff-filter`` letters optional)."""
    diff_filter = [f"--diff-filter={''.join(filters)}"] if filters else []
    output = git(
        repo,
        "diff",
        "--name-only",
        "--no-renames",
        "-z",
        *diff_filter,
        before,
        after,
        "--",
        f":(literal){under}",
    )
    return _paths(output)


def paths_at(repo: Path, commit: str, under: str) -> list[str]:
    """Every file under ``under`` in ``commit``'s tree."""
    return _paths(
        git(repo, "ls-tree", "-r", "--name-only", "-z", commit, "--", f":(literal){under}")
    )


def _has_commit(repo: Path, sha: str) -> bool:
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo, capture_output=True, check=False
    )
    return result.returncode == 0


def is_ignored(repo: Path, path: str) -> bool:
    """True when git ignores ``path`` (a .gitignore rule): `git add` would refuse it."""
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "--", path], cwd=repo, capture_output=True, check=False
    )
    return result.returncode == 0


def split_folder(path: str, remediations_dir: str) -> tuple[str, str] | None:
    """(``<remediations_dir>/<folder>``, file name) for a file directly in a remediation
    folder; None for anything else."""
    prefix = remediations_dir.rstrip("/") + "/"
    parts = path.removeprefix(prefix).split("/")
    if not path.startswith(prefix) or len(parts) != 2:
        return None
    return prefix + parts[0], parts[1]


def _folders_with(paths: list[str], remediations_dir: str, name: str) -> list[str]:
    """The remediation folders whose file ``name`` is among ``paths``."""
    return sorted(
        {
            split[0]
            for path in paths
            if (split := split_folder(path, remediations_dir)) and split[1] == name
        }
    )


def _known_range(repo: Path, before: str, after: str) -> bool:
    return before != ZERO_SHA and _has_commit(repo, before) and _has_commit(repo, after)


def plans_added(repo: Path, before: str, after: str, remediations_dir: str) -> list[str]:
    """Remediation folders whose plan.json (or iac.json, a change made in code) the commits
    ``before..after`` added."""
    if not _known_range(repo, before, after):
        return []
    added = changed_paths(repo, before, after, remediations_dir, "A")
    return sorted(
        set(_folders_with(added, remediations_dir, PLAN_FILE))
        | set(_folders_with(added, remediations_dir, IAC_FILE))
    )


def journals_pushed(repo: Path, before: str, after: str, remediations_dir: str) -> list[str]:
    """Remediation folders whose journal.json the commits ``before..after`` added, changed or
    deleted. With an unknown range, none: the plans it added are unknown too."""
    if not _known_range(repo, before, after):
        return []
    return _folders_with(
        changed_paths(repo, before, after, remediations_dir), remediations_dir, JOURNAL_FILE
    )


def without_journal(repo: Path, remediations_dir: str) -> list[str]:
    """Merged remediation folders that no run has recorded anything for yet."""
    root = repo / remediations_dir
    if not root.is_dir():
        return []
    return sorted(
        {
            f"{remediations_dir}/{plan.parent.name}"
            for name in (PLAN_FILE, IAC_FILE)
            for plan in root.glob(f"*/{name}")
            if not (plan.parent / JOURNAL_FILE).exists()
        }
    )


def adding_commit(repo: Path, folder: str) -> str | None:
    """The commit that brought the folder's plan.json (or iac.json) onto the branch (its
    PR's merge)."""
    # first-parent: the branch's own history, so the merge rather than whichever commit of
    # the PR's branch added the file (the PR may have more after it). literal: a folder name
    # is the PR's choice, and a glob in it would match other plans.
    sha = git(
        repo,
        "log",
        "--first-parent",
        "--diff-filter=A",
        "--format=%H",
        "-1",
        "--",
        f":(literal){folder}/{PLAN_FILE}",
        f":(literal){folder}/{IAC_FILE}",
    )
    return sha.strip() or None


def _auth_env(token: str | None, server_url: str) -> dict[str, str]:
    """Git reads this header from the environment, so the token is in no file and no argv."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{server_url.rstrip('/')}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def commit_journals(
    repo: Path,
    *,
    remediations_dir: str,
    branch: str,
    message: str,
    token: str | None = None,
    server_url: str = "https://github.com",
    remote: str = "origin",
) -> str | None:
    """Commit every new or changed journal.json and push it to ``branch``, rebasing onto
    whatever other runs pushed meanwhile. Returns the pushed commit, None if nothing changed.

    Journals live in one folder per plan and only one run changes a folder at a time, so
    the rebase never conflicts with another run's journals."""
    return commit_and_push(
        repo,
        [f":(glob){remediations_dir}/*/{JOURNAL_FILE}"],
        branch=branch,
        message=message,
        token=token,
        server_url=server_url,
        remote=remote,
        what="the journals",
        kept_where="the journals are in this run's artifacts",
    )


def commit_and_push(
    repo: Path,
    pathspecs: list[str],
    *,
    branch: str,
    message: str,
    token: str | None = None,
    server_url: str = "https://github.com",
    remote: str = "origin",
    what: str,
    kept_where: str,
) -> str | None:
    """Commit what changed under ``pathspecs`` and push it to ``branch``, rebasing onto
    concurrent pushes (up to PUSH_ATTEMPTS times). Returns the pushed commit, None if
    nothing changed. ``what`` and ``kept_where`` word the error when the push fails."""
    env = _auth_env(token, server_url)
    git(repo, "add", "--", *pathspecs)
    if not git(repo, "diff", "--cached", "--name-only").strip():
        return None
    identity = {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }
    git(repo, "commit", "--quiet", "-m", message, env=identity)
    last_error = ""
    for _attempt in range(PUSH_ATTEMPTS):
        pushed = subprocess.run(
            ["git", "push", "--quiet", remote, f"HEAD:refs/heads/{branch}"],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=False,
        )
        if pushed.returncode == 0:
            return git(repo, "rev-parse", "HEAD").strip()
        last_error = pushed.stderr.strip()
        git(repo, "fetch", "--quiet", remote, branch, env=env)
        _rebase(repo, identity, what, branch)
    raise ForgeError(
        f"could not push {what} to {branch} after {PUSH_ATTEMPTS} attempts: {last_error}",
        hint=f"{kept_where}; the branch may be protected against pushes from GitHub Actions: "
        "allow them (or a bypass for the workflow's token)",
    )


def _rebase(repo: Path, identity: dict[str, str], what: str, branch: str) -> None:
    rebased = subprocess.run(
        ["git", "rebase", "--quiet", "FETCH_HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **identity},
        check=False,
    )
    if rebased.returncode != 0:
        git(repo, "rebase", "--abort", check=False)
        said = (rebased.stdout + rebased.stderr).strip().splitlines()
        raise ForgeError(
            f"{what} conflict with a commit pushed to {branch} meanwhile"
            + (f": {said[-1]}" if said else ""),
            hint=f"someone changed the same file on {branch}; nothing was pushed: resolve it "
            "there, then re-run this workflow run",
        )
