"""A forge over a plain git repository: one branch per finding, merge is a real `git merge`.

Branch commits are built with git plumbing (a temporary index, write-tree, commit-tree,
update-ref) so the user's working tree and index are never touched by `propose`. What a PR
body's hidden meta holds on GitHub, a commit message holds here. Closing a stale proposal
moves its branch to ``refs/reclaim/closed/<id>`` (nothing is lost); a human declines one by
moving it to ``refs/reclaim/declined/<id>``. The dashboard is a markdown file.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from generator.errors import ForgeError
from generator.fileio import write_atomically
from generator.forge.base import (
    ExistingProposal,
    FollowUp,
    Forge,
    Outcome,
    Proposal,
    ProposalResult,
    ProposalState,
    branch_for,
)
from generator.forge.dashboard import same_dashboard
from generator.forge.markers import ProposalMeta, meta_comment, read_meta

BRANCH_PREFIX = "refs/heads/reclaim/"
CLOSED_PREFIX = "refs/reclaim/closed/"
DECLINED_PREFIX = "refs/reclaim/declined/"


class LocalGitForge(Forge):
    def __init__(
        self, repo: Path, base_branch: str = "main", dashboard_path: Path | None = None
    ) -> None:
        self.repo = repo
        self.base_branch = base_branch
        self.dashboard_path = dashboard_path
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
        if existing and proposal.fingerprint:
            held = read_meta(self._message(existing))
            if held and held.fingerprint == proposal.fingerprint:
                return ProposalResult(proposal.finding_id, Outcome.UNCHANGED, proposal.branch)
        parent = existing or self._base()
        tree = self._tree_with(parent, proposal.tree_files)
        if existing and tree == self._git("rev-parse", f"{existing}^{{tree}}"):
            return ProposalResult(proposal.finding_id, Outcome.UNCHANGED, proposal.branch)
        meta = ProposalMeta(
            finding_id=proposal.finding_id,
            fingerprint=proposal.fingerprint,
            monthly_usd=proposal.monthly_usd,
            rule=proposal.rule,
            account=proposal.account,
            region=proposal.region,
        )
        message = f"{proposal.title}\n\n{proposal.body}\n\n{meta_comment(meta)}\n"
        commit = self._git("commit-tree", tree, "-p", parent, "-F", "-", stdin=message)
        # Compare-and-swap: fails instead of clobbering a branch someone else moved.
        self._git("update-ref", ref, commit, existing or "0" * 40)
        outcome = Outcome.UPDATED if existing else Outcome.CREATED
        return ProposalResult(proposal.finding_id, outcome, proposal.branch)

    def open_follow_up(self, follow_up: FollowUp) -> ProposalResult:
        """A branch ``reclaim-follow-up/<id>`` with one commit on the base branch; a branch
        already holding exactly these files is left alone."""
        ref = f"refs/heads/{follow_up.branch}"
        existing = self._rev(ref)
        base = self._base()
        tree = self._tree_with(base, follow_up.files)
        if existing and tree == self._git("rev-parse", f"{existing}^{{tree}}"):
            return ProposalResult(follow_up.finding_id, Outcome.UNCHANGED, follow_up.branch)
        labels = ", ".join(follow_up.labels)
        message = f"{follow_up.title}\n\n{follow_up.body}\n\nLabels: {labels}\n"
        commit = self._git("commit-tree", tree, "-p", base, "-F", "-", stdin=message)
        self._git("update-ref", ref, commit, existing or "0" * 40)
        outcome = Outcome.UPDATED if existing else Outcome.CREATED
        return ProposalResult(follow_up.finding_id, outcome, follow_up.branch)

    def _tree_with(self, parent: str, files: dict[str, str]) -> str:
        with tempfile.TemporaryDirectory() as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._git("read-tree", parent, env=env)
            for path, content in sorted(files.items()):
                blob = self._git("hash-object", "-w", "--stdin", stdin=content)
                self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return self._git("write-tree", env=env)

    def _message(self, commit: str) -> str:
        return self._git("log", "-1", "--format=%B", commit)

    def _refs(self, prefix: str) -> list[str]:
        refs = self._git("for-each-ref", "--format=%(refname)", prefix)
        return [ref for ref in refs.splitlines() if ref]

    def _is_merged(self, ref: str, base: str) -> bool:
        merged = subprocess.run(
            ["git", "-C", str(self.repo), "merge-base", "--is-ancestor", ref, base],
            check=False,
        )
        return merged.returncode == 0

    def _held(self, ref: str, prefix: str, state: ProposalState) -> ExistingProposal:
        finding = ref.removeprefix(prefix)
        meta = read_meta(self._message(ref)) or ProposalMeta(finding_id=finding)
        reference = branch_for(finding) if prefix == BRANCH_PREFIX else ref
        return ExistingProposal(
            finding_id=finding,
            state=state,
            reference=reference,
            fingerprint=meta.fingerprint,
            monthly_usd=meta.monthly_usd,
            rule=meta.rule,
            account=meta.account,
            region=meta.region,
        )

    def existing_proposals(self) -> dict[str, ExistingProposal]:
        held: dict[str, ExistingProposal] = {}
        for prefix, state in (
            (CLOSED_PREFIX, ProposalState.CLOSED_BY_RECLAIM),
            (DECLINED_PREFIX, ProposalState.CLOSED_BY_HUMAN),
        ):
            for ref in self._refs(prefix):
                item = self._held(ref, prefix, state)
                held[item.finding_id] = item
        base = self._base()
        for ref in self._refs(BRANCH_PREFIX):
            merged = self._is_merged(ref, base)
            state = ProposalState.MERGED if merged else ProposalState.OPEN
            item = self._held(ref, BRANCH_PREFIX, state)
            held[item.finding_id] = item  # a live branch speaks over a closed one
        return held

    def close(self, existing: ExistingProposal, reason: str) -> ProposalResult:
        branch_ref = f"refs/heads/{branch_for(existing.finding_id)}"
        tip = self._rev(branch_ref)
        if tip is None:
            raise ForgeError(f"no proposal branch {branch_ref} in {self.repo} to close")
        meta = read_meta(self._message(tip)) or ProposalMeta(finding_id=existing.finding_id)
        closed = meta.model_copy(update={"closed_reason": reason})
        message = f"Closed by reclaim: {reason}\n\n{meta_comment(closed)}\n"
        tree = self._git("rev-parse", f"{tip}^{{tree}}")
        marker = self._git("commit-tree", tree, "-p", tip, "-F", "-", stdin=message)
        closed_ref = f"{CLOSED_PREFIX}{existing.finding_id}"
        self._git("update-ref", closed_ref, marker)
        self._git("update-ref", "-d", branch_ref, tip)
        return ProposalResult(existing.finding_id, Outcome.CLOSED, closed_ref, note=reason)

    def publish_dashboard(self, markdown: str) -> str | None:
        if self.dashboard_path is None:
            return None
        current = (
            self.dashboard_path.read_text(encoding="utf-8")
            if self.dashboard_path.exists()
            else None
        )
        if not same_dashboard(current, markdown):
            write_atomically(self.dashboard_path, markdown)
        return str(self.dashboard_path)

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
