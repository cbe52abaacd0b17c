"""AdminArea in the Django admin: browse and correct, never add or delete; keys read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import UserFactory
from rumbo.offices.tests.clients import signed_in


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_areas_can_be_searched_but_not_added_or_deleted(root):
    client = signed_in(root)
    listing = client.get(reverse("admin:geo_adminarea_changelist"), {"q": "tapachula"})
    assert listing.status_code == 200
    assert "Tapachula" in listing.content.decode()
    assert client.get(reverse("admin:geo_adminarea_add")).status_code == 403
    area = AdminArea.objects.get(country="MX", level=2, code="07089")
    assert (
        client.post(reverse("admin:geo_adminarea_delete", args=[area.pk]), {"post": "yes"}).status_code == 403
    )
    assert AdminArea.objects.filter(pk=area.pk).exists()


def test_correcting_a_name_refolds_it_and_keys_stay_read_only(root):
    area = AdminArea.objects.get(country="MX", level=2, code="07089")
    response = signed_in(root).post(
        reverse("admin:geo_adminarea_change", args=[area.pk]),
        {"name": "Tapachula de Córdova", "code": "99999", "lat": "14.9", "lon": "-92.26", "population": "1"},
    )
    assert response.status_code == 302
    area.refresh_from_db()
    assert (area.name, area.name_folded, area.code) == (
        "Tapachula de Córdova",
        "tapachula de cordova",
        "07089",
    )
