"""Household relations, stored in both directions, across offices and nationalities."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.offices.permissions import Perm, offices_with_perm, require
from rumbo.people.models import (
    INVERSE_RELATION,
    HouseholdRelation,
    Person,
    Relation,
)
from rumbo.people.services._common import (
    FieldErrors,
    require_live,
    valid_choice,
)


def _relative_visible(actor: Any, relative: Person) -> None:
    if relative.office_id not in offices_with_perm(actor, Perm.VIEW_PERSON):
        raise Http404


def household_link(*, actor: Any, person: Person, relative: Person, relation: str) -> HouseholdRelation:
    """Record that ``person`` is the ``relation`` of ``relative`` (e.g. "child"), and the inverse
    (``relative`` is the "parent" of ``person``) — households span offices and nationalities.

    Needs ``CHANGE_PERSON`` on ``person``; ``relative`` must be visible to the actor (else 404). An
    existing link between the two is replaced. Audits a ``PERSON_UPDATE`` on both records.
    """
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    _relative_visible(actor, relative)
    require_live(person)
    errors = FieldErrors()
    errors.check("relation", lambda: valid_choice(relation, Relation, _("Choose a valid relation.")))
    if relative.pk == person.pk:
        errors.add("relative", _("A person cannot be their own relative."))
    elif relative.anonymised_at is not None or relative.merged_into_id is not None:
        errors.add("relative", _("This record cannot be linked (anonymised or merged)."))
    errors.raise_if_any()
    inverse = INVERSE_RELATION[relation]
    with transaction.atomic():
        old = (
            HouseholdRelation.objects.filter(person=person, relative=relative)
            .values_list("relation", flat=True)
            .first()
        )
        link, _created = HouseholdRelation.objects.update_or_create(
            person=person, relative=relative, defaults={"relation": relation}
        )
        HouseholdRelation.objects.update_or_create(
            person=relative, relative=person, defaults={"relation": inverse}
        )
        old_inverse = INVERSE_RELATION.get(old) if old else None
        for subject, other, before, after in (
            (person, relative, old, relation),
            (relative, person, old_inverse, inverse),
        ):
            audit_record(
                actor=actor,
                action=Action.PERSON_UPDATE,
                office=subject.office,
                obj=subject,
                changes={f"household.{other.pk}": {"old": before, "new": after}},
                detail={"relative_id": other.pk},
            )
    return link


def household_unlink(*, actor: Any, person: Person, relative: Person) -> None:
    """Remove the link between ``person`` and ``relative`` in both directions (``CHANGE_PERSON`` on
    ``person``); audits a ``PERSON_UPDATE`` on both records."""
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    _relative_visible(actor, relative)
    with transaction.atomic():
        rows = {
            (r.person_id, r.relative_id): r.relation
            for r in HouseholdRelation.objects.filter(
                models.Q(person=person, relative=relative) | models.Q(person=relative, relative=person)
            )
        }
        if not rows:
            return
        HouseholdRelation.objects.filter(
            models.Q(person=person, relative=relative) | models.Q(person=relative, relative=person)
        ).delete()
        for subject, other in ((person, relative), (relative, person)):
            audit_record(
                actor=actor,
                action=Action.PERSON_UPDATE,
                office=subject.office,
                obj=subject,
                changes={f"household.{other.pk}": {"old": rows.get((subject.pk, other.pk)), "new": None}},
                detail={"relative_id": other.pk},
            )
