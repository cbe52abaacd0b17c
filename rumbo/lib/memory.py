"""Garbage-collector control for bulk jobs.

A bulk import allocates millions of small objects (cells, dataclasses, tuples) that hold no reference cycles
and are freed by reference counting; Python's cyclic collector nonetheless walks the young ones every few
hundred allocations, and the survivors again and again as they age — a third of an import's validation time,
and seconds of the importing process. Within :func:`collector_paused` it does not run; at the end, whatever
survived is handed to the oldest generation in one step instead of being walked.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection within the block (process-wide: every thread)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # freeze() moves every tracked object to the permanent generation, unfreeze() moves them all to the
        # oldest one: both are list splices, so the block's survivors are not walked on the way out.
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()
