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

Every client's emitter is a copy of its session's, and botocore's copy starts with an empty
cache of aliased event names (``EventAliaser``: ``before-call.autoscaling`` becomes
``before-call.auto-scaling``), so each client worked out again, by string splitting over
~60 aliases, the ~16 names of the events it emitted or registered (80 clients in 10
sessions: 129 ms of CPU, 114 ms with the cache shared). The aliased name depends only on
the name and botocore's fixed alias table, so the emitters of reclaim's sessions and all
their copies share one cache (``_SharedAliasCache``); the handlers stay each emitter's own.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import botocore.handlers
import botocore.session
from botocore.hooks import EventAliaser, HierarchicalEmitter

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


_ALIASED: dict[str, str] = {}
"""Event name -> the name botocore's alias table makes of it, for every reclaim emitter.
Entries are only ever added, each a pure function of its key: safe to read and fill from
any thread."""


class _SharedAliasCache(EventAliaser):  # type: ignore[misc]
    """botocore's EventAliaser over botocore's own alias table, caching aliased names in
    ``_ALIASED``; its copies (one per client) do the same."""

    def __init__(self, emitter: HierarchicalEmitter) -> None:
        super().__init__(emitter)
        self._alias_name_cache = _ALIASED

    def __copy__(self) -> _SharedAliasCache:
        return _SharedAliasCache(copy.copy(self._emitter))


def new_core_session() -> botocore.session.Session:
    """``botocore.session.Session()``, its built-in handlers copied rather than registered,
    and the emitter its clients copy sharing the cache of aliased event names."""
    events = builtin_events()
    session = botocore.session.Session(event_hooks=events, include_builtin_handlers=False)
    # The session's own aliaser and this one wrap the same emitter: a handler registered
    # through either is in both. Clients copy this one (botocore's get_component).
    session.register_component("event_emitter", _SharedAliasCache(events))
    return session
