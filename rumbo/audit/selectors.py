"""Reads of the audit trail, for auditors and office administrators (Perm.VIEW_AUDIT)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from rumbo.audit.models import Action, AuditEvent
from rumbo.offices.models import Membership
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Person

PERSON_OBJECT_TYPE = "people.person"

# The events that make up "who has seen or changed this record".
PERSON_ACCESS_ACTIONS = frozenset(
    {
        Action.PERSON_VIEW,
        Action.PERSON_API_READ,
        Action.PERSON_EXPORT,
        Action.PERSON_CREATE,
        Action.PERSON_UPDATE,
        Action.PERSON_ANONYMISE,
        Action.DOCUMENT_ADD,
        Action.DOCUMENT_REMOVE,
        Action.CONSENT_RECORD,
        Action.AUDIT_VIEW,
        Action.PERSON_MERGE,
        Action.PERSON_UNMERGE,
    }
)


@dataclass(frozen=True)
class AuditFilters:
    """What the audit list can be narrowed to. Empty values do not filter."""

    action: str = ""
    actor: str = ""  # username (exact, case-insensitive) as recorded at the time
    office_id: int | None = None
    object_type: str = ""
    object_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AuditFilters:
        return cls(
            action=data.get("action") or "",
            actor=(data.get("actor") or "").strip(),
            office_id=data.get("office_id") or None,
            object_type=(data.get("object_type") or "").strip(),
            object_id=str(data.get("object_id") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


def audit_office_ids(user: Any) -> frozenset[int]:
    """Offices whose trail the user may read."""
    return offices_with_perm(user, Perm.VIEW_AUDIT)


def audit_events_for_user(
    user: Any, filters: AuditFilters | Mapping[str, Any] | None = None
) -> QuerySet[AuditEvent]:
    """Events of the offices where ``user`` has Perm.VIEW_AUDIT, newest first.

    Events without an office (log-ins, log-outs, failed two-factor codes) are included when their actor is
    a member of one of those offices, so an auditor can see how their office's accounts are used.
    A filter on an office the user may not audit answers 404 (outside their offices) or 403 (inside).
    """
    if filters is None:
        filters = AuditFilters()
    elif not isinstance(filters, AuditFilters):
        filters = AuditFilters.from_mapping(filters)
    offices = audit_office_ids(user)
    if filters.office_id is not None:
        if filters.office_id not in member_office_ids(user):
            raise Http404
        require(user, Perm.VIEW_AUDIT, filters.office_id)
        offices = frozenset({filters.office_id})
    if not offices:
        return AuditEvent.objects.none()
    members = Membership.objects.filter(office_id__in=offices).values("user_id")
    qs = AuditEvent.objects.filter(
        Q(office_id__in=offices) | Q(office__isnull=True, actor_id__isnull=False, actor_id__in=members)
    )
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label__iexact=filters.actor)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.date_from:
        qs = qs.filter(at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(at__date__lte=filters.date_to)
    return qs.select_related("office").order_by("-at", "-id")


def _person_for_audit(user: Any, person_id: int) -> Person:
    """The person, if in one of the user's offices (else 404) and the user audits that office (else 403)."""
    person = (
        Person.objects.filter(pk=person_id, office_id__in=member_office_ids(user))
        .select_related("office")
        .first()
    )
    if person is None:
        raise Http404
    require(user, Perm.VIEW_AUDIT, person.office_id)
    return person


@dataclass(frozen=True)
class PersonAccessLog:
    person: Person
    events: QuerySet[AuditEvent]


def person_access_log(user: Any, person_id: int) -> PersonAccessLog:
    """ "Who has seen this record": every view, API read, export and change of one person, newest first,
    with actor, time, IP and request id, from whichever office it was done.

    Services record these events with the person as the audited object (``obj=person``); exports record
    one event per exported person. 404 when the person is outside the user's offices, 403 without
    Perm.VIEW_AUDIT in the person's office.
    """
    person = _person_for_audit(user, person_id)
    events = AuditEvent.objects.filter(
        object_type=PERSON_OBJECT_TYPE, object_id=str(person.pk), action__in=PERSON_ACCESS_ACTIONS
    ).select_related("office")
    return PersonAccessLog(person=person, events=events.order_by("-at", "-id"))
