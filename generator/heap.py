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

Only a `reclaim` process freezes (``keep_settled_out_of_collections``, called by
generator.cli.run): a process that runs reclaim in-process (the test suite, a library
caller) keeps its collector as it was.
"""

from __future__ import annotations

import gc

_freezing = False


def keep_settled_out_of_collections() -> None:
    """From now on, ``settled()`` freezes: for a process that ends when its command does."""
    global _freezing
    _freezing = True


def settled() -> None:
    """Everything alive now stays alive (start-up is done, a client was made): freeze it,
    if this process freezes."""
    if _freezing:
        gc.freeze()
