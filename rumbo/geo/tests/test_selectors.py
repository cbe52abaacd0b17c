"""Area lookup: accent- and case-insensitive by name (prefix, then contains), by code."""

from __future__ import annotations

import pytest

from rumbo.geo.models import AdminArea
from rumbo.geo.selectors import area_by_code, area_lookup

pytestmark = pytest.mark.django_db


def _labels(results: list[AdminArea]) -> list[str]:
    return [f"{a.country}:{a.code}" for a in results]


def test_michoacan_without_accent_finds_michoacan_de_ocampo_first():
    results = area_lookup("michoacan")
    assert results[0].name == "Michoacán de Ocampo"
    assert results[0].level == AdminArea.Level.STATE


def test_tapachula_finds_the_inegi_municipality_07089():
    (first, *_) = area_lookup("tapachula")
    assert (first.country, first.code) == ("MX", "07089")


def test_case_accents_and_punctuation_do_not_matter():
    assert _labels(area_lookup("CIUDAD DE MEXICO"))[0] == "MX:09"
    assert _labels(area_lookup("  ciudad   de méxico!"))[0] == "MX:09"


def test_prefix_matches_come_before_contains_matches():
    results = area_lookup("juarez", country="MX", level=2, limit=50)
    names = [a.name_folded for a in results]
    first_contains = next(i for i, n in enumerate(names) if not n.startswith("juarez"))
    assert all(not n.startswith("juarez") for n in names[first_contains:])
    assert any(n == "benito juarez" for n in names)  # found by "contains"


def test_words_may_match_the_state_to_narrow_a_common_name():
    results = area_lookup("juarez chihuahua", country="MX")
    assert _labels(results)[0] == "MX:08037"  # Juárez, Chihuahua (Ciudad Juárez)


def test_a_state_name_alone_does_not_list_every_town_of_that_state():
    results = area_lookup("chiapas", country="MX", limit=50)
    assert all("chiapas" in a.name_folded for a in results)


def test_country_and_level_narrow_the_lookup():
    assert {a.country for a in area_lookup("san", country="hn", limit=50)} == {"HN"}
    assert {a.level for a in area_lookup("san", country="MX", level=1, limit=50)} == {1}
    assert area_lookup("san", country="MX", level=1, limit=50)[0].name == "San Luis Potosí"


def test_an_exact_code_is_found_first():
    assert _labels(area_lookup("07089"))[0] == "MX:07089"
    assert _labels(area_lookup("MX-MIC"))[0] == "MX:16"


def test_limit_is_respected_and_capped():
    assert len(area_lookup("san", limit=5)) == 5
    assert len(area_lookup("a", limit=10_000)) == 50


def test_empty_or_symbol_only_queries_find_nothing():
    assert area_lookup("") == []
    assert area_lookup(" -- ") == []


def test_nothing_found_for_nonsense():
    assert area_lookup("xqzwv") == []


def test_area_by_code():
    def name(country: str, code: str) -> str | None:
        area = area_by_code(country, code)
        return area.name if area is not None else None

    assert name("MX", "07089") == "Tapachula"
    assert name("mx", "16") == "Michoacán de Ocampo"
    assert name("HN", "0801") == "Distrito Central"
    assert name("US", "US-TX") == "Texas"
    assert area_by_code("MX", "16", level=2) is None
    assert area_by_code("MX", "99999") is None
    assert area_by_code("MX", " ") is None
