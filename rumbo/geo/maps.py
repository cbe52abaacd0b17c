"""Maps drawn on the server as SVG: Mexico's states (INEGI outlines, ``data/mx_states.geojson``) with places
on them — the institutions of a directory, the points of return, later the nationals exposed to a hazard.

No tiles and no JavaScript library: the page works offline, prints, and reads with a screen reader (every
place has a ``<title>`` and the page lists the same places as text next to the map). Outlines are simplified
with shapely once per process (0.04°, about a pixel at page size) and projected with an
equirectangular projection scaled by the cosine of Mexico's middle latitude.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shapely.geometry import shape

from rumbo.geo.loader import DATA_DIR

#: Mexico's bounding box, with a margin (lon_min, lat_min, lon_max, lat_max).
MX_BOUNDS = (-118.6, 14.3, -86.5, 32.9)
WIDTH = 1000.0
_COS = math.cos(math.radians((MX_BOUNDS[1] + MX_BOUNDS[3]) / 2))
HEIGHT = round(WIDTH * (MX_BOUNDS[3] - MX_BOUNDS[1]) / ((MX_BOUNDS[2] - MX_BOUNDS[0]) * _COS), 1)
TOLERANCE = 0.04


@dataclass(frozen=True)
class StateOutline:
    code: str  # INEGI cve_ent, "16"
    name: str
    path: str  # SVG path data in the map's coordinates
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max in the map's coordinates


@dataclass(frozen=True)
class MapPlace:
    """A place to mark: ``label`` (the marker's title), an optional link, a ``count`` that sizes it and a
    ``kind`` that colours it (a CSS class)."""

    lat: float
    lon: float
    label: str
    url: str = ""
    count: int = 1
    kind: str = ""


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    r: float
    place: MapPlace


@dataclass
class MexicoMap:
    """What the template draws: the outlines (``highlight`` states shaded), the markers, and the places that
    could not be placed (no coordinates, or outside Mexico)."""

    width: float
    height: float
    states: Sequence[StateOutline]
    markers: list[Marker]
    highlight: frozenset[str] = frozenset()
    unplaced: list[MapPlace] = field(default_factory=list)
    view_box: str = ""

    def __post_init__(self) -> None:
        if not self.view_box:
            self.view_box = f"0 0 {self.width:g} {self.height:g}"


def project(lon: float, lat: float) -> tuple[float, float]:
    """Longitude and latitude in degrees → x, y on the map."""
    x = (lon - MX_BOUNDS[0]) / (MX_BOUNDS[2] - MX_BOUNDS[0]) * WIDTH
    y = (MX_BOUNDS[3] - lat) / (MX_BOUNDS[3] - MX_BOUNDS[1]) * HEIGHT
    return round(x, 1), round(y, 1)


def _ring_path(coords: Iterable[Sequence[float]]) -> str:
    points = [project(c[0], c[1]) for c in coords]
    return "M" + "L".join(f"{x:g},{y:g}" for x, y in points) + "Z"


def _outline_path(geometry: object) -> str:
    polygons = list(getattr(geometry, "geoms", [geometry]))
    parts = []
    for polygon in polygons:
        parts.append(_ring_path(polygon.exterior.coords))
        parts.extend(_ring_path(ring.coords) for ring in polygon.interiors)
    return "".join(parts)


_lock = threading.Lock()
_outlines: tuple[StateOutline, ...] | None = None


def mx_state_outlines() -> tuple[StateOutline, ...]:
    """The 32 states, simplified and projected; computed once per process."""
    global _outlines
    with _lock:
        if _outlines is None:
            data = json.loads((DATA_DIR / "mx_states.geojson").read_bytes())
            outlines = []
            for feature in data["features"]:
                geometry = shape(feature["geometry"]).simplify(TOLERANCE, preserve_topology=True)
                props = feature["properties"]
                lon0, lat0, lon1, lat1 = geometry.bounds
                (x0, y1), (x1, y0) = project(lon0, lat0), project(lon1, lat1)
                outlines.append(
                    StateOutline(props["cve_ent"], props["name"], _outline_path(geometry), (x0, y0, x1, y1))
                )
            _outlines = tuple(sorted(outlines, key=lambda o: o.code))
        return _outlines


def _inside(place: MapPlace) -> bool:
    return MX_BOUNDS[0] <= place.lon <= MX_BOUNDS[2] and MX_BOUNDS[1] <= place.lat <= MX_BOUNDS[3]


def _zoomed_box(boxes: list[tuple[float, float, float, float]]) -> str:
    """A view box around ``boxes`` with a margin, no smaller than a fifth of the country and with the
    map's proportions, kept inside the map."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    ratio = WIDTH / HEIGHT
    w = max((x1 - x0) * 1.25, (y1 - y0) * 1.25 * ratio, WIDTH / 5)
    h = w / ratio
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(cx - w / 2, 0), WIDTH - w)
    top = min(max(cy - h / 2, 0), HEIGHT - h)
    return f"{left:.1f} {top:.1f} {w:.1f} {h:.1f}"


def mexico_map(
    places: Iterable[MapPlace | None],
    *,
    highlight: Iterable[str] = (),
    max_radius: float = 22.0,
    zoom: bool = False,
) -> MexicoMap:
    """A map of Mexico with ``places`` marked (``None`` entries — places without coordinates — are left
    out); marker areas are proportional to ``count`` (the largest gets ``max_radius``, none smaller than 5),
    larger markers drawn first so small ones stay clickable. With ``zoom``, the view frames the highlighted
    states and the markers (a state office sees its state, not the whole country)."""
    placed: list[MapPlace] = []
    unplaced: list[MapPlace] = []
    for place in places:
        if place is None:
            continue
        (placed if _inside(place) else unplaced).append(place)
    top = max((p.count for p in placed), default=1) or 1
    markers = []
    for p in placed:
        radius = max(min(5.0, max_radius), max_radius * math.sqrt(max(p.count, 0) / top))
        markers.append(Marker(*project(p.lon, p.lat), r=round(radius, 1), place=p))
    markers.sort(key=lambda m: -m.r)
    states = mx_state_outlines()
    shaded = frozenset(highlight)
    view_box = ""
    if zoom:
        boxes = [o.box for o in states if o.code in shaded]
        boxes += [(m.x, m.y, m.x, m.y) for m in markers]
        if boxes:
            view_box = _zoomed_box(boxes)
            # Markers keep their size on the page: their radius shrinks with the view.
            scale = float(view_box.split()[2]) / WIDTH
            markers = [Marker(m.x, m.y, round(m.r * scale, 2), m.place) for m in markers]
    return MexicoMap(
        width=WIDTH,
        height=HEIGHT,
        states=states,
        markers=markers,
        highlight=shaded,
        unplaced=unplaced,
        view_box=view_box,
    )
