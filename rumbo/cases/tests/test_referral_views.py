"""Tests of the referral pages: permission matrix of every view, sending from a case (consent shown and
checked, errors at the field), status updates, the PDF letter, the office list with filters, the case panel
on the case page, and what a transfer does to visibility."""

from __future__ import annotations

import datetime
import io
from datetime import UTC

import pytest
import time_machine
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import CaseAccess, CaseTransfer, FollowUpTask, Referral, ReferralStatus
from rumbo.cases.services.referrals import referral_send, referral_update_status
from rumbo.cases.tests.referral_support import (
    child,
    client,
    give_consent,
    institution,
    offering,
    open_case,
    returnee,
    scenario,
    service,
)

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def s(world):
    return scenario(world)


# --- Permission matrix --------------------------------------------------------------------------------

PERSONAS = ("no_role", "caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker")

# (route, object, method, expected per persona in PERSONAS order)
MATRIX = [
    ("cases:referral_list", None, "get", (403, 200, 200, 200, 403, 403, 200)),
    ("cases:referral_detail", "referral", "get", (403, 200, 200, 200, 403, 403, 404)),
    ("cases:referral_letter", "referral", "get", (403, 200, 200, 403, 403, 403, 404)),
    ("cases:referral_case", "case", "get", (403, 200, 200, 200, 403, 403, 404)),
    ("cases:referral_send", "case", "get", (403, 200, 200, 403, 403, 403, 404)),
    ("cases:referral_status", "referral", "post", (403, 200, 200, 403, 403, 403, 404)),
]


@pytest.mark.parametrize(("route", "obj", "method", "expected"), MATRIX)
def test_permission_matrix(world, s, route, obj, method, expected):
    url = reverse(route, args=[getattr(s, obj).pk] if obj else [])
    anonymous = getattr(client(world, "anonymous"), method)(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = getattr(client(world, persona), method)(url)
        assert response.status_code == status, (route, persona, response.status_code)


def test_status_route_refuses_get(world, s):
    response = client(world, "caseworker").get(reverse("cases:referral_status", args=[s.referral.pk]))
    assert response.status_code == 405


def test_other_office_sees_no_referral_in_its_list(world, s):
    response = client(world, "jalisco_caseworker").get(reverse("cases:referral_list"))
    assert response.status_code == 200
    assert "José Hernández" not in response.content.decode()
    assert "No referrals yet" in response.content.decode()


# --- Sending ------------------------------------------------------------------------------------------


def test_send_page_lists_offerings_needs_first_and_consent_per_person(world, s):
    curp = offering(
        world, svc=service(world, "curp", need="documents", name="CURP"), inst=institution(world, "RC")
    )
    assert curp.pk
    page = client(world, "caseworker").get(reverse("cases:referral_send", args=[s.case.pk])).content.decode()
    assert page.index('<optgroup label="Servicio imss — answers a need of the case">') < page.index(
        '<optgroup label="CURP">'
    )
    assert "given on" in page  # José's consent
    assert "not given" in page  # his daughter's
    assert "Send without consent" not in page  # caseworkers may not override


def test_send_without_consent_shows_the_message_at_the_top_and_saves_nothing(world, s):
    c = client(world, "caseworker")
    url = reverse("cases:referral_send", args=[s.case.pk])
    response = c.post(url, {"person": s.kid.pk, "offering": s.offering.pk, "reason": "Control"})
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors == [
        "Ana Hernández López has not agreed to share data with institutions: record the consent first."
    ]
    assert "has not agreed to share data" in response.content.decode()
    assert Referral._base_manager.count() == 1


def test_caseworker_override_is_refused_at_the_field(world, s):
    c = client(world, "caseworker")
    url = reverse("cases:referral_send", args=[s.case.pk])
    response = c.post(url, {"person": s.kid.pk, "offering": s.offering.pk, "override_reason": "Urgente"})
    assert response.status_code == 200
    assert response.context["form"].errors["override_reason"] == [
        "You may not send a referral without consent."
    ]
    assert "You may not send a referral without consent." in response.content.decode()
    assert Referral._base_manager.count() == 1


def test_admin_override_with_reason_sends(world, s):
    c = client(world, "admin")
    url = reverse("cases:referral_send", args=[s.case.pk])
    assert "Send without consent" in c.get(url).content.decode()
    response = c.post(
        url, {"person": s.kid.pk, "offering": s.offering.pk, "override_reason": "Urgencia médica"}
    )
    referral = Referral._base_manager.exclude(pk=s.referral.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "cases:referral_detail", args=[referral.pk]
    )
    assert referral.consent_override_reason == "Urgencia médica"
    assert AuditEvent.objects.filter(
        action=Action.REFERRAL_CONSENT_OVERRIDE, object_id=str(referral.pk)
    ).exists()


def test_send_with_consent_redirects_to_the_referral(world, s):
    give_consent(world.caseworker, s.kid)
    response = client(world, "caseworker").post(
        reverse("cases:referral_send", args=[s.case.pk]),
        {"person": s.kid.pk, "offering": s.offering.pk, "reason": "Vacunas"},
    )
    referral = Referral._base_manager.get(person=s.kid)
    assert response.status_code == 302
    assert referral.reason == "Vacunas" and referral.consent is not None


def test_expired_offerings_are_not_offered(world, s):
    old = offering(
        world,
        svc=service(world, "programa-2025", need="financial"),
        inst=institution(world, "Programa 2025"),
        valid_from=datetime.date(2025, 1, 1),
        valid_until=datetime.date(2025, 12, 31),
    )
    c = client(world, "caseworker")
    url = reverse("cases:referral_send", args=[s.case.pk])
    assert "Programa 2025" not in c.get(url).content.decode()
    response = c.post(url, {"person": s.person.pk, "offering": old.pk})
    assert "offering" in response.context["form"].errors
    assert Referral._base_manager.count() == 1


# --- Detail, status, letter ---------------------------------------------------------------------------


def test_detail_shows_history_and_is_audited(world, s):
    response = client(world, "auditor").get(reverse("cases:referral_detail", args=[s.referral.pk]))
    page = response.content.decode()
    assert "IMSS UMF 80" in page and "José Hernández López" in page
    assert "Record what happened" not in page  # auditors only read
    assert AuditEvent.objects.filter(
        action=Action.CASE_VIEW,
        object_type="cases.referral",
        object_id=str(s.referral.pk),
        actor=world.auditor,
    ).exists()


def test_status_update_through_the_page_until_delivered(world, s):
    c = client(world, "caseworker")
    url = reverse("cases:referral_status", args=[s.referral.pk])
    assert c.post(url, {"status": "accepted", "note": "Cita el 5"}).status_code == 302
    response = c.post(url, {"status": "delivered", "outcome": "Afiliado"}, follow=True)
    assert "A follow-up is planned in one month." in response.content.decode()
    s.referral.refresh_from_db()
    assert s.referral.status == ReferralStatus.DELIVERED and s.referral.outcome == "Afiliado"
    assert FollowUpTask._base_manager.filter(referral=s.referral, due_on=datetime.date(2026, 4, 2)).exists()


def test_a_move_that_is_not_allowed_is_an_error_at_the_field(world, s):
    response = client(world, "caseworker").post(
        reverse("cases:referral_status", args=[s.referral.pk]), {"status": "delivered"}
    )
    assert response.status_code == 200
    assert "status" in response.context["form"].errors


def test_letter_is_an_inline_pdf_and_audited(world, s):
    response = client(world, "caseworker").get(reverse("cases:referral_letter", args=[s.referral.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="canalizacion-{s.referral.pk:06d}.pdf"'
    assert response.content.startswith(b"%PDF")
    pypdf = pytest.importorskip("pypdf")
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert "José Hernández López" in text and "Oficio de canalización" in text
    assert AuditEvent.objects.filter(action=Action.REFERRAL_LETTER, object_id=str(s.referral.pk)).count() == 1


def test_a_letter_that_may_not_be_printed_goes_back_to_the_referral_with_the_reason(world, s):
    referral_update_status(actor=world.caseworker, referral=s.referral, status="cancelled")
    c = client(world, "caseworker")
    response = c.get(reverse("cases:referral_letter", args=[s.referral.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:referral_detail", args=[s.referral.pk])
    page = c.get(response["Location"]).content.decode()
    assert "its letter can no longer be printed" in page
    assert reverse("cases:referral_letter", args=[s.referral.pk]) not in page
    assert not AuditEvent.objects.filter(action=Action.REFERRAL_LETTER).exists()


def test_the_auditor_sees_no_letter_link(world, s):
    page = client(world, "auditor").get(reverse("cases:referral_detail", args=[s.referral.pk])).content
    assert reverse("cases:referral_letter", args=[s.referral.pk]) not in page.decode()
    panel = client(world, "auditor").get(reverse("cases:referral_case", args=[s.case.pk])).content
    assert reverse("cases:referral_letter", args=[s.referral.pk]) not in panel.decode()


# --- List ---------------------------------------------------------------------------------------------


def test_list_filters_by_status_institution_and_service(world, s):
    other = offering(
        world, svc=service(world, "curp", need="documents", name="CURP"), inst=institution(world, "RC")
    )
    second = referral_send(actor=world.caseworker, case=s.case, person=s.person, offering=other)
    referral_update_status(actor=world.caseworker, referral=second, status="cancelled")
    c = client(world, "caseworker")
    url = reverse("cases:referral_list")
    assert list(c.get(url).context["page"].object_list) == [second, s.referral]
    assert list(c.get(url, {"status": "sent"}).context["page"].object_list) == [s.referral]
    assert list(c.get(url, {"institution": other.institution_id}).context["page"].object_list) == [second]
    assert list(c.get(url, {"service": s.service.pk}).context["page"].object_list) == [s.referral]
    empty = c.get(url, {"status": "delivered"})
    assert "No referral matches these filters." in empty.content.decode()
    assert c.get(url, {"status": "bogus", "institution": "x", "page": "999"}).status_code == 200


def test_list_paginates(world, s):
    for _ in range(26):
        referral_send(actor=world.caseworker, case=s.case, person=s.person, offering=s.offering)
    c = client(world, "caseworker")
    first = c.get(reverse("cases:referral_list"))
    assert len(first.context["page"].object_list) == 25 and first.context["page"].has_next()
    second = c.get(reverse("cases:referral_list"), {"page": 2})
    assert len(second.context["page"].object_list) == 2


# --- The case panel -----------------------------------------------------------------------------------


def test_case_page_shows_the_referral_panel(world, s):
    page = client(world, "caseworker").get(reverse("cases:detail", args=[s.case.pk])).content.decode()
    assert 'id="h-referrals"' in page
    assert "IMSS UMF 80" in page
    assert reverse("cases:referral_send", args=[s.case.pk]) in page
    assert reverse("cases:referral_letter", args=[s.referral.pk]) in page


def test_auditor_sees_the_panel_without_the_send_button(world, s):
    page = client(world, "auditor").get(reverse("cases:referral_case", args=[s.case.pk])).content.decode()
    assert "IMSS UMF 80" in page
    assert reverse("cases:referral_send", args=[s.case.pk]) not in page


def test_empty_panel(world):
    person = returnee(world)
    case = open_case(world, person)
    page = client(world, "caseworker").get(reverse("cases:referral_case", args=[case.pk])).content.decode()
    assert "No referrals yet." in page and "No procedures under way." in page


# --- Transfers move visibility ------------------------------------------------------------------------


def _transfer_to_jalisco(world, case):
    """Move the case (and its people) to Jalisco as an accepted transfer does, with the sending office's
    read access kept."""
    from rumbo.cases.models import Case
    from rumbo.people.models import Person

    transfer = CaseTransfer.objects.create(
        case=case, from_office=world.michoacan, to_office=world.jalisco, reason="Se mudó", status="accepted"
    )
    Case._base_manager.filter(pk=case.pk).update(office=world.jalisco)
    Person._base_manager.filter(pk__in=[case.person_id, *case.members.values_list("pk", flat=True)]).update(
        office=world.jalisco
    )
    CaseAccess.objects.create(case=case, office=world.michoacan, transfer=transfer)


def test_a_transfer_moves_visibility_and_the_sender_keeps_what_it_recorded(world, s):
    _transfer_to_jalisco(world, s.case)
    jorge = client(world, "jalisco_caseworker")
    # The receiving office sees the case's referrals (also those recorded in Michoacán) and may update them.
    assert jorge.get(reverse("cases:referral_detail", args=[s.referral.pk])).status_code == 200
    assert s.referral in jorge.get(reverse("cases:referral_list")).context["page"].object_list
    assert (
        jorge.post(reverse("cases:referral_status", args=[s.referral.pk]), {"status": "accepted"}).status_code
        == 302
    )
    # The sending office still reads what it recorded, but no longer changes it or sends new ones.
    lucia = client(world, "caseworker")
    assert lucia.get(reverse("cases:referral_detail", args=[s.referral.pk])).status_code == 200
    page = lucia.get(reverse("cases:referral_case", args=[s.case.pk])).content.decode()
    assert "IMSS UMF 80" in page and "you see the referrals your office recorded" in page
    assert lucia.get(reverse("cases:referral_send", args=[s.case.pk])).status_code == 404
    assert (
        lucia.post(
            reverse("cases:referral_status", args=[s.referral.pk]), {"status": "delivered"}
        ).status_code
        == 403
    )


def test_referrals_recorded_by_the_new_office_stay_hidden_from_the_old_one(world, s):
    _transfer_to_jalisco(world, s.case)
    jal_offering = offering(
        world,
        svc=service(world, "imss", office=world.jalisco),
        inst=institution(world, "IMSS GDL", office=world.jalisco),
    )
    s.person.refresh_from_db()
    from rumbo.cases.models import Case

    case = Case._base_manager.get(pk=s.case.pk)
    new = referral_send(actor=world.jalisco_caseworker, case=case, person=s.person, offering=jal_offering)
    lucia = client(world, "caseworker")
    assert lucia.get(reverse("cases:referral_detail", args=[new.pk])).status_code == 404
    assert "IMSS GDL" not in lucia.get(reverse("cases:referral_case", args=[case.pk])).content.decode()


def test_closed_case_cannot_get_new_referrals(world, s):
    from rumbo.cases.services import case_set_status

    case_set_status(actor=world.caseworker, case=s.case, status="closed", reason="Atendido")
    response = client(world, "caseworker").get(reverse("cases:referral_send", args=[s.case.pk]))
    assert response.status_code == 302
    kid = child(world, s.person, given="Luis")
    assert kid.pk
