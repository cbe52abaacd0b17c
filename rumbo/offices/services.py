"""Writes on offices and memberships. Each one checks permissions, validates, saves in one transaction
and leaves an audit event.

``actor=None`` means the system itself (data migrations, ``rumbo demo``, management commands); those
callers decide access on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pycountry
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.geo.models import AdminArea
from rumbo.offices.models import Membership, Office, Role
from rumbo.offices.permissions import Perm, forget, has_perm

# Fields an office administrator may change on their own office (offices:edit).
OFFICE_ADMIN_FIELDS = frozenset(
    {"name", "country", "represents_country", "location", "time_zone", "require_two_factor", "jurisdiction"}
)
# Fields that move an office in the network or switch it off: superusers (Django admin) and the system only.
STRUCTURAL_FIELDS = frozenset({"code", "kind", "parent", "is_active"})
OFFICE_FIELDS = OFFICE_ADMIN_FIELDS | STRUCTURAL_FIELDS
_AUDITED_FIELDS = sorted(OFFICE_FIELDS - {"jurisdiction"})


def _is_system_or_superuser(actor: Any) -> bool:
    return actor is None or bool(getattr(actor, "is_superuser", False))


def _office_snapshot(office: Office) -> dict[str, Any]:
    data = snapshot(office, _AUDITED_FIELDS)
    data["jurisdiction"] = sorted(office.jurisdiction.values_list("pk", flat=True)) if office.pk else []
    return data


def _validate(office: Office) -> None:
    """Model validation plus ISO 3166-1 country codes; every error sits at the field that caused it."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        office.full_clean()
    except ValidationError as exc:
        for field, messages in exc.error_dict.items():
            errors.setdefault(field, []).extend(messages)
    for field in ("country", "represents_country"):
        value = getattr(office, field)
        if value and pycountry.countries.get(alpha_2=value) is None:
            errors.setdefault(field, []).append(
                ValidationError(
                    _("“%(value)s” is not an ISO 3166 country code (e.g. MX, HN, US)."),
                    code="invalid_country",
                    params={"value": value},
                )
            )
    if errors:
        raise ValidationError(errors)


def _check_parent(office: Office, parent: Office | None) -> None:
    """A parent must exist and must not be the office itself or one of its descendants (no cycles)."""
    node = parent
    while node is not None:
        if office.pk is not None and node.pk == office.pk:
            raise ValidationError(
                {"parent": _("An office cannot be placed below itself or its own sub-offices.")}
            )
        node = node.parent


def office_create(
    *,
    actor: Any,
    name: str,
    code: str,
    kind: str,
    parent: Office | None = None,
    country: str = "MX",
    represents_country: str = "",
    location: AdminArea | None = None,
    jurisdiction: Iterable[AdminArea] = (),
    time_zone: str = "America/Mexico_City",
    require_two_factor: bool = False,
) -> Office:
    """Create an office in the network.

    Allowed for the system, superusers, and office administrators of ``parent`` (who may open sub-offices
    below their own office). The time zone, code and kind are validated before anything is saved.
    """
    if not _is_system_or_superuser(actor) and (
        parent is None or not has_perm(actor, Perm.CHANGE_OFFICE, parent.pk)
    ):
        raise PermissionDenied
    office = Office(
        name=name,
        code=code,
        kind=kind,
        parent=parent,
        country=country.upper(),
        represents_country=represents_country.upper(),
        location=location,
        time_zone=time_zone,
        require_two_factor=require_two_factor,
    )
    _validate(office)
    areas = list(jurisdiction)
    with transaction.atomic():
        office.save()
        office.jurisdiction.set(areas)
        audit_record(
            actor=actor,
            action=Action.OFFICE_CREATE,
            office=office,
            obj=office,
            changes={k: {"old": None, "new": v} for k, v in _office_snapshot(office).items()},
        )
    return office


def office_update(*, actor: Any, office: Office, data: Mapping[str, Any]) -> Office:
    """Change an office. ``data`` maps field names (see ``OFFICE_FIELDS``) to new values.

    Office administrators (Perm.CHANGE_OFFICE in the office) may change the office's own settings; the
    structural fields (code, kind, parent, active) are for superusers and the system. The audit event
    holds the field-level diff; nothing is written when nothing changed.
    """
    unknown = set(data) - OFFICE_FIELDS
    if unknown:
        raise ValueError(f"Not editable office fields: {sorted(unknown)}")
    if not _is_system_or_superuser(actor):
        if not has_perm(actor, Perm.CHANGE_OFFICE, office.pk):
            raise PermissionDenied
        if set(data) & STRUCTURAL_FIELDS:
            raise PermissionDenied
    before = _office_snapshot(office)
    values = dict(data)
    jurisdiction = values.pop("jurisdiction", None)
    for field, value in values.items():
        if field in ("country", "represents_country") and isinstance(value, str):
            value = value.upper()
        setattr(office, field, value)
    if "parent" in values:
        _check_parent(office, values["parent"])
    _validate(office)
    with transaction.atomic():
        office.save()
        if jurisdiction is not None:
            office.jurisdiction.set(list(jurisdiction))
        changes = diff(before, _office_snapshot(office))
        if changes:
            audit_record(actor=actor, action=Action.OFFICE_UPDATE, office=office, obj=office, changes=changes)
    return office


def _check_can_manage(actor: Any, office: Office) -> None:
    if actor is not None and not has_perm(actor, Perm.MANAGE_MEMBERS, office.pk):
        raise PermissionDenied


def _check_admin_remains(membership: Membership, expires_at: datetime | None) -> None:
    """Refuse to bring forward the end of an active administrator role when no other administrator stays
    longer (without end, or ending later): as with revoking, an office must keep an administrator."""
    if not membership.is_active or expires_at is None:
        return
    if membership.expires_at is not None and expires_at >= membership.expires_at:
        return  # extending a role never leaves the office with fewer administrators
    others = (
        Membership.objects.active()
        .filter(office=membership.office_id, role=Role.OFFICE_ADMIN, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=expires_at))
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ValidationError(
            {
                "expires_at": _(
                    "An office must keep at least one administrator: another administrator without an end "
                    "date, or ending later, is needed first."
                )
            }
        )


def membership_grant(
    *, actor: Any, office: Office, user: Any, role: str, expires_at: datetime | None = None
) -> Membership:
    """Give ``user`` a role in ``office``, optionally until ``expires_at``.

    Only an office administrator of that very office may grant (Perm.MANAGE_MEMBERS there): being an
    administrator elsewhere, or a coordinator above, is not enough. Granting a role the user already held
    (expired or revoked) re-activates it with the new expiry; granting it again while active changes the
    expiry. An administrator role cannot be given an earlier end that would leave the office without an
    administrator (see ``_check_admin_remains``). The audit event records the role and expiry.
    """
    _check_can_manage(actor, office)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    if not getattr(user, "is_active", True):
        raise ValidationError({"user": _("This user account is deactivated.")})
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(user=user, office=office, role=role).first()
        )
        if membership is not None and role == Role.OFFICE_ADMIN:
            _check_admin_remains(membership, expires_at)
        if membership is None:
            membership = Membership.objects.create(user=user, office=office, role=role, expires_at=expires_at)
            changes = {"role": {"old": None, "new": role}, "expires_at": {"old": None, "new": expires_at}}
        else:
            if membership.is_active and membership.expires_at == expires_at:
                raise ValidationError({"role": _("This user already holds this role in this office.")})
            old = membership.expires_at
            was_active = membership.is_active
            membership.expires_at = expires_at
            membership.save(update_fields=["expires_at"])
            changes = {"expires_at": {"old": old, "new": expires_at}}
            if not was_active:
                changes["role"] = {"old": None, "new": role}
        audit_record(
            actor=actor,
            action=Action.MEMBERSHIP_GRANT,
            office=office,
            obj=membership,
            changes=changes,
            detail={"user": user.pk, "username": user.get_username(), "role": role},
        )
    forget(user)
    if actor is not None:
        forget(actor)
    return membership


def membership_revoke(*, actor: Any, membership: Membership) -> Membership:
    """End a membership now. The row is kept (ended at the time of revocation) so history stays readable.

    Needs Perm.MANAGE_MEMBERS in the membership's office. The last active administrator of an office cannot
    be revoked, so no office is left without anyone able to manage it.
    """
    office = membership.office
    _check_can_manage(actor, office)
    now = timezone.now()
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().select_related("user", "office").get(pk=membership.pk)
        )
        if not membership.is_active:
            raise ValidationError(_("This role has already ended."))
        if membership.role == Role.OFFICE_ADMIN:
            other_admins = (
                Membership.objects.active()
                .filter(office=office, role=Role.OFFICE_ADMIN, user__is_active=True)
                .exclude(pk=membership.pk)
            )
            if not other_admins.exists():
                raise ValidationError(_("An office must keep at least one administrator."))
        old = membership.expires_at
        membership.expires_at = now
        membership.save(update_fields=["expires_at"])
        audit_record(
            actor=actor,
            action=Action.MEMBERSHIP_REVOKE,
            office=office,
            obj=membership,
            changes={"expires_at": {"old": old, "new": now}},
            detail={
                "user": membership.user_id,
                "username": membership.user.get_username(),
                "role": membership.role,
            },
        )
    forget(membership.user)
    if actor is not None:
        forget(actor)
    return membership
