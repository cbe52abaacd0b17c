"""Creating, updating, anonymising a person; access and search events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, audit_record_each, diff, snapshot
from rumbo.geo.models import AdminArea
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, offices_with_perm, require
from rumbo.people.data import (
    PersonData,
)
from rumbo.people.models import (
    Address,
    Alias,
    ConsentRecord,
    DatePrecision,
    Document,
    HouseholdRelation,
    Person,
    Phone,
    VulnerabilityFlag,
)
from rumbo.people.search import reindex_person
from rumbo.people.services._common import (
    ANONYMISED_NAME,
    PERSON_FIELDS,
    REMOVED,
    SPACES,
    require_live,
)
from rumbo.people.services.cleaning import person_data_clean
from rumbo.people.services.rows import apply_fields, person_snapshot, refresh_curp_flags, store_children


def person_create(*, actor: Any, office: Office, data: PersonData) -> Person:
    """Register a person in ``office`` with everything in ``data``.

    Needs ``ADD_PERSON`` in the office. Validates all of ``data`` before writing (ValidationError,
    nothing saved); flags CURPs that disagree with the person (see :mod:`rumbo.people.services`); indexes
    the person for search; audits ``PERSON_CREATE`` with every stored field as the diff.
    """
    require(actor, Perm.ADD_PERSON, office.pk)
    clean = person_data_clean(data)
    with transaction.atomic():
        person = Person(
            office=office, created_by=actor if getattr(actor, "is_authenticated", False) else None
        )
        apply_fields(person, clean)
        person.save()
        store_children(person, clean)
        reindex_person(person)
        audit_record(
            actor=actor,
            action=Action.PERSON_CREATE,
            office=office,
            obj=person,
            changes={
                k: v for k, v in diff({}, person_snapshot(person)).items() if v["new"] not in ("", [], None)
            },
        )
    return person


def person_update(*, actor: Any, person: Person, data: PersonData) -> Person:
    """Replace the person's data with ``data`` (child lists included: rows not in ``data`` are removed).

    Needs ``CHANGE_PERSON`` in the person's office; refuses anonymised and merged records. Rows whose key
    (document kind + number, phone number, country, flag…) is unchanged are kept, so their ids survive.
    Audits ``PERSON_UPDATE`` with the field-level diff; an update that changes nothing writes nothing.
    """
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    require_live(person)
    clean = person_data_clean(data)
    with transaction.atomic():
        person = (
            Person.objects.select_for_update(of=("self",))
            .select_related("office", "birth_place")
            .get(pk=person.id)
        )
        before = person_snapshot(person)
        apply_fields(person, clean)
        person.birth_place = (
            AdminArea.objects.filter(pk=clean.birth_place_id).first() if clean.birth_place_id else None
        )
        store_children(person, clean)
        refresh_curp_flags(person)
        after = person_snapshot(person)
        changes = diff(before, after)
        if changes:
            person.save()
            reindex_person(person)
            audit_record(
                actor=actor, action=Action.PERSON_UPDATE, office=person.office, obj=person, changes=changes
            )
    return person


def person_anonymise(*, actor: Any, person: Person, reason: str) -> Person:
    """ "Delete" a person: remove what identifies them, keep what statistics and the audit trail need.

    Needs ``ANONYMISE_PERSON`` (office admins). Names become :data:`ANONYMISED_NAME`; documents, phones,
    email, addresses, aliases and household links are removed; the birth date is reduced to its year and
    the place of birth to its state; vulnerability notes and consent proxies' names are blanked (the flags
    and consent rows stay, for statistics and accountability); search tokens are removed; ``anonymised_at``
    is set. Every app whose ``AppConfig`` defines ``anonymise_person`` removes what it keeps about the
    person (messages, case notes, attachments…) in the same transaction. The audit event records *which*
    fields were removed, never their values. Earlier audit
    events are kept untouched (the trail is append-only).
    """
    require(actor, Perm.ANONYMISE_PERSON, person.office_id)
    reason = SPACES.sub(" ", str(reason or "")).strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why this person's data is being removed.")]})
    with transaction.atomic():
        person = (
            Person.objects.select_for_update(of=("self",))
            .select_related("office", "birth_place")
            .get(pk=person.id)
        )
        if person.anonymised_at is not None:
            raise ValidationError(_("This person is already anonymised."), code="anonymised")
        # An app may first need the data about to be removed (messaging applies replies that arrived and
        # are not matched yet, by phone): ``before_anonymise_person(person)`` runs while it is still there.
        for config in django_apps.get_app_configs():
            prepare = getattr(config, "before_anonymise_person", None)
            if prepare is not None:
                prepare(person)
        before = snapshot(person, PERSON_FIELDS)
        removed = {
            "documents": Document.objects.filter(person=person).count(),
            "phones": Phone.objects.filter(person=person).count(),
            "addresses": Address.objects.filter(person=person).count(),
            "aliases": Alias.objects.filter(person=person).count(),
            "household": HouseholdRelation.objects.filter(person=person).count(),
        }
        for model in (Document, Phone, Address, Alias):
            model._default_manager.filter(person=person).delete()
        HouseholdRelation.objects.filter(models.Q(person=person) | models.Q(relative=person)).delete()
        VulnerabilityFlag.objects.filter(person=person).update(note="")
        ConsentRecord.objects.filter(person=person).exclude(given_by="").update(given_by="")
        person.given_names = ANONYMISED_NAME
        person.first_surname = ANONYMISED_NAME
        person.second_surname = ""
        person.email = ""
        if person.birth_date is not None:
            person.birth_date = person.birth_date.replace(month=1, day=1)
            if person.birth_date_precision != DatePrecision.ESTIMATED:
                person.birth_date_precision = DatePrecision.YEAR
        if person.birth_place is not None and person.birth_place.level == AdminArea.Level.MUNICIPALITY:
            person.birth_place_id = person.birth_place.parent_id
        person.anonymised_at = timezone.now()
        person.save()
        reindex_person(person)
        # Other apps keep personal data about the person too (messages, case notes, attachments): each app
        # whose AppConfig has ``anonymise_person(person) -> {what: count}`` removes its own, in this
        # transaction.
        for config in django_apps.get_app_configs():
            hook = getattr(config, "anonymise_person", None)
            if hook is not None:
                removed.update(hook(person))
        after = snapshot(person, PERSON_FIELDS)
        changes = {
            k: {"old": REMOVED if v["old"] not in (None, "") else v["old"], "new": v["new"]}
            for k, v in diff(before, after).items()
        }
        changes["anonymised_at"] = {"old": None, "new": person.anonymised_at}
        audit_record(
            actor=actor,
            action=Action.PERSON_ANONYMISE,
            office=person.office,
            obj=person,
            changes=changes,
            detail={"reason": reason, "removed": removed},
        )
    return person


def person_record_view(*, actor: Any, person: Person, via: str = "web") -> None:
    """Write the access event for one read of a person's record (``PERSON_VIEW``; ``via`` "web" or "api").

    Call it wherever a person's detail is shown or returned; the caller has already fetched the person
    through :func:`rumbo.people.selectors.person_get`, so access is checked again only for safety.
    """
    require(actor, Perm.VIEW_PERSON, person.office_id)
    audit_record(
        actor=actor, action=Action.PERSON_VIEW, office=person.office, obj=person, detail={"via": via}
    )


def person_list_record(*, actor: Any, persons: Iterable[Person], shown_in: str, via: str = "web") -> int:
    """Write the access events for persons shown in a list with their personal data (names, birth dates,
    offices), not only counted: one ``PERSON_VIEW`` per person, in one insert, with ``via`` ("web" or "api")
    and where they were shown (``shown_in``: "intake", "duplicate_queue"…). Persons the actor may not view
    were not shown and are left out. Returns the number of events written."""
    visible = offices_with_perm(actor, Perm.VIEW_PERSON)
    shown = list({p.pk: p for p in persons if p.office_id in visible}.values())
    if not shown:
        return 0
    with transaction.atomic():
        return audit_record_each(
            actor=actor, action=Action.PERSON_VIEW, objects=shown, detail={"via": via, "shown_in": shown_in}
        )


def person_search_record(*, actor: Any, query: str, result_count: int, via: str = "web") -> None:
    """Audit one person search: the query and how many were found, nothing else (``PERSON_SEARCH``)."""
    audit_record(
        actor=actor,
        action=Action.PERSON_SEARCH,
        object_type="people.person",
        detail={"query": str(query)[:200], "results": result_count, "via": via},
    )
