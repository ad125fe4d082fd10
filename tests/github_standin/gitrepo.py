"""The stand-in's storage: a real bare git repository driven through plumbing commands."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

_AUTHOR = {
    "GIT_AUTHOR_NAME": "stand-in",
    "GIT_AUTHOR_EMAIL": "standin@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "stand-in",
    "GIT_COMMITTER_EMAIL": "standin@example.com",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


class GitError(Exception):
    pass


class BareRepo:
    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = path
        subprocess.run(
            ["git", "init", "-q", "--bare", f"--initial-branch={default_branch}", str(path)],
            check=True,
        )
        tree = self.write_tree({"README.md": "# infrastructure\n"})
        self.set_ref(f"refs/heads/{default_branch}", self.commit(tree, [], "initial commit"))

    def git(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=stdin,
            capture_output=True,
            env={**os.environ, **_AUTHOR, **(env or {})},
            check=False,
        )
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace").strip())
        return result.stdout.decode().strip()

    def blob(self, content: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", stdin=content)

    def write_tree(
        self, files: dict[str, str | None], base_tree: str | None = None, *, blobs: bool = False
    ) -> str:
        """A tree: ``base_tree`` with ``files`` (path → content, or blob SHA when ``blobs``;
        None deletes the path) applied."""
        with tempfile.TemporaryDirectory() as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if base_tree:
                self.git("read-tree", base_tree, env=env)
            for path, content in files.items():
                if content is None:
                    self.git("update-index", "--force-remove", path, env=env)
                    continue
                sha = content if blobs else self.blob(content.encode())
                self.git("update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
            return self.git("write-tree", env=env)

    def commit(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, "-F", "-", stdin=message.encode())

    def kind(self, sha: str) -> str | None:
        try:
            return self.git("cat-file", "-t", sha)
        except GitError:
            return None

    def ref(self, name: str) -> str | None:
        try:
            return self.git("rev-parse", "--verify", "-q", name)
        except GitError:
            return None

    def set_ref(self, name: str, sha: str, old: str | None = None) -> None:
        self.git("update-ref", name, sha, *([old] if old else []))

    def delete_ref(self, name: str) -> None:
        self.git("update-ref", "-d", name)

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", older, newer)
        except GitError:
            return False
        return True

    def tree_of(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}")

    def message(self, commit: str) -> str:
        return self.git("log", "-1", "--format=%B", commit)

    def parents(self, commit: str) -> list[str]:
        line = self.git("rev-list", "--parents", "-n", "1", commit).split()
        return line[1:]

    def entries(self, tree: str) -> list[tuple[str, str, str, str]]:
        """(mode, type, sha, path) of each entry directly in ``tree``."""
        out = self.git("ls-tree", tree)
        rows = []
        for line in out.splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, sha = meta.split()
            rows.append((mode, kind, sha, path))
        return rows

    def show(self, commit: str, path: str) -> str | None:
        try:
            return self.git("show", f"{commit}:{path}")
        except GitError:
            return None

    def merge(self, base: str, head: str, message: str) -> str:
        tree = self.git("merge-tree", "--write-tree", base, head).splitlines()[0]
        return self.commit(tree, [base, head], message)

    def changed_files(self, base: str, head: str) -> int:
        out = self.git("diff", "--name-only", f"{base}...{head}")
        return len([line for line in out.splitlines() if line])
