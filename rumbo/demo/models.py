"""Bookkeeping of bulk loads of synthetic data."""

from __future__ import annotations

from django.db import models


class DroppedIndex(models.Model):
    """An index dropped while synthetic persons were loaded in bulk (building it once at the end is several
    times faster than updating it row by row). Recorded before the drop, deleted once the index is rebuilt,
    so an interrupted load is repaired by the next ``rumbo demo`` run (``writers.restore_indexes``)."""

    name = models.CharField(max_length=200, unique=True)
    table = models.CharField(max_length=200)
    sql = models.TextField()
    dropped_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
