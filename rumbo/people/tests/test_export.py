"""Controlled export: who may export, what is exported, and the audit trail it leaves."""

from __future__ import annotations

import csv
import io

import pytest

from rumbo.audit.models import Action, AuditEvent
from rumbo.people.services import person_export
from rumbo.people.tests.utils import make_person

URL = "/people/export.csv"


def _rows(response) -> list[list[str]]:
    text = response.content.decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def people(world):
    ana = make_person(world.caseworker, world.michoacan, given_names="Ana", first_surname="Ramírez")
    beto = make_person(world.caseworker, world.michoacan, given_names="=HYPERLINK(1)", first_surname="Núñez")
    jal = make_person(world.jalisco_caseworker, world.jalisco, given_names="Carla", first_surname="Ramírez")
    return ana, beto, jal


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 302), ("no_role", 403), ("caseworker", 403), ("auditor", 403), ("admin", 200)],
)
def test_export_permission_matrix(world, people, client, persona, status):
    if persona != "anonymous":
        client = world.client_for(getattr(world, persona))
    response = client.get(URL)
    assert response.status_code == status


def test_export_contains_only_the_admins_offices_and_audits_each_person(world, people):
    ana, beto, jal = people
    response = world.client_for(world.admin).get(URL)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    ids = {row[0] for row in rows[1:]}
    assert ids == {str(ana.pk), str(beto.pk)}
    assert str(jal.pk) not in ids
    events = AuditEvent.objects.filter(action=Action.PERSON_EXPORT)
    assert sorted(events.values_list("object_id", flat=True)) == sorted([str(ana.pk), str(beto.pk)])
    assert all(e.actor == world.admin and e.office == world.michoacan for e in events)


def test_export_neutralises_spreadsheet_formulas(world, people):
    rows = _rows(world.client_for(world.admin).get(URL))
    given = [row[2] for row in rows[1:]]
    assert "'=HYPERLINK(1)" in given


def test_export_with_a_query_exports_only_the_matches(world, people):
    ana, _beto, _jal = people
    rows = person_export(actor=world.admin, query="ramirez")
    assert [row[0] for row in rows[1:]] == [str(ana.pk)]


def test_jalisco_caseworker_cannot_export_michoacan_people(world, people):
    response = world.client_for(world.jalisco_caseworker).get(URL)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=Action.PERSON_EXPORT).exists()


def test_export_over_the_limit_is_refused_not_cut_short(world, people, monkeypatch):
    from django.core.exceptions import ValidationError

    from rumbo.people.services import exports

    monkeypatch.setattr(exports, "EXPORT_LIMIT", 1)
    with pytest.raises(ValidationError) as caught:
        person_export(actor=world.admin)
    assert caught.value.code == "too_many"
    assert person_export(actor=world.admin, query="ana")[1][2] == "Ana"  # a narrower search is exported
    client = world.client_for(world.admin)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.get(URL, {"q": "lopez"}, follow=True)  # Ana and Beto, both "López"
    assert response.redirect_chain[-1][0] == "/people/?q=lopez"
    assert "More than 1 persons match: narrow the search to export them." in response.content.decode()
    assert AuditEvent.objects.filter(action=Action.PERSON_EXPORT).count() == 1  # the narrower export only


def test_export_of_a_search_beyond_the_search_cap_is_refused(world, people, monkeypatch):
    from django.core.exceptions import ValidationError

    from rumbo.people import selectors
    from rumbo.people.services import exports

    monkeypatch.setattr(selectors, "SEARCH_CAP", 1)
    monkeypatch.setattr(exports, "SEARCH_CAP", 1)
    with pytest.raises(ValidationError):
        person_export(actor=world.admin, query="lopez")  # Ana and Beto match
