"""A bounded thread pool whose tasks run in a copy of the caller's context.

A scan's guard on declared calls (generator.rules.declared_calls) knows which rule is
running from a context variable; a plain ThreadPoolExecutor runs its tasks in a fresh
context, so a call made on one of its threads would escape the guard. ``bounded_map`` is
the one pool rule code and its helpers use: every task sees the caller's context, as does
the one thread ``start_in_context`` starts (a shared listing's next page, asked for ahead).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    function: Callable[[T], R], items: Iterable[T], *, workers: int, name: str = "reclaim-task"
) -> list[R]:
    """``[function(item) for item in items]`` with at most ``workers`` in flight, in order.

    The first failure is raised once the tasks already running have finished; tasks still
    queued are cancelled. One item (or ``workers`` 1) runs on the caller's thread."""
    ordered = list(items)
    if workers <= 1 or len(ordered) <= 1:
        return [function(item) for item in ordered]
    context = contextvars.copy_context()

    def in_context(item: T) -> R:
        # A Context can be entered by one thread at a time: each task gets its own copy.
        return context.copy().run(function, item)

    with ThreadPoolExecutor(min(workers, len(ordered)), thread_name_prefix=name) as pool:
        futures = [pool.submit(in_context, item) for item in ordered]
        # The first failure, wherever it is in the order, cancels what has not started.
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
        return [future.result() for future in futures]


def start_in_context(function: Callable[[], object], *, name: str) -> threading.Thread:
    """``function()`` started on a daemon thread of its own, in a copy of the caller's
    context (so the guard checks its calls as the caller's); the caller joins it."""
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(function,), name=name, daemon=True
    )
    thread.start()
    return thread
