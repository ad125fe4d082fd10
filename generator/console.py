"""The command line's two consoles (stdout, stderr), made at their first use.

Importing rich costs ~15 ms of CPU; a scan's first AWS request does not wait for it: the
consoles, the progress bar and the report tables import rich when they first print.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich ``Console(**options)``, built the first time anything of it is used."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None
        self._lock = threading.Lock()

    def get(self) -> Console:
        """The console itself (for a function that takes a ``Console``)."""
        with self._lock:
            if self._console is None:
                from rich.console import Console

                self._console = Console(**self._options)
            return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)
