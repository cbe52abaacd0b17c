"""Today's date in the current time zone, which a long job may fix once for all its rows.

``django.utils.timezone.localdate()`` looks the current time zone up on every call (a context-local read);
validating a hundred thousand imported rows spent a tenth of its time there. A bulk job fixes the date it
started on with :func:`fixed_today`, and the validators read it through :func:`today`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils import timezone

_fixed: ContextVar[datetime.date | None] = ContextVar("rumbo_fixed_today", default=None)


def today() -> datetime.date:
    """The date fixed by :func:`fixed_today`, else today in the current time zone."""
    fixed = _fixed.get()
    return fixed if fixed is not None else timezone.localdate()


@contextmanager
def fixed_today(value: datetime.date) -> Iterator[None]:
    """Within the block, :func:`today` is ``value``."""
    token = _fixed.set(value)
    try:
        yield
    finally:
        _fixed.reset(token)
