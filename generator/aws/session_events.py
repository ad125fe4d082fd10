"""botocore's built-in event handlers, registered once per process and copied per session.

Every botocore session registers botocore's ~120 built-in handlers (signing, parameter
validation, retries, ...), and botocore checks each one's signature with ``inspect`` as it
registers it. reclaim makes a session per account (each signs with its own credentials),
so a fleet scan paid that per account: 7.1 ms a session, against 1.0 ms with the built-ins
copied (about 2 % of a 40 account-region scan). Registered once into a template emitter,
each session gets a copy of it,
which is what botocore itself gives each client of a session. The handlers are
botocore's module-level objects either way; each session's emitter is its own, so a
handler registered on one account's session is never called for another's.

The template is made again when botocore's list of built-in handlers has changed since
(moto adds its own to the list when imported: a session made after that must have it).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import botocore.handlers
import botocore.session
from botocore.hooks import HierarchicalEmitter

_lock = threading.Lock()
_template: tuple[list[Any], HierarchicalEmitter] | None = None
"""botocore's list of built-in handlers as it was when the template was made, and the
template."""


def builtin_events() -> HierarchicalEmitter:
    """A new emitter holding botocore's built-in handlers, as a new session registers them."""
    global _template
    with _lock:
        builtins = botocore.handlers.BUILTIN_HANDLERS
        if _template is None or _template[0] != builtins:
            template = HierarchicalEmitter()
            botocore.session.Session(event_hooks=template)  # registers the built-ins into it
            _template = (list(builtins), template)
        return copy.copy(_template[1])


def new_core_session() -> botocore.session.Session:
    """``botocore.session.Session()``, its built-in handlers copied rather than registered."""
    return botocore.session.Session(event_hooks=builtin_events(), include_builtin_handlers=False)
