"""Template helpers of the accounts pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def from_now(delta: timedelta | None) -> datetime | None:
    """The moment ``delta`` from now (e.g. when a login lockout ends), for the ``time``/``date`` filters."""
    if delta is None:
        return None
    return timezone.localtime(timezone.now() + delta)


@register.filter
def minutes(delta: timedelta | None) -> int:
    """A duration in whole minutes, rounded up (a lockout of 14 min 30 s reads "15 minutes")."""
    if delta is None:
        return 0
    return -(-int(delta.total_seconds()) // 60)
