"""Reads of administrative areas: accent-insensitive lookup by name, lookup by code, boundaries.

Areas are public reference data (no office owns them), so these selectors take no acting user.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from django.db.models import Q, QuerySet

from rumbo.geo.loader import DATA_DIR
from rumbo.geo.models import AdminArea
from rumbo.lib.text import fold

MAX_LIMIT = 50


def _base(country: str | None, level: int | None) -> QuerySet[AdminArea]:
    qs = AdminArea.objects.select_related("parent")
    if country:
        qs = qs.filter(country=country.upper())
    if level:
        qs = qs.filter(level=level)
    return qs


def _ranked(qs: QuerySet[AdminArea]) -> QuerySet[AdminArea]:
    # States before municipalities, then the most populous (the likelier meant), then by name.
    return qs.order_by("level", "-population", "name_folded", "pk")


def area_lookup(
    query: str, country: str | None = None, level: int | None = None, limit: int = 20
) -> list[AdminArea]:
    """Areas whose name matches ``query`` without regard to accents or case, best matches first.

    Order: exact code or ISO 3166-2 code, then names starting with the query, then names containing every
    word of it (a word may also match the state or department, so "juarez chihuahua" finds Juárez, Chih.).
    """
    folded = fold(query)
    limit = max(1, min(limit, MAX_LIMIT))
    if not folded:
        return []
    base = _base(country, level)
    found: dict[int, AdminArea] = {}

    def take(qs: QuerySet[AdminArea]) -> None:
        for area in qs.exclude(pk__in=list(found))[: limit - len(found)]:
            found[area.pk] = area

    raw = query.strip()
    if raw and len(raw) <= 10:
        take(_ranked(base.filter(Q(code=raw) | Q(iso_3166_2__iexact=raw))))
    if len(found) < limit:
        take(_ranked(base.filter(name_folded__startswith=folded)))
    if len(found) < limit:
        words = folded.split()
        every_word = reduce(
            and_, [Q(name_folded__contains=w) | Q(parent__name_folded__contains=w) for w in words]
        )
        # At least one word must be in the area's own name, or "chiapas" would list every town in Chiapas.
        own_name = reduce(or_, [Q(name_folded__contains=w) for w in words])
        take(_ranked(base.filter(every_word).filter(own_name)))
    return list(found.values())


def area_by_code(country: str, code: str, level: int | None = None) -> AdminArea | None:
    """The area with this national code (INEGI, INE, FIPS…) or ISO 3166-2 code, or None.

    Codes of different levels do not collide in the shipped data (states have shorter codes than
    municipalities); pass ``level`` to be explicit.
    """
    code = code.strip()
    if not code:
        return None
    qs = _base(country, level).order_by("level")
    return qs.filter(code=code).first() or qs.filter(iso_3166_2__iexact=code).first()


# --- Boundaries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoJSONDocument:
    """A GeoJSON body ready to send: raw and gzip-compressed bytes and a strong ETag."""

    body: bytes
    gzipped: bytes
    etag: str


def _document(body: bytes) -> GeoJSONDocument:
    digest = hashlib.sha256(body).hexdigest()[:32]
    return GeoJSONDocument(
        body=body, gzipped=gzip.compress(body, compresslevel=6, mtime=0), etag=f'"{digest}"'
    )


_lock = threading.Lock()
_states: GeoJSONDocument | None = None
_municipalities: dict[str, GeoJSONDocument] | None = None


def mx_state_boundaries() -> GeoJSONDocument:
    """Mexico's 32 state boundaries (rumbo/geo/data/mx_states.geojson), read once per process."""
    global _states
    with _lock:
        if _states is None:
            _states = _document((DATA_DIR / "mx_states.geojson").read_bytes())
        return _states


def mx_municipality_boundaries(cve_ent: str) -> GeoJSONDocument | None:
    """The municipal boundaries of one Mexican state (by INEGI ``cve_ent``, "07"), or None for no such state.

    The national file (4.6 MB) is split by state once per process and kept in memory.
    """
    global _municipalities
    with _lock:
        if _municipalities is None:
            data = json.loads((DATA_DIR / "mx_municipalities.geojson").read_bytes())
            by_state: dict[str, list[dict[str, object]]] = {}
            for feature in data["features"]:
                by_state.setdefault(feature["properties"]["cve_ent"], []).append(feature)
            _municipalities = {
                state: _document(
                    json.dumps(
                        {"type": "FeatureCollection", "features": features},
                        ensure_ascii=False,
                        separators=(",", ":"),
                    ).encode()
                )
                for state, features in by_state.items()
            }
        return _municipalities.get(cve_ent)
