"""Area autocomplete (JSON and htmx) and boundary GeoJSON: access, content, caching headers."""

from __future__ import annotations

import gzip
import json

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from rumbo.geo.models import AdminArea
from rumbo.offices.tests.clients import persona, signed_in

AREAS_MATRIX = {
    "anonymous": 302,
    "no_role": 200,  # reference data, not office data: any logged-in user
    "caseworker": 200,
    "coordinator": 200,
    "jalisco_caseworker": 200,
}


@pytest.mark.parametrize(("who", "status"), AREAS_MATRIX.items())
def test_area_lookup_permission_matrix(world, who, status):
    response = signed_in(persona(world, who)).get(reverse("geo:areas"), {"q": "tapachula"})
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("accounts:login"))


def test_area_lookup_answers_json(world):
    response = signed_in(world.caseworker).get(
        reverse("geo:areas"), {"q": "michoacan", "country": "MX", "level": "1"}
    )
    assert response["Content-Type"] == "application/json"
    (state,) = response.json()["results"]
    assert state == {
        "id": AdminArea.objects.get(country="MX", level=1, code="16").pk,
        "country": "MX",
        "level": 1,
        "code": "16",
        "name": "Michoacán de Ocampo",
        "label": "Michoacán de Ocampo (MX)",
        "parent": None,
    }


def test_area_lookup_answers_the_picker_partial_to_htmx(world):
    response = signed_in(world.caseworker).get(
        reverse("geo:areas"),
        {"field": "birth_place", "birth_place_search": "tapachula"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    tapachula = AdminArea.objects.get(country="MX", level=2, code="07089")
    assert f'data-area-id="{tapachula.pk}"' in html
    assert 'data-area-label="Tapachula, Chiapas (MX)"' in html
    assert "<script" not in html and "style=" not in html


def test_area_lookup_partial_says_when_nothing_matches(world):
    response = signed_in(world.caseworker).get(
        reverse("geo:areas"), {"q": "xqzwv"}, headers={"HX-Request": "true"}
    )
    assert "No area matches" in response.content.decode()


def test_area_lookup_rejects_writes(world):
    assert signed_in(world.caseworker).post(reverse("geo:areas"), {"q": "x"}).status_code == 405


def test_area_picker_include_has_search_box_results_list_and_hidden_id_without_inline_js(db):
    area = AdminArea.objects.get(country="MX", level=2, code="07089")
    html = render_to_string(
        "geo/area_picker.html",
        {"name": "birth_place", "label": "Place of birth", "value": area, "country": "MX"},
    )
    assert 'type="search"' in html and 'name="birth_place_search"' in html
    assert f'type="hidden" name="birth_place" id="id_birth_place" value="{area.pk}"' in html
    assert 'value="Tapachula, Chiapas (MX)"' in html
    assert f'hx-get="{reverse("geo:areas")}?field=birth_place&amp;country=MX"' in html
    assert 'id="id_birth_place_results"' in html
    assert '<script src="/static/geo/area_picker.js" defer></script>' in html
    assert "onclick" not in html and "hx-on" not in html and "style=" not in html


# --- boundaries -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_state_boundaries_are_public_geojson_with_caching_headers(client):
    response = client.get(reverse("geo:boundaries"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    assert response["Cache-Control"] == "public, max-age=604800"
    assert response["ETag"].startswith('"')
    data = json.loads(response.content)
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == 32
    assert {f["properties"]["cve_ent"] for f in data["features"]} == {f"{i:02d}" for i in range(1, 33)}


@pytest.mark.django_db
def test_boundaries_answer_304_to_a_matching_etag(client):
    etag = client.get(reverse("geo:boundaries"))["ETag"]
    again = client.get(reverse("geo:boundaries"), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag


@pytest.mark.django_db
def test_boundaries_are_gzipped_for_clients_that_accept_it(client):
    plain = client.get(reverse("geo:boundaries"))
    zipped = client.get(reverse("geo:boundaries"), headers={"Accept-Encoding": "gzip, br"})
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content
    assert len(zipped.content) < len(plain.content) / 2


@pytest.mark.django_db
def test_municipal_boundaries_of_one_state(client):
    response = client.get(reverse("geo:municipality_boundaries", args=["07"]))
    assert response["Content-Type"] == "application/geo+json"
    features = json.loads(response.content)["features"]
    assert len(features) == 124
    assert {f["properties"]["cve_ent"] for f in features} == {"07"}
    assert "07089" in {f["properties"]["cvegeo"] for f in features}
    cdmx = json.loads(client.get(reverse("geo:municipality_boundaries", args=["09"])).content)
    assert len(cdmx["features"]) == 16


@pytest.mark.django_db
@pytest.mark.parametrize("cve_ent", ["33", "00", "7", "ab", "070"])
def test_municipal_boundaries_of_an_unknown_state_are_404(client, cve_ent):
    assert client.get(f"/geo/boundaries/mx/{cve_ent}/municipalities.geojson").status_code == 404
