"""Helpers of the follow-up and dashboard tests: cases, referrals and returns written with the ORM, so each
test sets exactly the dates and statuses it needs (``opened_at`` and ``sent_at`` are ``auto_now_add``)."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

from rumbo.cases.models import (
    Case,
    CaseNeed,
    CaseStatus,
    Institution,
    Offering,
    Referral,
    ReferralStatus,
    ReturnEvent,
    ReturnPoint,
    Service,
)
from rumbo.people.tests.utils import make_person

_numbers = itertools.count(1)
_names = itertools.count(1)

# --- Data -----------------------------------------------------------------------------------------------

GIVEN = ["Ana", "Luis", "Rosa", "Pedro", "Elena", "Marco", "Sofía", "Raúl", "Irma", "Tomás"]


def person(actor: Any, office: Any) -> Any:
    """A person registered through the people service, with a name and birth date of their own."""
    n = next(_names)
    return make_person(
        actor,
        office,
        given_names=GIVEN[n % len(GIVEN)],
        first_surname="Pérez",
        second_surname=f"Ruiz{chr(65 + n % 26)}",
        birth_date=date(1980 + n % 20, 1 + n % 12, 1 + n % 27),
        documents=[],
        phones=[],
    )


def case(
    office: Any,
    who: Any,
    *,
    worker: Any = None,
    opened_at: datetime | None = None,
    status: str = CaseStatus.OPEN,
    needs: tuple[str, ...] = (),
    return_event: Any = None,
) -> Case:
    """A case of ``who`` at ``office`` written directly (``opened_at`` set after the insert: auto_now_add)."""
    obj = Case.objects.create(
        office=office,
        number=f"{office.code.upper()}-T-{next(_numbers):05d}",
        person=who,
        assigned_to=worker,
        status=status,
        return_event=return_event,
    )
    if opened_at is not None:
        Case.objects.filter(pk=obj.pk).update(opened_at=opened_at)
        obj.refresh_from_db()
    for need in needs:
        CaseNeed.objects.create(case=obj, need=need, office=office, opened_at=obj.opened_at)
    return obj


def offering(
    office: Any, *, service: str = "IMSS health cover", institution: str = "IMSS UMF 80"
) -> Offering:
    svc, _ = Service.objects.get_or_create(
        office=office,
        code=service.lower().replace(" ", "-")[:60],
        defaults={"name": service, "category": "health"},
    )
    inst, _ = Institution.objects.get_or_create(
        office=office, name=institution, defaults={"sector": "federal"}
    )
    return Offering.objects.create(institution=inst, service=svc, valid_from=date(2020, 1, 1))


def referral(
    case_: Case,
    offer: Offering,
    *,
    status: str = ReferralStatus.SENT,
    sent_at: datetime | None = None,
    delivered_at: datetime | None = None,
) -> Referral:
    obj = Referral.objects.create(
        office=case_.office,
        case=case_,
        person=case_.person,
        offering=offer,
        status=status,
        delivered_at=delivered_at,
    )
    if sent_at is not None:
        Referral.objects.filter(pk=obj.pk).update(sent_at=sent_at)
        obj.refresh_from_db()
    return obj


def return_point(name: str) -> ReturnPoint:
    point, _ = ReturnPoint.objects.get_or_create(name=name, defaults={"kind": ReturnPoint.Kind.INM_MODULE})
    return point


def return_event(office: Any, who: Any, *, on: date, point: ReturnPoint | None = None) -> ReturnEvent:
    return ReturnEvent.objects.create(
        office=office, person=who, returned_on=on, how="deportation", point=point
    )
