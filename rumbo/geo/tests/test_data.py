"""The shipped administrative areas: counts per country and level, codes, and the idempotent loader."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, F
from django.utils import translation

from rumbo.geo.models import AdminArea

pytestmark = pytest.mark.django_db


def _count(country: str, level: int) -> int:
    return AdminArea.objects.filter(country=country, level=level).count()


def test_every_expected_area_is_loaded():
    assert _count("MX", 1) == 32
    assert _count("MX", 2) == 2478
    assert _count("HN", 1) == 18
    assert _count("HN", 2) == 298
    assert _count("GT", 1) == 22
    assert _count("GT", 2) == 340
    assert AdminArea.objects.filter(country="US").count() == 51
    assert _count("US", 2) == 0


def test_every_municipality_has_a_parent_state_of_its_own_country():
    orphans = AdminArea.objects.filter(level=2, parent__isnull=True)
    assert not orphans.exists()
    assert not AdminArea.objects.filter(level=2).exclude(parent__country=F("country")).exists()


def test_mexican_municipality_codes_start_with_their_state_code():
    for area in AdminArea.objects.filter(country="MX", level=2).select_related("parent").iterator():
        assert area.parent is not None and area.code[:2] == area.parent.code, area.code


def test_mexico_city_and_its_sixteen_alcaldias_are_present():
    cdmx = AdminArea.objects.get(country="MX", level=1, code="09")
    assert cdmx.name == "Ciudad de México"
    assert cdmx.iso_3166_2 == "MX-CMX"
    alcaldias = set(cdmx.children.values_list("name", flat=True))
    assert len(alcaldias) == 16
    assert {"Iztapalapa", "Coyoacán", "Cuauhtémoc", "Gustavo A. Madero", "Milpa Alta"} <= alcaldias


def test_known_codes_and_coordinates():
    tapachula = AdminArea.objects.get(country="MX", level=2, code="07089")
    assert tapachula.name == "Tapachula"
    assert tapachula.parent is not None and tapachula.parent.name == "Chiapas"
    assert (tapachula.lat, tapachula.lon) == pytest.approx((14.9111, -92.2643), abs=1e-3)
    assert AdminArea.objects.get(country="HN", level=2, code="0801").name == "Distrito Central"
    assert AdminArea.objects.get(country="US", code="06").iso_3166_2 == "US-CA"


def test_names_are_folded_for_accent_insensitive_lookup():
    area = AdminArea.objects.get(country="MX", level=1, code="16")
    assert (area.name, area.name_folded) == ("Michoacán de Ocampo", "michoacan de ocampo")


def test_load_geo_is_idempotent_and_prints_counts():
    before = dict(AdminArea.objects.values_list("country").annotate(n=Count("id")))
    ids = set(AdminArea.objects.values_list("pk", flat=True))
    out = StringIO()
    with translation.override("en"):
        call_command("load_geo", stdout=out)
    text = out.getvalue()
    assert "0 created" in text
    assert "MX" in text and "2478" in text and "298" in text
    assert dict(AdminArea.objects.values_list("country").annotate(n=Count("id"))) == before
    assert set(AdminArea.objects.values_list("pk", flat=True)) == ids


def test_load_geo_restores_a_missing_area_and_a_changed_name():
    area = AdminArea.objects.get(country="MX", level=2, code="07089")
    AdminArea.objects.filter(pk=area.pk).update(name="Tapachula (typo)", name_folded="tapachula typo")
    AdminArea.objects.get(country="US", code="02").delete()
    out = StringIO()
    with translation.override("en"):
        call_command("load_geo", stdout=out)
    assert "1 created" in out.getvalue()
    area.refresh_from_db()
    assert (area.name, area.name_folded) == ("Tapachula", "tapachula")
    assert AdminArea.objects.filter(country="US").count() == 51
