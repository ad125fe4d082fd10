"""The end of a `reclaim` process: everything a normal exit does, without the interpreter's
teardown.

Python, as it exits, clears every module and runs its cyclic garbage collector over what is
left: for a scan that holds botocore's parsed service models and a client class per service
that took about 0.28 s of a 1.5 s, 40 account-region scan (measured: atexit to process end),
and more with more services, all of it freeing memory the operating system takes back at
once anyway. So once a command has finished, ``finish`` does what the interpreter does
before that teardown and then ends the process:

- waits for nothing: it refuses to cut short a thread that is not a daemon (a worker still
  running, an executor not shut down), and exits the normal way instead;
- runs the ``atexit`` handlers (logging's flush, temporary directories' clean-up, ...);
- flushes stdout and stderr, and, as Python does, exits 120 when stdout cannot take the
  rest (a closed pipe) of a run that would have exited 0.

What it skips are the finalizers of objects still alive at exit. Every file reclaim writes
is written in a ``with`` block (generator.fileio) and closed before its command returns,
so none holds unwritten data by then. An unexpected exception (a bug) is not caught here:
it ends the process the normal way, traceback and all.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

FLUSH_FAILED = 120
"""Python's own exit status when flushing stdout fails at exit."""


def exit_status(code: str | int | None) -> int:
    """The process status ``sys.exit(code)`` gives: None is 0, an int itself, anything
    else is printed to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _other_threads_running() -> bool:
    """A thread besides the main one that is not a daemon (enumerate lists live ones only)."""
    main = threading.main_thread()
    return any(t is not main and not t.daemon for t in threading.enumerate())


def finish(code: str | int | None) -> NoReturn:
    """End the process with ``sys.exit(code)``'s status once the atexit handlers have run
    and stdout and stderr are flushed, skipping the interpreter's teardown when nothing but
    daemon threads is left."""
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is None or _other_threads_running():
        sys.exit(code)
    status = exit_status(code)
    run_exitfuncs()
    for stream, failed in ((sys.stdout, FLUSH_FAILED), (sys.stderr, None)):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe, or a stream a handler closed
            if failed is not None and status == 0:
                status = failed
    os._exit(status)
