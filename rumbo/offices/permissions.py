"""The one permission map: which role may do what, checked in one place.

Views, API routes and selectors ask :func:`has_perm`, :func:`offices_with_perm` or :func:`require`;
nothing else decides access. Another office's record answers 404 (it is outside the user's scope);
the user's own office without the right role answers 403.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from rumbo.offices.models import Membership, Office, Role


class Perm(StrEnum):
    VIEW_OFFICE = "offices.view_office"
    CHANGE_OFFICE = "offices.change_office"
    MANAGE_MEMBERS = "offices.manage_members"
    VIEW_PERSON = "people.view_person"
    ADD_PERSON = "people.add_person"
    CHANGE_PERSON = "people.change_person"
    ANONYMISE_PERSON = "people.anonymise_person"
    EXPORT_PERSON = "people.export_person"
    MERGE_PERSON = "people.merge_person"
    IMPORT_PERSONS = "people.import_persons"
    ADJUDICATE_DUPLICATES = "matching.adjudicate"
    MANAGE_MATCHING = "matching.manage"
    VIEW_AUDIT = "audit.view_audit"
    VIEW_MESSAGES = "messaging.view"  # operations page, outbox and replies of the office
    SEND_MESSAGES = "messaging.send"  # queue messages and campaigns
    MANAGE_CHANNELS = "messaging.manage_channels"  # channels, credentials, templates, pause/resume
    VIEW_CASE = "cases.view_case"  # cases, returns, arrivals, referrals, tasks, attachments, dashboard
    CHANGE_CASE = "cases.change_case"  # open, edit, notes, attachments, returns, procedures, tasks
    REFER = "cases.refer"  # send referrals and record their outcome
    REFER_WITHOUT_CONSENT = "cases.refer_without_consent"  # override a missing consent, with a reason
    TRANSFER_CASE = "cases.transfer_case"  # request a transfer; accept or reject one sent to the office
    MANAGE_DIRECTORY = "cases.manage_directory"  # services, institutions, offerings, procedure types
    VIEW_AGGREGATES = "reports.view_aggregates"
    MANAGE_TRAINING = "training.manage"


_MESSAGING = {Perm.VIEW_MESSAGES, Perm.SEND_MESSAGES}
_CASEWORK = {Perm.VIEW_CASE, Perm.CHANGE_CASE, Perm.REFER, Perm.TRANSFER_CASE}
_WRITE_PEOPLE = {Perm.VIEW_PERSON, Perm.ADD_PERSON, Perm.CHANGE_PERSON, Perm.ADJUDICATE_DUPLICATES}

ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.OFFICE_ADMIN: frozenset(
        {
            Perm.VIEW_OFFICE,
            Perm.CHANGE_OFFICE,
            Perm.MANAGE_MEMBERS,
            *_WRITE_PEOPLE,
            Perm.ANONYMISE_PERSON,
            Perm.EXPORT_PERSON,
            Perm.MERGE_PERSON,
            Perm.IMPORT_PERSONS,
            Perm.ADJUDICATE_DUPLICATES,
            Perm.MANAGE_MATCHING,
            Perm.VIEW_AUDIT,
            Perm.VIEW_AGGREGATES,
            *_MESSAGING,
            Perm.MANAGE_CHANNELS,
            *_CASEWORK,
            Perm.REFER_WITHOUT_CONSENT,
            Perm.MANAGE_DIRECTORY,
        }
    ),
    Role.CASEWORKER: frozenset({Perm.VIEW_OFFICE, *_WRITE_PEOPLE, *_MESSAGING, *_CASEWORK}),
    Role.LABOUR_OFFICER: frozenset({Perm.VIEW_OFFICE, *_WRITE_PEOPLE, *_MESSAGING}),
    Role.CONSULAR_OFFICER: frozenset({Perm.VIEW_OFFICE, *_WRITE_PEOPLE, *_MESSAGING}),
    # Coordinators see figures across their office and every office below it, never personal data
    # unless another membership grants it.
    Role.COORDINATOR: frozenset({Perm.VIEW_OFFICE, Perm.VIEW_AGGREGATES}),
    Role.AUDITOR: frozenset({Perm.VIEW_OFFICE, Perm.VIEW_PERSON, Perm.VIEW_AUDIT, Perm.VIEW_CASE}),
    Role.TRAINER: frozenset({Perm.VIEW_OFFICE, Perm.MANAGE_TRAINING}),
}

# Permissions that reach down the office tree (office and all its descendants).
TREE_PERMS = frozenset({Perm.VIEW_AGGREGATES})

_CACHE_ATTR = "_rumbo_memberships"


def active_memberships(user: Any) -> list[Membership]:
    """The user's active memberships, fetched once per user object (i.e. once per request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = list(Membership.objects.active().filter(user=user).select_related("office"))
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget(user: Any) -> None:
    """Drop the cached memberships (after a role is granted or revoked)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def member_office_ids(user: Any) -> frozenset[int]:
    """Offices where the user holds any role: the user's scope. Everything else is 404."""
    return frozenset(m.office_id for m in active_memberships(user))


def roles_in(user: Any, office_id: int) -> frozenset[str]:
    return frozenset(m.role for m in active_memberships(user) if m.office_id == office_id)


def _descendants(office_ids: set[int]) -> set[int]:
    found = set(office_ids)
    frontier = set(office_ids)
    while frontier:
        frontier = set(Office.objects.filter(parent_id__in=frontier).values_list("id", flat=True)) - found
        found |= frontier
    return found


def offices_with_perm(user: Any, perm: Perm) -> frozenset[int]:
    """Every office where ``user`` has ``perm`` (with descendants for tree permissions)."""
    direct = {m.office_id for m in active_memberships(user) if perm in ROLE_PERMS.get(m.role, frozenset())}
    if perm in TREE_PERMS and direct:
        return frozenset(_descendants(direct))
    return frozenset(direct)


def has_perm(user: Any, perm: Perm, office_id: int) -> bool:
    return office_id in offices_with_perm(user, perm)


def require(user: Any, perm: Perm, office_id: int) -> None:
    """Raise PermissionDenied (403) unless ``user`` has ``perm`` in the office."""
    if not has_perm(user, perm, office_id):
        raise PermissionDenied


def require_any(user: Any, perm: Perm) -> frozenset[int]:
    """Offices where ``user`` has ``perm``; PermissionDenied (403) when there are none."""
    offices = offices_with_perm(user, perm)
    if not offices:
        raise PermissionDenied
    return offices
