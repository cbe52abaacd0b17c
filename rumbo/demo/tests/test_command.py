"""``rumbo demo``: builds the network and persons, prints how to log in, and can be run again safely."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation
from django_scopes import scope

from rumbo.audit.models import Action, AuditEvent
from rumbo.demo.network import OFFICES
from rumbo.offices.models import Membership, Office, Role
from rumbo.offices.permissions import member_office_ids
from rumbo.people.models import Person, SearchToken
from rumbo.people.selectors import person_search


def demo(*args: str, **options: object) -> str:
    """Run the command; its output in English (the default language is Spanish)."""
    out = StringIO()
    with translation.override("en"):
        call_command("demo", *args, "--no-progress", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def small_demo(settings):
    return demo("--demo-persons", "150")


def test_demo_builds_every_office_role_and_persons(small_demo, settings):
    assert set(Office.objects.values_list("code", flat=True)) == {s.code for s in OFFICES}
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    assert Person.objects.count() == 150
    assert SearchToken.objects.count() > 150 * 4
    assert "caseworker.michoacan" in small_demo
    assert settings.RUMBO_DEMO_PASSWORD in small_demo
    assert "http://127.0.0.1:8000/" in small_demo


def test_demo_writes_one_audit_event_summarising_it(small_demo):
    event = AuditEvent.objects.get(action=Action.DEMO_GENERATE)
    assert event.detail["persons"] == 150
    assert event.detail["rows"]["people.Person"] == 150


def test_demo_caseworker_finds_a_demo_person_by_name(small_demo):
    from django.contrib.auth import get_user_model

    caseworker = get_user_model().objects.get(username="caseworker.michoacan")
    person = Person.objects.filter(office__code="ofam-mich").order_by("id").first()
    with scope(office=list(member_office_ids(caseworker))):
        found = person_search(caseworker, f"{person.given_names} {person.first_surname}")
        ids = [p.pk for p in found.persons]
        while person.pk not in ids and found.has_next:
            found = person_search(
                caseworker, f"{person.given_names} {person.first_surname}", page=found.page + 1
            )
            ids = [p.pk for p in found.persons]
    assert person.pk in ids


def test_other_office_caseworker_does_not_find_that_person(small_demo):
    from django.contrib.auth import get_user_model

    jalisco = get_user_model().objects.get(username="caseworker.jalisco")
    person = Person.objects.filter(office__code="ofam-mich").order_by("id").first()
    with scope(office=list(member_office_ids(jalisco))):
        found = person_search(jalisco, f"{person.given_names} {person.first_surname} {person.second_surname}")
    assert person.pk not in [p.pk for p in found.persons]


def test_if_empty_does_nothing_when_the_network_exists(small_demo):
    events = AuditEvent.objects.count()
    out = demo("--if-empty")
    assert Person.objects.count() == 150
    assert AuditEvent.objects.count() == events
    assert "already exists" in out
    assert "admin.michoacan" in out  # the credentials are printed again


def test_running_demo_again_adds_no_duplicate_persons(small_demo):
    out = demo("--demo-persons", "150")
    assert Person.objects.count() == 150
    assert "none added" in out


def test_bulk_persons_can_be_added_twice(settings):
    first = demo("--persons", "2000")
    assert Person.objects.count() == 2000
    assert "2,000 persons generated" in first
    assert "persons/s" in first
    demo("--persons", "2000")
    assert Person.objects.count() == 4000
    assert SearchToken.objects.values("person_id").distinct().count() == 4000
    assert Office.objects.count() == len(OFFICES)
    # The second run has its own seed: new people, not copies of the first 2,000.
    names = list(Person.objects.order_by("id").values_list("given_names", "first_surname", "second_surname"))
    assert names[:2000] != names[2000:]
