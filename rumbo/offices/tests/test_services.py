"""Office and membership services: who may write, validation at the field, audit events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import UserFactory
from rumbo.offices.models import Membership, Office, Role
from rumbo.offices.permissions import Perm, has_perm
from rumbo.offices.services import membership_grant, membership_revoke, office_create, office_update

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _area(code: str, level: int = 1) -> AdminArea:
    return AdminArea.objects.get(country="MX", level=level, code=code)


# --- office_create ----------------------------------------------------------------------------------


def test_system_creates_office_with_jurisdiction_and_audit_event(world):
    office = office_create(
        actor=None,
        name="OFAM Chiapas",
        code="ofam-chis",
        kind=Office.Kind.OFAM,
        parent=world.conofam,
        location=_area("07"),
        jurisdiction=[_area("07")],
        time_zone="America/Mexico_City",
    )
    assert list(office.jurisdiction.values_list("code", flat=True)) == ["07"]
    (event,) = _events(Action.OFFICE_CREATE)
    assert event.object_id == str(office.pk)
    assert event.office_id == office.pk
    assert event.changes["code"] == {"old": None, "new": "ofam-chis"}
    assert event.changes["jurisdiction"] == {"old": None, "new": [_area("07").pk]}


def test_office_admin_of_parent_may_open_a_sub_office(world):
    admin: Any = UserFactory()
    Membership.objects.create(user=admin, office=world.conofam, role=Role.OFFICE_ADMIN)
    office = office_create(
        actor=admin, name="OFAM Oaxaca", code="ofam-oax", kind="ofam", parent=world.conofam
    )
    assert office.parent == world.conofam
    assert _events(Action.OFFICE_CREATE)[0].actor == admin


@pytest.mark.parametrize("persona", ["caseworker", "admin", "coordinator", "no_role"])
def test_non_admins_of_the_parent_cannot_create_offices(world, persona):
    # The Michoacán admin is not an admin of CONOFAM; the coordinator sits in CONOFAM without admin rights.
    with pytest.raises(PermissionDenied):
        office_create(
            actor=getattr(world, persona), name="X", code="x-office", kind="ofam", parent=world.conofam
        )
    assert not Office.objects.filter(code="x-office").exists()


def test_create_rejects_unknown_time_zone_and_country_at_their_fields(world):
    with pytest.raises(ValidationError) as exc:
        office_create(actor=None, name="Bad", code="bad", kind="ofam", time_zone="Mars/Olympus", country="XX")
    assert set(exc.value.message_dict) == {"time_zone", "country"}
    assert "Mars/Olympus" in exc.value.message_dict["time_zone"][0]
    assert not Office.objects.filter(code="bad").exists()
    assert not _events(Action.OFFICE_CREATE)


def test_create_rejects_duplicate_code_at_code_field(world):
    with pytest.raises(ValidationError) as exc:
        office_create(actor=None, name="Again", code="ofam-mich", kind="ofam")
    assert set(exc.value.message_dict) == {"code"}


# --- office_update ----------------------------------------------------------------------------------


def test_office_admin_updates_settings_with_field_diff_in_audit(world):
    office_update(
        actor=world.admin,
        office=world.michoacan,
        data={"time_zone": "America/Tijuana", "require_two_factor": True, "jurisdiction": [_area("16")]},
    )
    world.michoacan.refresh_from_db()
    assert world.michoacan.time_zone == "America/Tijuana"
    (event,) = _events(Action.OFFICE_UPDATE)
    assert event.actor == world.admin
    assert event.changes == {
        "time_zone": {"old": "America/Mexico_City", "new": "America/Tijuana"},
        "require_two_factor": {"old": False, "new": True},
        "jurisdiction": {"old": [], "new": [_area("16").pk]},
    }


def test_update_without_changes_writes_no_event(world):
    office_update(actor=world.admin, office=world.michoacan, data={"name": "OFAM Michoacán"})
    assert not _events(Action.OFFICE_UPDATE)


def test_update_with_unknown_time_zone_saves_nothing(world):
    with pytest.raises(ValidationError) as exc:
        office_update(
            actor=world.admin, office=world.michoacan, data={"name": "Renamed", "time_zone": "Nowhere/City"}
        )
    assert set(exc.value.message_dict) == {"time_zone"}
    fresh = Office.objects.get(pk=world.michoacan.pk)
    assert (fresh.name, fresh.time_zone) == ("OFAM Michoacán", "America/Mexico_City")
    assert not _events(Action.OFFICE_UPDATE)


@pytest.mark.parametrize("persona", ["caseworker", "auditor", "coordinator", "trainer", "jalisco_caseworker"])
def test_only_the_office_admin_may_update_the_office(world, persona):
    with pytest.raises(PermissionDenied):
        office_update(actor=getattr(world, persona), office=world.michoacan, data={"name": "Hijacked"})
    assert Office.objects.get(pk=world.michoacan.pk).name == "OFAM Michoacán"


def test_office_admin_cannot_move_or_deactivate_the_office(world):
    for data in ({"parent": None}, {"is_active": False}, {"code": "new-code"}, {"kind": "partner"}):
        with pytest.raises(PermissionDenied):
            office_update(actor=world.admin, office=world.michoacan, data=data)


def test_superuser_cannot_put_an_office_below_its_own_child(world):
    root = UserFactory(is_superuser=True, is_staff=True)
    with pytest.raises(ValidationError) as exc:
        office_update(actor=root, office=world.conofam, data={"parent": world.michoacan})
    assert set(exc.value.message_dict) == {"parent"}
    assert Office.objects.get(pk=world.conofam.pk).parent is None


# --- membership_grant -------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_office_admin_grants_a_role_with_expiry_and_it_is_audited(world):
    newcomer: Any = UserFactory(username="nueva")
    until = NOW + dt.timedelta(days=30)
    membership = membership_grant(
        actor=world.admin, office=world.michoacan, user=newcomer, role=Role.CASEWORKER, expires_at=until
    )
    assert membership.expires_at == until
    assert has_perm(newcomer, Perm.VIEW_PERSON, world.michoacan.pk)
    (event,) = _events(Action.MEMBERSHIP_GRANT)
    assert (event.actor, event.office) == (world.admin, world.michoacan)
    assert event.detail == {"user": newcomer.pk, "username": "nueva", "role": "caseworker"}
    assert event.changes["expires_at"] == {"old": None, "new": until.isoformat()}


@pytest.mark.parametrize("persona", ["caseworker", "auditor", "trainer", "coordinator", "jalisco_caseworker"])
def test_non_admins_cannot_grant_roles(world, persona):
    with pytest.raises(PermissionDenied):
        membership_grant(
            actor=getattr(world, persona), office=world.michoacan, user=world.no_role, role=Role.OFFICE_ADMIN
        )
    assert not Membership.objects.filter(user=world.no_role).exists()


def test_admin_of_one_office_cannot_grant_roles_in_another(world):
    with pytest.raises(PermissionDenied):
        membership_grant(actor=world.admin, office=world.jalisco, user=world.admin, role=Role.CASEWORKER)
    with pytest.raises(PermissionDenied):
        membership_grant(actor=world.admin, office=world.conofam, user=world.admin, role=Role.COORDINATOR)
    assert not has_perm(world.admin, Perm.VIEW_PERSON, world.jalisco.pk)


@time_machine.travel(NOW, tick=False)
def test_grant_rejects_a_past_expiry_and_an_unknown_role_at_their_fields(world):
    with pytest.raises(ValidationError) as exc:
        membership_grant(
            actor=world.admin,
            office=world.michoacan,
            user=world.no_role,
            role=Role.CASEWORKER,
            expires_at=NOW - dt.timedelta(minutes=1),
        )
    assert set(exc.value.message_dict) == {"expires_at"}
    with pytest.raises(ValidationError) as exc:
        membership_grant(actor=world.admin, office=world.michoacan, user=world.no_role, role="superhero")
    assert set(exc.value.message_dict) == {"role"}
    assert not Membership.objects.filter(user=world.no_role).exists()
    assert not _events(Action.MEMBERSHIP_GRANT)


def test_granting_a_held_role_again_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        membership_grant(
            actor=world.admin, office=world.michoacan, user=world.caseworker, role=Role.CASEWORKER
        )
    assert set(exc.value.message_dict) == {"role"}


@time_machine.travel(NOW, tick=False)
def test_granting_a_held_role_with_a_new_expiry_changes_the_expiry(world):
    until = NOW + dt.timedelta(days=7)
    membership = membership_grant(
        actor=world.admin,
        office=world.michoacan,
        user=world.caseworker,
        role=Role.CASEWORKER,
        expires_at=until,
    )
    assert Membership.objects.filter(user=world.caseworker, role=Role.CASEWORKER).count() == 1
    assert membership.expires_at == until
    (event,) = _events(Action.MEMBERSHIP_GRANT)
    assert event.changes == {"expires_at": {"old": None, "new": until.isoformat()}}


def test_grant_refuses_a_deactivated_account(world):
    world.no_role.is_active = False
    world.no_role.save()
    with pytest.raises(ValidationError) as exc:
        membership_grant(actor=world.admin, office=world.michoacan, user=world.no_role, role=Role.CASEWORKER)
    assert set(exc.value.message_dict) == {"user"}


@time_machine.travel(NOW, tick=False)
def test_the_last_administrator_cannot_be_given_an_end_date(world):
    membership = Membership.objects.get(user=world.admin, office=world.michoacan)
    with pytest.raises(ValidationError) as exc:
        membership_grant(
            actor=world.admin,
            office=world.michoacan,
            user=world.admin,
            role=Role.OFFICE_ADMIN,
            expires_at=NOW + dt.timedelta(days=7),
        )
    assert set(exc.value.message_dict) == {"expires_at"}
    membership.refresh_from_db()
    assert membership.expires_at is None
    assert not _events(Action.MEMBERSHIP_GRANT)


@time_machine.travel(NOW, tick=False)
def test_an_administrator_can_be_given_an_end_date_when_another_stays_longer(world):
    second: Any = UserFactory()
    until = NOW + dt.timedelta(days=7)
    membership_grant(
        actor=world.admin,
        office=world.michoacan,
        user=second,
        role=Role.OFFICE_ADMIN,
        expires_at=NOW + dt.timedelta(days=3),
    )
    # The other administrator leaves first: the office would be left without one.
    with pytest.raises(ValidationError) as exc:
        membership_grant(
            actor=world.admin,
            office=world.michoacan,
            user=world.admin,
            role=Role.OFFICE_ADMIN,
            expires_at=until,
        )
    assert set(exc.value.message_dict) == {"expires_at"}
    membership_grant(
        actor=world.admin,
        office=world.michoacan,
        user=second,
        role=Role.OFFICE_ADMIN,
        expires_at=NOW + dt.timedelta(days=8),
    )
    membership_grant(
        actor=world.admin, office=world.michoacan, user=world.admin, role=Role.OFFICE_ADMIN, expires_at=until
    )
    assert Membership.objects.get(user=world.admin, office=world.michoacan).expires_at == until


@time_machine.travel(NOW, tick=False)
def test_a_sole_administrator_with_an_end_date_may_still_extend_it(world):
    membership = Membership.objects.get(user=world.admin, office=world.michoacan)
    membership.expires_at = NOW + dt.timedelta(days=3)
    membership.save()
    later = NOW + dt.timedelta(days=30)
    membership_grant(
        actor=world.admin, office=world.michoacan, user=world.admin, role=Role.OFFICE_ADMIN, expires_at=later
    )
    membership.refresh_from_db()
    assert membership.expires_at == later


# --- membership_revoke ------------------------------------------------------------------------------


def test_revoke_ends_the_role_keeps_the_row_and_is_audited(world):
    membership = Membership.objects.get(user=world.caseworker, office=world.michoacan)
    assert has_perm(world.caseworker, Perm.VIEW_PERSON, world.michoacan.pk)
    with time_machine.travel(NOW, tick=False):
        membership_revoke(actor=world.admin, membership=membership)
    with time_machine.travel(NOW + dt.timedelta(seconds=1), tick=False):
        membership.refresh_from_db()
        assert membership.expires_at == NOW
        assert not membership.is_active
        fresh = type(world.caseworker).objects.get(
            pk=world.caseworker.pk
        )  # memberships are cached per object
        assert not has_perm(fresh, Perm.VIEW_PERSON, world.michoacan.pk)
    (event,) = _events(Action.MEMBERSHIP_REVOKE)
    assert event.detail["username"] == "lucia"
    assert event.changes == {"expires_at": {"old": None, "new": NOW.isoformat()}}


@time_machine.travel(NOW, tick=False)
def test_a_revoked_role_can_be_granted_again(world):
    membership = Membership.objects.get(user=world.caseworker, office=world.michoacan)
    membership_revoke(actor=world.admin, membership=membership)
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        again = membership_grant(
            actor=world.admin, office=world.michoacan, user=world.caseworker, role=Role.CASEWORKER
        )
        assert again.pk == membership.pk
        assert again.is_active
        assert has_perm(world.caseworker, Perm.VIEW_PERSON, world.michoacan.pk)


@pytest.mark.parametrize("persona", ["caseworker", "auditor", "coordinator", "jalisco_caseworker"])
def test_non_admins_cannot_revoke(world, persona):
    membership = Membership.objects.get(user=world.trainer, office=world.michoacan)
    with pytest.raises(PermissionDenied):
        membership_revoke(actor=getattr(world, persona), membership=membership)
    membership.refresh_from_db()
    assert membership.is_active


def test_the_last_administrator_cannot_be_revoked(world):
    membership = Membership.objects.get(user=world.admin, office=world.michoacan)
    with pytest.raises(ValidationError):
        membership_revoke(actor=world.admin, membership=membership)
    membership.refresh_from_db()
    assert membership.is_active
    second = UserFactory()
    membership_grant(actor=world.admin, office=world.michoacan, user=second, role=Role.OFFICE_ADMIN)
    membership_revoke(actor=world.admin, membership=membership)
    assert not Membership.objects.get(pk=membership.pk).is_active


def test_revoking_an_ended_role_is_refused(world):
    membership = Membership.objects.get(user=world.trainer, office=world.michoacan)
    membership.expires_at = timezone.now() - dt.timedelta(days=1)
    membership.save()
    with pytest.raises(ValidationError):
        membership_revoke(actor=world.admin, membership=membership)
    assert not _events(Action.MEMBERSHIP_REVOKE)
