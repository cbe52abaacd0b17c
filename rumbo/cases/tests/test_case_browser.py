"""The casework pages in a real browser, in Spanish: from the person's page, record a return with the two
children, open a case with them and two needs, write a note and attach a file; the case shows everything.
Debian's Chromium driven by Playwright against Django's live server (the fixtures of ``tests/browser``).

Set ``RUMBO_SCREENSHOTS=/some/folder`` to keep a screenshot of each page."""

from __future__ import annotations

import pytest
from django.test import Client

from rumbo.accounts.testing import login_verified
from rumbo.cases.models import Case, ReturnEvent, ReturnPoint
from rumbo.cases.services.returns import load_return_points
from rumbo.cases.tests.casework_utils import make_family
from rumbo.geo.models import AdminArea
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (Playwright fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_return_and_case_for_a_family(live_server, page, world, settings, tmp_path):  # noqa: F811
    settings.DATA_DIR = tmp_path
    load_return_points(ReturnPoint, AdminArea)  # a transactional test starts from emptied tables
    family = make_family(world.caseworker, world.michoacan)
    client = login_verified(Client(), world.caseworker)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    page.goto(f"{live_server.url}/people/{family.parent.pk}/")
    assert page.locator("html").get_attribute("lang") == "es"
    page.click(f"a[href='/cases/people/{family.parent.pk}/returns/new/']")
    page.fill("input[name=returned_on]", "2025-11-20")
    page.select_option("select[name=how]", "deportation")
    tijuana = ReturnPoint.objects.get(name="Módulo de Repatriación INM Tijuana")
    page.select_option("select[name=point]", str(tijuana.pk))
    page.select_option("select[name=us_state]", label="California")
    page.fill("input[name=months_abroad]", "150")
    for child in family.children:
        page.check(f"input[name=companions][value='{child.pk}']")
    screenshot(page, "1-return-form")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/people/{family.parent.pk}/")
    event = ReturnEvent.objects.get()
    assert event.companions.count() == 2
    screenshot(page, "2-person-page")

    page.click(f"a[href='/cases/open/{family.parent.pk}/']")
    for child in family.children:
        page.check(f"input[name=members][value='{child.pk}']")
    page.check("input[name=need_health]")
    page.fill("input[name=need_health_note]", "Afiliación al IMSS")
    page.fill("input[name=need_schooling_note]", "Inscripción de Mateo y Sofía")
    page.select_option("select[name=priority]", "high")
    screenshot(page, "3-case-form")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/cases/*/")
    case = Case.objects.get()
    assert case.return_event_id == event.pk
    assert set(case.needs.values_list("need", flat=True)) == {"health", "schooling"}

    page.fill("textarea[name=text]", "Primera entrevista: la familia vive con la abuela.")
    page.click(f"form[action='/cases/{case.pk}/notes/'] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/cases/{case.pk}/")
    pdf = tmp_path / "acta.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    page.set_input_files("input[name=file]", str(pdf))
    page.click(f"form[action='/cases/{case.pk}/attachments/'] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/cases/{case.pk}/")
    text = page.locator("main").inner_text()
    assert case.number in text
    assert "Afiliación al IMSS" in text and "Mateo" in text and "Sofía" in text
    assert "Primera entrevista" in text and "acta.pdf" in text
    screenshot(page, "4-case-page")

    page.goto(f"{live_server.url}/cases/?need=schooling")
    assert case.number in page.locator("main").inner_text()
    screenshot(page, "5-case-list")
