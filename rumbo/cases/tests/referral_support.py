"""Helpers of the directory, referral and procedure tests: persons, consent, cases and a small directory,
all made through the real services."""

from __future__ import annotations

import datetime
from typing import Any

from rumbo.cases.models import Case, Institution, Offering, Service
from rumbo.cases.services import case_open
from rumbo.cases.services.directory import (
    InstitutionData,
    OfferingData,
    ServiceData,
    institution_create,
    offering_create,
    service_create,
)
from rumbo.people.consent import consent_text, consent_text_version
from rumbo.people.data import PhoneData
from rumbo.people.models import ConsentPurpose, Person
from rumbo.people.services import consent_record, household_link
from rumbo.people.tests.utils import JOSE_CURP, make_person

TODAY = datetime.date(2026, 3, 2)  # tests freeze time on this day (a Monday)


def returnee(world: Any) -> Person:
    """José Hernández López (CURP, mobile phone), registered at OFAM Michoacán."""
    return make_person(world.caseworker, world.michoacan)


def child(world: Any, parent: Person, given: str = "Ana", born: datetime.date | None = None) -> Person:
    """A child of ``parent`` (same office), linked in the household."""
    kid = make_person(
        world.caseworker,
        world.michoacan,
        given_names=given,
        birth_date=born or datetime.date(2015, 6, 1),
        sex="F",
        documents=[],
        phones=[PhoneData(number="443 765 4321")],
    )
    household_link(actor=world.caseworker, person=parent, relative=kid, relation="child")
    return kid


def give_consent(actor: Any, person: Person, status: str = "given") -> Any:
    """Record the person's consent (or its withdrawal) to share data with institutions."""
    return consent_record(
        actor=actor,
        person=person,
        purpose=ConsentPurpose.REFERRAL,
        status=status,
        method="verbal",
        text=consent_text(ConsentPurpose.REFERRAL),
        text_version=consent_text_version(),
    )


def open_case(
    world: Any, person: Person, *, members: tuple[Person, ...] = (), needs: tuple[str, ...] = ()
) -> Case:
    return case_open(actor=world.caseworker, person=person, members=members, needs=needs)


def service(
    world: Any, code: str = "imss", *, office: Any = None, need: str = "health", name: str = ""
) -> Service:
    return service_create(
        actor=world.admin if office is None else _admin_of(world, office),
        office=office or world.michoacan,
        data=ServiceData(
            code=code,
            name=name or f"Servicio {code}",
            category="health" if need == "health" else "identity",
            need=need,
        ),
    )


def _admin_of(world: Any, office: Any) -> Any:
    if office == world.michoacan:
        return world.admin
    from rumbo.lib.testing.factories import member
    from rumbo.offices.models import Role

    return member(office, Role.OFFICE_ADMIN)


def institution(world: Any, name: str = "IMSS UMF 80", *, office: Any = None, **fields: Any) -> Institution:
    return institution_create(
        actor=world.admin if office is None else _admin_of(world, office),
        office=office or world.michoacan,
        data=InstitutionData(name=name, sector=fields.pop("sector", "federal"), **fields),
    )


def offering(
    world: Any,
    *,
    svc: Service | None = None,
    inst: Institution | None = None,
    valid_from: datetime.date = datetime.date(2026, 1, 1),
    valid_until: datetime.date | None = None,
    requirements: str = "Constancia de repatriación; CURP.",
) -> Offering:
    svc = svc or service(world)
    inst = inst or institution(world)
    actor = world.admin if inst.office_id == world.michoacan.pk else _admin_of(world, inst.office)
    return offering_create(
        actor=actor,
        institution=inst,
        data=OfferingData(
            service_id=svc.pk, valid_from=valid_from, valid_until=valid_until, requirements=requirements
        ),
    )


__all__ = ["JOSE_CURP", "TODAY"]


# --- A whole scenario for the page and API tests --------------------------------------------------------


def scenario(world: Any) -> Any:
    """José (with consent) and his daughter in an open case with needs, an IMSS offering, a referral sent,
    a procedure type and a procedure under way — all at OFAM Michoacán."""
    from types import SimpleNamespace

    from rumbo.cases.services.procedures import StepTemplate, procedure_kind_create, procedure_start
    from rumbo.cases.services.referrals import referral_send

    person = returnee(world)
    kid = child(world, person)
    case = open_case(world, person, members=(kid,), needs=("health", "schooling"))
    imss = offering(world)
    give_consent(world.caseworker, person)
    referral = referral_send(actor=world.caseworker, case=case, person=person, offering=imss, reason="Salud")
    kind = procedure_kind_create(
        actor=world.admin,
        office=world.michoacan,
        name="Revalidación de estudios",
        steps=[StepTemplate("Reunir constancias", "Boletas", 30), StepTemplate("Solicitud", "", 15)],
    )
    procedure = procedure_start(actor=world.caseworker, case=case, kind=kind)
    return SimpleNamespace(
        person=person,
        kid=kid,
        case=case,
        offering=imss,
        service=imss.service,
        institution=imss.institution,
        referral=referral,
        kind=kind,
        procedure=procedure,
        step=procedure.steps.order_by("order").first(),
    )


def jalisco_admin(world: Any) -> Any:
    from rumbo.lib.testing.factories import member
    from rumbo.offices.models import Role

    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


def client(world: Any, who: str) -> Any:
    """A client for a persona of ``world`` (``anonymous`` and ``jalisco_admin`` included), in English."""
    from django.test import Client

    if who == "anonymous":
        return Client(HTTP_ACCEPT_LANGUAGE="en")
    user = jalisco_admin(world) if who == "jalisco_admin" else getattr(world, who)
    c = world.client_for(user)
    c.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c
