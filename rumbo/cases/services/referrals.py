"""Writes of referrals: sending a case's person to an institution for a service, with consent checked,
recording how it went, and printing the referral letter.

Consent: a referral shares the person's data with an institution, so it needs the person's current
``referral`` consent (the latest ``ConsentRecord`` for that purpose, status "given"). Without it the
referral is refused, unless the actor holds ``REFER_WITHOUT_CONSENT`` and gives a reason; that override is
audited on its own (``REFERRAL_CONSENT_OVERRIDE``) besides ``REFERRAL_SEND``.

Status: sent → accepted → delivered / rejected / no-show; sent → rejected / cancelled. Each change is a
``ReferralEvent`` row with its date; "delivered" creates the one-month follow-up task.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import Case, Offering, Referral, ReferralEvent, ReferralStatus
from rumbo.cases.services.tasks import office_today
from rumbo.lib.validation import FieldErrors, clean_text
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, require
from rumbo.people.models import (
    ConsentPurpose,
    ConsentRecord,
    DatePrecision,
    Document,
    DocumentKind,
    Person,
    Phone,
)

#: Where each status may go next. Terminal statuses (delivered, rejected, no-show, cancelled) go nowhere.
TRANSITIONS: dict[str, frozenset[str]] = {
    ReferralStatus.SENT: frozenset(
        {ReferralStatus.ACCEPTED, ReferralStatus.REJECTED, ReferralStatus.CANCELLED}
    ),
    ReferralStatus.ACCEPTED: frozenset(
        {ReferralStatus.DELIVERED, ReferralStatus.REJECTED, ReferralStatus.NO_SHOW}
    ),
}
TERMINAL = frozenset(
    {ReferralStatus.DELIVERED, ReferralStatus.REJECTED, ReferralStatus.NO_SHOW, ReferralStatus.CANCELLED}
)
#: Referrals that will not happen: no letter is printed for them (it would send the person for nothing).
NO_LETTER = frozenset({ReferralStatus.CANCELLED, ReferralStatus.REJECTED})


def referral_consent(person: Person) -> ConsentRecord | None:
    """The person's current consent to share data with institutions: the latest ``referral`` consent
    record when it says "given"; None when there is none or the latest one withdrew it."""
    latest = (
        ConsentRecord._base_manager.filter(person_id=person.pk, purpose=ConsentPurpose.REFERRAL)
        .order_by("-recorded_at", "-id")
        .first()
    )
    if latest is None or latest.status != ConsentRecord.Status.GIVEN:
        return None
    return latest


def offering_is_current(offering: Offering, day: datetime.date) -> bool:
    """Whether ``offering`` may be chosen for a new referral on ``day`` (its dates, its service and its
    institution in use)."""
    return (
        offering.valid_from <= day
        and (offering.valid_until is None or offering.valid_until >= day)
        and offering.service.is_active
        and offering.institution.is_active
    )


def age_on(birth: datetime.date, day: datetime.date) -> int:
    """Completed years between ``birth`` and ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_refusal(offering: Offering, person: Person, day: datetime.date) -> str:
    """Why ``person`` is outside the ages ``offering`` serves on ``day`` ("" when inside, or when the age is
    unknown). A date of birth known only to the month, the year or by estimate is given a year either way,
    so only a person clearly outside the range is refused."""
    if person.birth_date is None or (offering.min_age is None and offering.max_age is None):
        return ""
    age = age_on(person.birth_date, day)
    slack = 0 if person.birth_date_precision == DatePrecision.EXACT else 1
    too_young = offering.min_age is not None and age + slack < offering.min_age
    too_old = offering.max_age is not None and age - slack > offering.max_age
    if not (too_young or too_old):
        return ""
    return _(
        "%(name)s is %(age)d years old; %(institution)s offers this service to people aged "
        "%(min)s to %(max)s."
    ) % {
        "name": person.full_name,
        "age": age,
        "institution": offering.institution.name,
        "min": offering.min_age if offering.min_age is not None else 0,
        "max": offering.max_age if offering.max_age is not None else "…",
    }


def case_person_ids(case: Case) -> set[int]:
    """The case's holder and its household members (read without the office scope: members may be
    recorded by another office)."""
    members = Case.members.through.objects.filter(case_id=case.pk).values_list("person_id", flat=True)
    return {case.person_id, *members}


def referral_send(
    *,
    actor: Any,
    case: Case,
    person: Person,
    offering: Offering,
    reason: str = "",
    override_reason: str = "",
) -> Referral:
    """Refer ``person`` (the case's holder or a household member of the case) to an institution for a
    service (``offering``), needing ``REFER`` in the case's office.

    Refused (ValidationError, nothing saved) when the person is not in the case, the offering is not one
    of the office's or is not valid today (the office's date), the person is clearly outside the ages the
    offering serves (:func:`age_refusal`), the case is closed, or the person has not agreed to share data
    with institutions — unless ``override_reason`` is given by an actor with ``REFER_WITHOUT_CONSENT``.
    Audits ``REFERRAL_SEND`` (and ``REFERRAL_CONSENT_OVERRIDE`` for an override).
    """
    require(actor, Perm.REFER, case.office_id)
    offering = Offering.objects.select_related("service", "institution").get(pk=offering.pk)
    errors = FieldErrors()
    if person.pk not in case_person_ids(case):
        errors.add("person", _("Choose the person of the case or a household member of the case."))
    elif person.anonymised_at is not None or person.merged_into_id is not None:
        errors.add("person", _("This person's record can no longer be used."))
    office = Office.objects.get(pk=case.office_id)
    today = office_today(office)
    if offering.institution.office_id != case.office_id:
        errors.add("offering", _("Choose a service of this office's directory."))
    elif not offering_is_current(offering, today):
        if offering.valid_until is not None and offering.valid_until < today:
            errors.add(
                "offering",
                _("This offering ended on %(date)s: choose one that is valid today.")
                % {"date": offering.valid_until.isoformat()},
            )
        elif offering.valid_from > today:
            errors.add(
                "offering",
                _("This offering starts on %(date)s: choose one that is valid today.")
                % {"date": offering.valid_from.isoformat()},
            )
        else:
            errors.add("offering", _("This service or institution is no longer in use."))
    if "person" not in errors.errors and "offering" not in errors.errors:
        refusal = age_refusal(offering, person, today)
        if refusal:
            errors.add("person", refusal)
    if case.is_closed:
        errors.add("__all__", _("This case is closed: reopen it first."))
    clean_reason = errors.check("reason", lambda: clean_text(reason, 2000)) or ""
    clean_override = errors.check("override_reason", lambda: clean_text(override_reason, 300)) or ""
    consent = referral_consent(person) if "person" not in errors.errors else None
    override = False
    if consent is None and "person" not in errors.errors:
        if not clean_override:
            errors.add(
                "consent",
                _("%(name)s has not agreed to share data with institutions: record the consent first.")
                % {"name": person.full_name},
            )
        elif not has_perm(actor, Perm.REFER_WITHOUT_CONSENT, case.office_id):
            errors.add("override_reason", _("You may not send a referral without consent."))
        else:
            override = True
    errors.raise_if_any()
    is_user = getattr(actor, "is_authenticated", False)
    with transaction.atomic():
        referral = Referral.objects.create(
            office=office,
            case=case,
            person=person,
            offering=offering,
            reason=clean_reason,
            consent=consent,
            consent_override_reason=clean_override if override else "",
            consent_override_by=actor if override and is_user else None,
            created_by=actor if is_user else None,
        )
        ReferralEvent.objects.create(
            referral=referral, status=ReferralStatus.SENT, by=actor if is_user else None
        )
        detail = {
            "case": case.pk,
            "person": person.pk,
            "offering": offering.pk,
            "service": offering.service_id,
            "institution": offering.institution_id,
            "consent": consent.pk if consent else None,
        }
        audit_record(actor=actor, action=Action.REFERRAL_SEND, office=office, obj=referral, detail=detail)
        if override:
            audit_record(
                actor=actor,
                action=Action.REFERRAL_CONSENT_OVERRIDE,
                office=office,
                obj=referral,
                detail={"case": case.pk, "person": person.pk, "reason": clean_override},
            )
    return referral


def _followup_for_referral(actor: Any, referral: Referral) -> None:
    """The follow-up helper's hook: a follow-up task one month after the service was delivered."""
    from rumbo.cases.services.tasks import followup_for_referral

    followup_for_referral(actor=actor, referral=referral)


def referral_update_status(
    *, actor: Any, referral: Referral, status: str, note: str = "", outcome: str = ""
) -> Referral:
    """Move a referral to ``status`` (``REFER`` in the case's current office), recording the date, an
    event with ``note`` and the ``outcome`` (what came of it). Only the moves in :data:`TRANSITIONS` are
    allowed. When the service is delivered a one-month follow-up task is created. Audits
    ``REFERRAL_UPDATE``."""
    case = Case._base_manager.get(pk=referral.case_id)
    require(actor, Perm.REFER, case.office_id)
    errors = FieldErrors()
    current = referral.status
    if status not in ReferralStatus.values:
        errors.add("status", _("Choose a valid status."))
    elif status not in TRANSITIONS.get(current, frozenset()):
        if current in TERMINAL:
            errors.add(
                "status",
                _("This referral is closed (%(status)s): its status cannot change.")
                % {"status": ReferralStatus(current).label},
            )
        else:
            errors.add(
                "status",
                _("A referral that is “%(current)s” cannot become “%(new)s”.")
                % {"current": ReferralStatus(current).label, "new": ReferralStatus(status).label},
            )
    clean_note = errors.check("note", lambda: clean_text(note, 300)) or ""
    clean_outcome = (errors.check("outcome", lambda: clean_text(outcome, 2000)) or "") if outcome else ""
    errors.raise_if_any()
    now = timezone.now()
    is_user = getattr(actor, "is_authenticated", False)
    with transaction.atomic():
        referral.status = status
        fields = ["status"]
        if status == ReferralStatus.ACCEPTED:
            referral.accepted_at = now
            fields.append("accepted_at")
        if status == ReferralStatus.DELIVERED:
            referral.delivered_at = now
            fields.append("delivered_at")
        if status in TERMINAL:
            referral.closed_at = now
            fields.append("closed_at")
        if clean_outcome:
            referral.outcome = clean_outcome
            fields.append("outcome")
        referral.save(update_fields=fields)
        ReferralEvent.objects.create(
            referral=referral, status=status, note=clean_note, by=actor if is_user else None
        )
        changes: dict[str, Any] = {"status": {"old": current, "new": status}}
        if clean_outcome:
            changes["outcome"] = {"old": None, "new": clean_outcome}
        audit_record(
            actor=actor,
            action=Action.REFERRAL_UPDATE,
            office=case.office,
            obj=referral,
            changes=changes,
            detail={"case": case.pk, "note": clean_note},
        )
        if status == ReferralStatus.DELIVERED:
            _followup_for_referral(actor, referral)
    return referral


# --- The letter ---------------------------------------------------------------------------------------


def _letter_context(referral: Referral) -> dict[str, Any]:
    offering = Offering.objects.select_related("service", "institution", "institution__admin_area").get(
        pk=referral.offering_id
    )
    person = Person._base_manager.get(pk=referral.person_id)
    curp = (
        Document._base_manager.filter(person=person, kind=DocumentKind.CURP).order_by("pk").first()
        if person.anonymised_at is None
        else None
    )
    phone = (
        Phone._base_manager.filter(person=person).order_by("-is_primary", "pk").first()
        if person.anonymised_at is None
        else None
    )
    worker = referral.created_by
    office = Office.objects.get(pk=referral.office_id)
    return {
        "referral": referral,
        "office": office,
        "offering": offering,
        "service": offering.service,
        "institution": offering.institution,
        "person": person,
        "curp": curp.number if curp else "",
        "phone": phone.e164 if phone else "",
        "worker": (worker.get_full_name() or worker.get_username()) if worker else "",
        "today": office_today(office),
        "folio": f"{referral.pk:06d}",
    }


def referral_letter_html(referral: Referral) -> str:
    """The referral letter as HTML, always in Spanish (the institutions' language), whatever the UI's."""
    with translation.override("es"):
        return render_to_string("cases/referrals/letter.html", _letter_context(referral))


def _check_letter(actor: Any, referral: Referral, case: Case) -> None:
    """Refuse the letter of a referral that will not happen, or whose person's data may no longer be
    shared: the consent the referral was sent with must still be given; a referral sent without consent
    is printed only by someone who may refer without it (as when it was sent)."""
    if referral.status in NO_LETTER:
        raise ValidationError(
            _("This referral is closed (%(status)s): its letter can no longer be printed.")
            % {"status": ReferralStatus(referral.status).label},
            code="closed",
        )
    person = Person._base_manager.get(pk=referral.person_id)
    if referral_consent(person) is not None:
        return
    if not referral.consent_override_reason:
        raise ValidationError(
            _("%(name)s no longer agrees to share data with institutions: the letter cannot be printed.")
            % {"name": person.full_name},
            code="consent",
        )
    if not has_perm(actor, Perm.REFER_WITHOUT_CONSENT, case.office_id):
        raise ValidationError(
            _(
                "%(name)s has not agreed to share data with institutions: only those who may refer without "
                "consent may print this letter."
            )
            % {"name": person.full_name},
            code="consent",
        )


def referral_letter(*, actor: Any, referral: Referral) -> bytes:
    """The printable referral letter (PDF, Spanish) for an institution: office letterhead, date, folio,
    institution and service, the person's data the consent covers, the reason, the requirements and the
    worker's name.

    The letter carries the person's CURP and phone to an institution, so printing it is part of referring:
    it needs ``REFER`` in the case's current office (403 otherwise — an auditor, or the office the case was
    transferred away from). Refused (ValidationError) for a cancelled or rejected referral and when the
    consent is no longer given (see :func:`_check_letter`). Audits ``REFERRAL_LETTER``."""
    case = Case._base_manager.get(pk=referral.case_id)
    require(actor, Perm.REFER, case.office_id)
    _check_letter(actor, referral, case)
    import weasyprint  # imported here: loading it (and its fonts) costs time that other pages need not pay

    html = referral_letter_html(referral)
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    audit_record(
        actor=actor,
        action=Action.REFERRAL_LETTER,
        office=Office.objects.get(pk=case.office_id),
        obj=referral,
        detail={"case": case.pk, "person": referral.person_id, "bytes": len(pdf)},
    )
    return pdf
