"""What a reclaim process keeps to its end is kept out of the cyclic garbage collector's
way.

CPython's collector, on each full collection, walks every object it tracks. Most of a
scan's are alive until the process ends: the modules and pydantic models of start-up, the
config, prices and state it read, botocore's parsed service models and a client class per
service, about 110,000 objects in all. A full collection over them took ~65 ms, and a
16,000-volume scan made four (0.28 s of its CPU; at 1,000 volumes, ~70 ms of all its
collections), none of which could free any of them.

``settled()`` freezes (``gc.freeze``) whatever is alive at that moment, so later
collections walk only what was made since. A scan calls it once its inputs are read and
after each new client. Frozen objects are still freed the moment their last reference
goes; only a garbage cycle among objects alive at a freeze is kept until the process ends,
which bounds the cost by what was alive at the freezes.

Start-up (imports: pydantic builds its models, botocore its tables) makes hundreds of
thousands of objects and almost no garbage, and the collector, every 700 of them, kept
walking them: a full collection and a few dozen young ones before a scan's first request,
~50 ms of the 0.40 s it took to send it. Until the first ``settled()`` the youngest
generation is collected every ``START_UP_THRESHOLD`` objects instead; then the process's
own thresholds come back. A command that never settles (one that makes no AWS client,
such as `reclaim plan` or `init`) keeps the larger threshold: its collections are fewer,
never skipped.

Only a `reclaim` process does any of this (``keep_settled_out_of_collections``, called by
generator.cli.run): a process that runs reclaim in-process (the test suite, a library
caller) keeps its collector as it was.
"""

from __future__ import annotations

import gc

START_UP_THRESHOLD = 50_000
"""Objects made between two collections of the youngest generation during start-up
(CPython's default: 700)."""

_freezing = False
_thresholds: tuple[int, int, int] | None = None
"""The process's own thresholds, while start-up's replace them."""


def keep_settled_out_of_collections() -> None:
    """From now on, ``settled()`` freezes, and until it first does, start-up is collected
    less often: for a process that ends when its command does."""
    global _freezing, _thresholds
    _freezing = True
    _thresholds = gc.get_threshold()
    gc.set_threshold(START_UP_THRESHOLD, *_thresholds[1:])


def settled() -> None:
    """Everything alive now stays alive (start-up is done, a client was made): freeze it,
    if this process freezes, and end start-up's thresholds."""
    global _thresholds
    if not _freezing:
        return
    gc.freeze()
    thresholds, _thresholds = _thresholds, None
    if thresholds is not None:
        gc.set_threshold(*thresholds)
