"""Issue 5's walk-through in a real browser, in Spanish, from the log-in page: register a returnee and two
children → link the children to the household → record the return with them → record the consent to refer →
open a case → refer the returnee to the IMSS → the IMSS accepts and delivers the service → a follow-up task
appears one month after the delivery, on the case and in "Mis tareas".

Every click and field is found by its Spanish text or its name, as a caseworker sees it. Debian's Chromium driven
by Playwright against Django's live server (the fixtures of ``tests/browser``). The office's service directory
is the default catalogue with its demonstration institutions (``rumbo seed_directory --demo``), set up before.

Set ``RUMBO_SCREENSHOTS=/some/folder`` to keep a screenshot of each step."""

from __future__ import annotations

import re
from datetime import date

import pytest

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Case, FollowUpTask, Referral, ReferralStatus, ReturnEvent, ReturnPoint
from rumbo.cases.services.directory import directory_seed
from rumbo.cases.services.returns import load_return_points
from rumbo.cases.services.tasks import add_months, local_date
from rumbo.geo.models import AdminArea
from rumbo.people.models import ConsentPurpose, ConsentRecord, HouseholdRelation, Person
from tests.browser.conftest import browser, page, screenshot, settle  # noqa: F401  (Playwright fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _register(page, base: str, given: str, sex: str, born: str, phone: str = "") -> Person:  # noqa: F811
    """Register a person from "Registrar persona"; a child with the parent's surnames may be shown the parent
    as a possible match first: the caseworker then registers a new person anyway."""
    page.goto(f"{base}/people/new/")
    page.fill("input[name=given_names]", given)
    page.fill("input[name=first_surname]", "Ramírez")
    page.fill("input[name=second_surname]", "Tapia")
    page.select_option("select[name=sex]", sex)
    page.fill("input[name=birth_date]", born)
    if phone:
        page.fill("input[name='phones-0-number']", phone)
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_load_state()
    if not re.search(r"/people/\d+/$", page.url):
        # Either the possible matches or a flagged field: both are confirmed by the same button.
        page.get_by_role("button", name=re.compile("Ninguna de estas|Guardar de todos modos")).click()
    page.wait_for_url(re.compile(r"/people/\d+/$"))
    return Person.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))


def test_returnee_with_two_children_referred_to_the_imss(
    live_server,
    page,  # noqa: F811
    world,
    password,
    settings,
    tmp_path,
):
    settings.DATA_DIR = tmp_path
    load_return_points(ReturnPoint, AdminArea)  # a transactional test starts from emptied tables
    directory_seed(office=world.michoacan, demo=True)
    base = live_server.url

    # Log in as the Michoacán caseworker, in Spanish.
    page.goto(f"{base}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "es"
    page.fill("input[name=username]", world.caseworker.username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/")

    # Register the returnee and the two children.
    father = _register(page, base, "Juan Carlos", "M", "1984-06-02", phone="443 555 0101")
    screenshot(page, "walk-1-returnee")
    mateo = _register(page, base, "Mateo", "M", "2015-09-10")
    sofia = _register(page, base, "Sofía", "F", "2018-01-22")
    assert {p.office_id for p in (father, mateo, sofia)} == {world.michoacan.pk}

    # Link the children to the father's household: the father is their parent.
    page.goto(f"{base}/people/{father.pk}/")
    page.get_by_role("link", name="Núcleo familiar").click()
    for child, name in ((mateo, "Mateo"), (sofia, "Sofía")):
        page.fill("input[name=q]", f"{name} Ramírez")
        page.get_by_role("button", name="Buscar").click()
        row = page.locator(f"form:has(input[name=relative][value='{child.pk}'])")
        row.locator("select[name=relation]").select_option("parent")
        row.get_by_role("button", name="Vincular").click()
        page.wait_for_url(re.compile(rf"/people/{father.pk}/household/"))
    assert set(HouseholdRelation.objects.filter(person=father).values_list("relative", "relation")) == {
        (mateo.pk, "parent"),
        (sofia.pk, "parent"),
    }
    screenshot(page, "walk-2-household")

    # Record the return: deported through Tijuana from California, with both children.
    page.goto(f"{base}/people/{father.pk}/")
    page.get_by_role("link", name="Registrar un retorno").click()
    page.get_by_label("Fecha de retorno").fill("2026-11-20")
    page.select_option("select[name=how]", "deportation")
    tijuana = page.locator("select[name=point] option", has_text="Tijuana").first.get_attribute("value")
    page.select_option("select[name=point]", tijuana)
    page.select_option("select[name=us_state]", label="California")
    page.fill("input[name=months_abroad]", "96")
    for child in (mateo, sofia):
        page.check(f"input[name=companions][value='{child.pk}']")
    screenshot(page, "walk-3-return")
    page.get_by_role("button", name="Registrar el retorno").click()
    page.wait_for_url(f"{base}/people/{father.pk}/")
    event = ReturnEvent.objects.get(person=father)
    assert event.point is not None and "Tijuana" in event.point.name
    assert set(event.companions.values_list("pk", flat=True)) == {mateo.pk, sofia.pk}

    # Consent to share his data with the institutions he is referred to, given verbally.
    page.get_by_role("link", name="Registrar consentimiento").click()
    page.check(f"input[name=purpose][value='{ConsentPurpose.REFERRAL}']")
    page.locator("main form[method=post] button[type=submit]").click()
    page.wait_for_load_state()
    assert ConsentRecord.objects.filter(
        person=father, purpose=ConsentPurpose.REFERRAL, status=ConsentRecord.Status.GIVEN
    ).exists()

    # Open the case with both children, the health need noted.
    page.goto(f"{base}/people/{father.pk}/")
    page.get_by_role("link", name="Abrir un caso").click()
    for child in (mateo, sofia):
        page.check(f"input[name=members][value='{child.pk}']")
    page.check("input[name=need_health]")
    page.fill("input[name=need_health_note]", "Afiliación al IMSS de la familia")
    screenshot(page, "walk-4-case-form")
    page.get_by_role("button", name="Abrir el caso").click()
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    case = Case.objects.get(person=father)
    assert set(case.members.values_list("pk", flat=True)) == {mateo.pk, sofia.pk}
    assert case.return_event_id == event.pk

    # Refer him to the IMSS: the page shows his consent, the IMSS offering answers the case's health need.
    page.goto(f"{base}/cases/{case.pk}/referrals/new/")
    consent_card = page.locator("section[aria-labelledby=h-consent]").inner_text()
    assert "otorgado el" in consent_card, consent_card
    imss = page.locator("select[name=offering] option", has_text="IMSS").first.get_attribute("value")
    assert imss
    page.select_option("select[name=person]", str(father.pk))
    page.select_option("select[name=offering]", imss)
    page.fill("textarea[name=reason]", "Afiliación al seguro de salud para él y sus dos hijos.")
    screenshot(page, "walk-5-referral")
    page.get_by_role("button", name="Enviar la canalización").click()
    page.wait_for_load_state()
    referral = Referral.objects.get(case=case)
    assert referral.status == ReferralStatus.SENT
    assert referral.consent is not None and referral.consent.purpose == ConsentPurpose.REFERRAL
    assert "IMSS" in referral.offering.institution.name

    # The IMSS accepts, then delivers the service; the outcome is recorded.
    page.goto(f"{base}/cases/referrals/{referral.pk}/")
    page.select_option("select[name=status]", ReferralStatus.ACCEPTED)
    page.get_by_role("button", name="Guardar").click()
    page.wait_for_url(re.compile(rf"/referrals/{referral.pk}/"))
    page.goto(f"{base}/cases/referrals/{referral.pk}/")
    page.select_option("select[name=status]", ReferralStatus.DELIVERED)
    page.fill("textarea[name=outcome]", "Afiliado con NSS 12345678901; los hijos como beneficiarios.")
    page.get_by_role("button", name="Guardar").click()
    page.wait_for_url(re.compile(rf"/referrals/{referral.pk}/"))
    page.goto(f"{base}/cases/referrals/{referral.pk}/")
    assert "Servicio prestado" in page.inner_text("main")
    screenshot(page, "walk-6-delivered")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.DELIVERED and referral.delivered_at is not None

    # The follow-up of the delivery: one task, due one month after the day of delivery in the office's zone.
    task = FollowUpTask.objects.get(referral=referral)
    due = add_months(local_date(referral.delivered_at, world.michoacan), 1)
    assert task.due_on == due
    assert task.assigned_to == world.caseworker
    shown = due.strftime("%d/%m/%Y")
    page.goto(f"{base}/cases/{case.pk}/")
    panel = page.locator("#case-tasks").inner_text()
    assert shown in panel and task.title in panel, panel
    page.goto(f"{base}/cases/tasks/")
    mine = page.locator("main").inner_text()
    assert task.title in mine and shown in mine, mine
    screenshot(page, "walk-7-my-tasks")
    assert due > date.today()

    settle(page)  # the last page's requests are over before the audit trail is read
    assert AuditEvent.objects.filter(action=Action.PERSON_CREATE, object_id=str(father.pk)).exists()
    assert AuditEvent.objects.filter(action=Action.REFERRAL_UPDATE, object_id=str(referral.pk)).exists()
