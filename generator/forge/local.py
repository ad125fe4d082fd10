"""A forge over a plain git repository: one branch per finding, merge is a real `git merge`.

Branch commits are built with git plumbing (a temporary index, write-tree, commit-tree,
update-ref) so the user's working tree and index are never touched by `propose`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from generator.errors import ForgeError
from generator.forge.base import Forge, Outcome, Proposal, ProposalResult, branch_for

BRANCH_PREFIX = "refs/heads/reclaim/"


class LocalGitForge(Forge):
    def __init__(self, repo: Path, base_branch: str = "main") -> None:
        self.repo = repo
        self.base_branch = base_branch
        if not (repo / ".git").exists():
            raise ForgeError(
                f"{repo} is not a git repository",
                hint="run `git init` there, or set forge.path in reclaim.yml",
            )

    def _git(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.repo), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        if result.returncode != 0:
            raise ForgeError(f"git {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _rev(self, ref: str) -> str | None:
        result = subprocess.run(
            ["git", "-C", str(self.repo), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() or None

    def _base(self) -> str:
        base = self._rev(f"refs/heads/{self.base_branch}")
        if base is None:
            raise ForgeError(
                f"base branch {self.base_branch!r} has no commit in {self.repo}",
                hint="commit reclaim.yml to it first, or set forge.base_branch",
            )
        return base

    def _on_base(self, path: str) -> bool:
        check = subprocess.run(
            ["git", "-C", str(self.repo), "cat-file", "-e", f"{self.base_branch}:{path}"],
            capture_output=True,
            check=False,
        )
        return check.returncode == 0

    def propose(self, proposal: Proposal) -> ProposalResult:
        ref = f"refs/heads/{proposal.branch}"
        if any(self._on_base(path) for path in proposal.files):
            return ProposalResult(proposal.finding_id, Outcome.ALREADY_MERGED, self.base_branch)
        existing = self._rev(ref)
        parent = existing or self._base()
        tree = self._tree_with(parent, proposal.files)
        if existing and tree == self._git("rev-parse", f"{existing}^{{tree}}"):
            return ProposalResult(proposal.finding_id, Outcome.UNCHANGED, proposal.branch)
        message = f"{proposal.title}\n\n{proposal.body}"
        commit = self._git("commit-tree", tree, "-p", parent, "-F", "-", stdin=message)
        # Compare-and-swap: fails instead of clobbering a branch someone else moved.
        self._git("update-ref", ref, commit, existing or "0" * 40)
        outcome = Outcome.UPDATED if existing else Outcome.CREATED
        return ProposalResult(proposal.finding_id, outcome, proposal.branch)

    def _tree_with(self, parent: str, files: dict[str, str]) -> str:
        with tempfile.TemporaryDirectory() as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._git("read-tree", parent, env=env)
            for path, content in sorted(files.items()):
                blob = self._git("hash-object", "-w", "--stdin", stdin=content)
                self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return self._git("write-tree", env=env)

    def open_proposals(self) -> list[str]:
        refs = self._git("for-each-ref", "--format=%(refname)", BRANCH_PREFIX)
        base = self._base()
        open_ids = []
        for ref in filter(None, refs.splitlines()):
            merged = subprocess.run(
                ["git", "-C", str(self.repo), "merge-base", "--is-ancestor", ref, base],
                check=False,
            )
            if merged.returncode != 0:
                open_ids.append(ref.removeprefix(BRANCH_PREFIX))
        return sorted(open_ids)

    def merge(self, finding_id: str) -> str:
        """Merge a proposal into the base branch, as a reviewer's merge button would."""
        current = self._git("symbolic-ref", "--short", "HEAD")
        if current != self.base_branch:
            raise ForgeError(
                f"{self.repo} has {current!r} checked out; merging needs {self.base_branch!r}"
            )
        branch = branch_for(finding_id)
        if self._rev(f"refs/heads/{branch}") is None:
            raise ForgeError(f"no proposal branch {branch!r} in {self.repo}")
        self._git("merge", "--no-ff", "-m", f"Merge {branch}", branch)
        return self._git("rev-parse", "HEAD")
