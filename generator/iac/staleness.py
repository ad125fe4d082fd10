"""Whether a local Terraform state file may not describe its root's code any more.

A state file committed to the repository is written by `terraform apply`. When the root's
.tf files changed in a commit the state's last commit does not contain, someone changed the
code without committing the state that applying it wrote (or without applying it): the
addresses and IDs reclaim reads may be wrong, so a code change built on them is left to a
person. Outside a git checkout, or before either is committed, nothing can be told.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator.iac.config import TerraformRoot


def _git(cwd: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _last_commit(top: Path, pathspec: str) -> str | None:
    return _git(top, "log", "-1", "--format=%H", "--", pathspec) or None


def stale_state(root: TerraformRoot, base_dir: Path) -> str | None:
    """Why ``root``'s local state may be older than its code (None: it is not, or git
    cannot tell)."""
    if root.state.local is None:
        return None
    state = (base_dir / root.state.local).resolve()
    code = (base_dir / root.path).resolve()
    top = _git(code if code.is_dir() else base_dir, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    top_dir = Path(top).resolve()
    try:
        state_path = state.relative_to(top_dir).as_posix()
        code_path = code.relative_to(top_dir).as_posix()
    except ValueError:
        return None
    prefix = "" if code_path == "." else f"{code_path}/"
    state_commit = _last_commit(top_dir, f":(literal){state_path}")
    code_commit = _last_commit(top_dir, f":(glob){prefix}**/*.tf")
    if state_commit is None or code_commit is None:
        return None
    contained = subprocess.run(
        ["git", "merge-base", "--is-ancestor", code_commit, state_commit],
        cwd=top_dir,
        capture_output=True,
        check=False,
    )
    if contained.returncode == 0:
        return None
    return (
        f"the Terraform state {state_path} was last committed in {state_commit[:12]}, before "
        f"the code of root {root.name!r} changed in {code_commit[:12]}: the state may not "
        "describe this code, so reclaim does not edit it; run terraform apply in the root "
        "and commit the state it writes, and the next scan proposes again"
    )
