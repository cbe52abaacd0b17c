"""Tests of the referral services: consent checked (and its audited override), offerings valid today, the
person belongs to the case, the status flow with its dates and events, the follow-up at delivery, the
letter."""

from __future__ import annotations

import datetime
import io
from datetime import UTC

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import FollowUpTask, Referral, ReferralEvent, ReferralStatus
from rumbo.cases.services.referrals import (
    age_on,
    referral_consent,
    referral_letter,
    referral_letter_html,
    referral_send,
    referral_update_status,
)
from rumbo.cases.tests.referral_support import (
    JOSE_CURP,
    child,
    give_consent,
    institution,
    offering,
    open_case,
    returnee,
    service,
)

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 11:00 in Mexico City


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup(world):
    person = returnee(world)
    kid = child(world, person)
    case = open_case(world, person, members=(kid,), needs=("health", "schooling"))
    imss = offering(world)
    return world, person, kid, case, imss


def _events(action, obj):
    return AuditEvent.objects.filter(action=action, object_type=obj._meta.label_lower, object_id=str(obj.pk))


# --- Consent ------------------------------------------------------------------------------------------


def test_referral_without_consent_is_refused_with_a_clear_message(setup):
    world, person, _kid, case, imss = setup
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=imss)
    assert exc.value.message_dict == {
        "consent": [
            "José Hernández López has not agreed to share data with institutions: record the consent first."
        ]
    }
    assert not Referral._base_manager.exists()


def test_withdrawn_consent_counts_as_no_consent(setup):
    world, person, _kid, case, imss = setup
    give_consent(world.caseworker, person)
    give_consent(world.caseworker, person, status="withdrawn")
    assert referral_consent(person) is None
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=imss)
    assert "consent" in exc.value.message_dict


def test_referral_with_consent_is_sent_and_audited(setup):
    world, person, _kid, case, imss = setup
    consent = give_consent(world.caseworker, person)
    referral = referral_send(
        actor=world.caseworker, case=case, person=person, offering=imss, reason="Sin servicio médico"
    )
    assert referral.status == ReferralStatus.SENT
    assert referral.consent == consent
    assert referral.office == world.michoacan
    assert referral.created_by == world.caseworker
    assert list(ReferralEvent.objects.filter(referral=referral).values_list("status", flat=True)) == ["sent"]
    event = _events(Action.REFERRAL_SEND, referral).get()
    assert event.detail["consent"] == consent.pk and event.actor == world.caseworker
    assert not _events(Action.REFERRAL_CONSENT_OVERRIDE, referral).exists()


def test_override_without_permission_is_refused(setup):
    world, person, _kid, case, imss = setup
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_send(
            actor=world.caseworker, case=case, person=person, offering=imss, override_reason="Urgencia médica"
        )
    assert exc.value.message_dict == {"override_reason": ["You may not send a referral without consent."]}
    assert not Referral._base_manager.exists()
    assert not AuditEvent.objects.filter(action=Action.REFERRAL_CONSENT_OVERRIDE).exists()


def test_override_with_permission_and_reason_is_accepted_and_audited(setup):
    world, person, _kid, case, imss = setup
    referral = referral_send(
        actor=world.admin, case=case, person=person, offering=imss, override_reason="Urgencia médica"
    )
    assert referral.consent is None
    assert referral.consent_override_reason == "Urgencia médica"
    assert referral.consent_override_by == world.admin
    override = _events(Action.REFERRAL_CONSENT_OVERRIDE, referral).get()
    assert override.detail["reason"] == "Urgencia médica" and override.actor == world.admin
    assert _events(Action.REFERRAL_SEND, referral).count() == 1


def test_override_needs_a_reason_even_for_an_admin(setup):
    world, person, _kid, case, imss = setup
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.admin, case=case, person=person, offering=imss, override_reason="   ")
    assert set(exc.value.message_dict) == {"consent"}


def test_an_override_reason_is_ignored_when_consent_exists(setup):
    world, person, _kid, case, imss = setup
    give_consent(world.caseworker, person)
    referral = referral_send(actor=world.admin, case=case, person=person, offering=imss, override_reason="x")
    assert referral.consent is not None and referral.consent_override_reason == ""
    assert not AuditEvent.objects.filter(action=Action.REFERRAL_CONSENT_OVERRIDE).exists()


def test_each_member_needs_their_own_consent(setup):
    world, person, kid, case, imss = setup
    give_consent(world.caseworker, person)
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=kid, offering=imss)
    assert "consent" in exc.value.message_dict
    give_consent(world.caseworker, kid)
    referral = referral_send(actor=world.caseworker, case=case, person=kid, offering=imss)
    assert referral.person == kid


# --- Who, where, when ---------------------------------------------------------------------------------


def test_a_person_outside_the_case_is_refused(setup):
    world, _person, _kid, case, imss = setup
    stranger = returnee(world)
    give_consent(world.caseworker, stranger)
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=stranger, offering=imss)
    assert set(exc.value.message_dict) == {"person"}


def test_an_expired_offering_is_refused(setup):
    world, person, _kid, case, _imss = setup
    give_consent(world.caseworker, person)
    old = offering(
        world,
        svc=service(world, "imss-2025"),
        inst=institution(world, "IMSS decreto 2025"),
        valid_from=datetime.date(2025, 1, 24),
        valid_until=datetime.date(2025, 12, 31),
    )
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=old)
    assert exc.value.message_dict == {
        "offering": ["This offering ended on 2025-12-31: choose one that is valid today."]
    }


def test_a_future_or_switched_off_offering_is_refused(setup):
    world, person, _kid, case, imss = setup
    give_consent(world.caseworker, person)
    future = offering(
        world,
        svc=service(world, "curp", need="documents"),
        inst=institution(world, "Registro Civil"),
        valid_from=datetime.date(2026, 4, 1),
    )
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=future)
    assert "offering" in exc.value.message_dict
    imss.institution.is_active = False
    imss.institution.save()
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=imss)
    assert "offering" in exc.value.message_dict


def test_an_offering_of_another_office_is_refused(setup):
    world, person, _kid, case, _imss = setup
    give_consent(world.caseworker, person)
    other = offering(
        world, svc=service(world, "imss", office=world.jalisco), inst=institution(world, office=world.jalisco)
    )
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=other)
    assert "offering" in exc.value.message_dict


@pytest.mark.parametrize("who", ["auditor", "trainer", "coordinator", "jalisco_caseworker", "no_role"])
def test_only_those_who_may_refer_in_the_case_office_send(setup, who):
    world, person, _kid, case, imss = setup
    give_consent(world.caseworker, person)
    with pytest.raises(PermissionDenied):
        referral_send(actor=getattr(world, who), case=case, person=person, offering=imss)


# --- Status -------------------------------------------------------------------------------------------


@pytest.fixture
def sent(setup):
    world, person, _kid, case, imss = setup
    give_consent(world.caseworker, person)
    return world, referral_send(actor=world.caseworker, case=case, person=person, offering=imss)


def test_status_flow_sets_dates_events_and_outcome(sent):
    world, referral = sent
    referral_update_status(actor=world.caseworker, referral=referral, status="accepted", note="Cita el 5")
    referral.refresh_from_db()
    assert referral.accepted_at == NOW and referral.delivered_at is None and referral.closed_at is None
    later = NOW + datetime.timedelta(days=3)
    with time_machine.travel(later, tick=False):
        referral_update_status(
            actor=world.caseworker, referral=referral, status="delivered", outcome="Afiliado; NSS 12345678901"
        )
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.DELIVERED
    assert referral.delivered_at == later and referral.closed_at == later
    assert referral.outcome == "Afiliado; NSS 12345678901"
    events = list(ReferralEvent.objects.filter(referral=referral).values_list("status", "note"))
    assert events == [("sent", ""), ("accepted", "Cita el 5"), ("delivered", "")]
    updates = _events(Action.REFERRAL_UPDATE, referral).order_by("at", "id")
    assert [e.changes["status"]["new"] for e in updates] == ["accepted", "delivered"]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["rejected"], "accepted"),
        (["cancelled"], "accepted"),
        (["accepted", "no_show"], "delivered"),
        ([], "delivered"),
        ([], "no_show"),
        (["accepted"], "cancelled"),
        (["accepted"], "sent"),
    ],
)
def test_only_allowed_moves(sent, path, refused):
    world, referral = sent
    for status in path:
        referral_update_status(actor=world.caseworker, referral=referral, status=status)
    with pytest.raises(ValidationError) as exc:
        referral_update_status(actor=world.caseworker, referral=referral, status=refused)
    assert set(exc.value.message_dict) == {"status"}


def test_rejected_and_no_show_close_the_referral(sent):
    world, referral = sent
    referral_update_status(actor=world.caseworker, referral=referral, status="rejected", outcome="No cumple")
    referral.refresh_from_db()
    assert referral.closed_at == NOW and referral.accepted_at is None and referral.outcome == "No cumple"


def test_an_auditor_cannot_change_the_status(sent):
    world, referral = sent
    with pytest.raises(PermissionDenied):
        referral_update_status(actor=world.auditor, referral=referral, status="accepted")


def test_delivered_creates_the_follow_up_at_one_month(sent):
    world, referral = sent
    referral_update_status(actor=world.caseworker, referral=referral, status="accepted")
    referral_update_status(actor=world.caseworker, referral=referral, status="delivered")
    task = FollowUpTask._base_manager.get(referral=referral)
    assert task.due_on == datetime.date(2026, 4, 2)
    assert task.case_id == referral.case_id


def test_delivered_calls_the_follow_up_hook_once(sent, monkeypatch):
    from rumbo.cases.services import tasks

    world, referral = sent
    calls = []
    monkeypatch.setattr(tasks, "followup_for_referral", lambda **kw: calls.append(kw))
    referral_update_status(actor=world.caseworker, referral=referral, status="accepted")
    assert calls == []
    referral_update_status(actor=world.caseworker, referral=referral, status="delivered")
    assert calls == [{"actor": world.caseworker, "referral": referral}]


# --- Letter -------------------------------------------------------------------------------------------


def test_letter_is_spanish_whatever_the_language(sent):
    _world, referral = sent
    with translation.override("en"):
        html = referral_letter_html(referral)
    assert 'lang="es"' in html
    assert "Oficio de canalización" in html and "2 de marzo de 2026" in html
    assert "José Hernández López" in html and JOSE_CURP in html and "+52 443 123 4567" in html
    assert "Constancia de repatriación; CURP." in html
    assert f"{referral.pk:06d}" in html


def test_letter_is_a_real_pdf_with_the_person_and_is_audited(sent):
    world, referral = sent
    pdf = referral_letter(actor=world.caseworker, referral=referral)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 5000
    event = _events(Action.REFERRAL_LETTER, referral).get()
    assert event.actor == world.caseworker and event.detail["person"] == referral.person_id
    pypdf = pytest.importorskip("pypdf")  # text extraction (test extra)
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "José Hernández López" in text
    assert JOSE_CURP in text
    assert "IMSS UMF 80" in text


def test_letter_needs_the_right_to_refer_in_the_case_s_office(sent):
    from rumbo.cases.services import case_transfer_decide, case_transfer_request

    world, referral = sent
    # The auditor reads the case but may not print the person's CURP and phone for an institution.
    for user in (world.auditor, world.jalisco_caseworker):
        with pytest.raises(PermissionDenied):
            referral_letter(actor=user, referral=referral)
    # Once the case moved, the office that sent the referral no longer prints it; the new office does.
    case = referral.case
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
    with pytest.raises(PermissionDenied):
        referral_letter(actor=world.caseworker, referral=referral)
    assert referral_letter(actor=world.jalisco_caseworker, referral=referral).startswith(b"%PDF-")
    assert not _events(Action.REFERRAL_LETTER, referral).filter(actor=world.caseworker).exists()


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_no_letter_for_a_cancelled_or_rejected_referral(sent, status):
    world, referral = sent
    referral_update_status(actor=world.caseworker, referral=referral, status=status)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_letter(actor=world.caseworker, referral=referral)
    assert exc.value.code == "closed" and "letter" in exc.value.messages[0]
    assert not _events(Action.REFERRAL_LETTER, referral).exists()


def test_no_letter_once_the_consent_is_withdrawn(sent):
    world, referral = sent
    give_consent(world.caseworker, referral.person, status="withdrawn")
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_letter(actor=world.caseworker, referral=referral)
    assert exc.value.code == "consent"
    assert exc.value.messages == [
        "José Hernández López no longer agrees to share data with institutions: the letter cannot be printed."
    ]
    assert not _events(Action.REFERRAL_LETTER, referral).exists()


def test_a_letter_sent_without_consent_needs_the_right_to_override(setup):
    world, person, _kid, case, imss = setup
    referral = referral_send(
        actor=world.admin, case=case, person=person, offering=imss, override_reason="Urgencia médica"
    )
    with pytest.raises(ValidationError) as exc:
        referral_letter(actor=world.caseworker, referral=referral)
    assert exc.value.code == "consent"
    assert referral_letter(actor=world.admin, referral=referral).startswith(b"%PDF-")


# --- Ages the offering serves -------------------------------------------------------------------------


def _school_offering(world):
    from rumbo.cases.services.directory import OfferingData, offering_create

    return offering_create(
        actor=world.admin,
        institution=institution(world, "Escuela Primaria Benito Juárez"),
        data=OfferingData(
            service_id=service(world, code="school", name="Inscripción escolar").pk,
            valid_from=datetime.date(2026, 1, 1),
            min_age=6,
            max_age=14,
        ),
    )


def test_a_person_outside_the_ages_of_the_offering_is_refused_at_the_person(setup):
    world, person, kid, case, _imss = setup
    school = _school_offering(world)
    give_consent(world.caseworker, person)
    give_consent(world.caseworker, kid)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=person, offering=school)
    age = age_on(person.birth_date, datetime.date(2026, 3, 2))
    assert age > 14
    assert exc.value.message_dict == {
        "person": [
            f"José Hernández López is {age} years old; Escuela Primaria Benito Juárez offers this service to "
            "people aged 6 to 14."
        ]
    }
    assert not Referral._base_manager.exists()
    # The child (born 2015-06-01: 10 years old) is within the ages.
    referral = referral_send(actor=world.caseworker, case=case, person=kid, offering=school)
    assert referral.person == kid


def test_an_approximate_birth_date_is_given_a_year_either_way(setup):
    from rumbo.people.models import DatePrecision, Person

    world, _person, kid, case, _imss = setup
    school = _school_offering(world)
    give_consent(world.caseworker, kid)
    # Born "in 2011" (year only: stored as 2011-01-01): 15 on the stored date, maybe 14 — not refused.
    Person.objects.filter(pk=kid.pk).update(
        birth_date=datetime.date(2011, 1, 1), birth_date_precision=DatePrecision.YEAR
    )
    kid.refresh_from_db()
    assert referral_send(actor=world.caseworker, case=case, person=kid, offering=school)
    # Known exactly, the same date is refused: 15 is past 14.
    Person.objects.filter(pk=kid.pk).update(birth_date_precision=DatePrecision.EXACT)
    kid.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        referral_send(actor=world.caseworker, case=case, person=kid, offering=school)
    assert list(exc.value.message_dict) == ["person"]
    # Unknown date of birth: nothing to check.
    Person.objects.filter(pk=kid.pk).update(birth_date=None)
    kid.refresh_from_db()
    assert referral_send(actor=world.caseworker, case=case, person=kid, offering=school)


def test_an_offering_that_starts_today_at_the_office_may_be_chosen(setup):
    from rumbo.offices.models import Office

    world, person, _kid, case, _imss = setup
    give_consent(world.caseworker, person)
    starts = offering(
        world,
        svc=service(world, "curp", need="documents"),
        inst=institution(world, "Registro Civil"),
        valid_from=datetime.date(2026, 3, 2),
    )
    # 2 March 05:30 UTC: still 1 March in Mexico City (the server's zone), already 2 March in Cancún.
    Office.objects.filter(pk=world.michoacan.pk).update(time_zone="America/Cancun")
    with time_machine.travel(datetime.datetime(2026, 3, 2, 5, 30, tzinfo=UTC), tick=False):
        referral = referral_send(actor=world.caseworker, case=case, person=person, offering=starts)
    assert referral.offering_id == starts.pk
