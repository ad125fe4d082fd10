"""One apply or rollback of a plan at a time.

Two runs of one plan at once could each take a snapshot, each call DeleteVolume, and the
slower one overwrite the journal of the faster. The lock is an exclusive ``flock``, held for
the whole run (loading the journal included), on a file named for the plan (the folder's
name, which validation binds to the plan ID) in a directory outside the checkout, so it is
never committed and two checkouts on one machine share it. The kernel releases it when its
holder dies, however it dies, so a lock left by a killed process is simply free again: the
file's content (who held it, since when) only explains a wait. Lock files are never
deleted: unlinking one while another process waits on it would let a third take a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from generator.errors import ConfigError, PlanBusy

LOCK_DIR_ENV = "RECLAIM_LOCK_DIR"
DEFAULT_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.2


def lock_path(folder: Path) -> Path:
    root = os.environ.get(LOCK_DIR_ENV) or os.path.join(
        tempfile.gettempdir(), f"reclaim-locks-{os.getuid()}"
    )
    name = hashlib.sha256(folder.name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Path(root) / f"{name}.lock"


def _holder(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {data['pid']} on {data['host']} since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def plan_lock(
    folder: Path,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[str, str], None] | None = None,
) -> Iterator[None]:
    """Hold the folder's lock; wait up to ``wait_seconds`` for it, then raise PlanBusy.

    ``on_wait(event, holder)`` hears "waiting" when the lock is held by another run, then
    "acquired" or "gave up" (for progress output; it decides nothing)."""
    path = lock_path(folder)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise ConfigError(
            f"cannot create the plan lock {path}: {error.strerror}",
            hint=f"set {LOCK_DIR_ENV} to a directory reclaim may write to",
        ) from None
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        waited = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if waited and on_wait is not None:
                    on_wait("acquired", "")
                break
            except BlockingIOError:
                if on_wait is not None and not waited and time.monotonic() < deadline:
                    on_wait("waiting", _holder(path))
                waited = True
                if time.monotonic() >= deadline:
                    if on_wait is not None and wait_seconds > 0:
                        on_wait("gave up", _holder(path))
                    raise PlanBusy(
                        f"{folder.name}: another apply or rollback of this plan is running "
                        f"({_holder(path)}); nothing was changed",
                        hint="wait for it to finish (its journal.json says where it is), or "
                        "pass --wait SECONDS to wait longer",
                    ) from None
                time.sleep(_POLL_SECONDS)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
