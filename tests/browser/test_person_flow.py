"""The issue-2 walk-through in a real browser: log in → register a person → find them by a search with a
misspelt accent → open the detail. Debian's Chromium driven by Playwright against Django's live server."""

from __future__ import annotations

import re

import pytest

from rumbo.audit.models import Action, AuditEvent
from rumbo.people.models import Person
from tests.browser.conftest import settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_caseworker_registers_a_person_and_finds_them_with_a_misspelt_accent(
    live_server, page, world, password
):
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", world.caseworker.username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")

    # Register: search-first creation shows no match in an empty registry, so the person is created at once.
    page.goto(f"{base}/people/new/")
    page.fill("input[name=given_names]", "José Ángel")
    page.fill("input[name=first_surname]", "Hernández")
    page.fill("input[name=second_surname]", "Núñez")
    page.select_option("select[name=sex]", "M")
    page.fill("input[name=birth_date]", "1985-03-14")
    page.fill("input[name='phones-0-number']", "443 123 4567")
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_url(re.compile(r"/people/\d+/$"))
    person = Person.objects.get(first_surname="Hernández")
    assert person.office == world.michoacan
    assert person.phones.get().e164 == "+524431234567"

    # Search with the accents in the wrong places and in lower case.
    page.goto(f"{base}/people/")
    page.fill("input[name=q]", "josè hernandéz")
    page.keyboard.press("Enter")
    link = page.locator(f"a[href='/people/{person.pk}/']").first
    link.wait_for()
    link.click()
    page.wait_for_url(f"{base}/people/{person.pk}/")
    assert "José Ángel" in page.inner_text("main")
    assert "Hernández" in page.inner_text("main")
    settle(page)
    assert AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(person.pk)).exists()
    assert AuditEvent.objects.filter(action=Action.PERSON_CREATE, object_id=str(person.pk)).exists()


def test_the_interface_speaks_spanish_by_default(live_server, page):
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Iniciar sesión" in page.inner_text("main")
