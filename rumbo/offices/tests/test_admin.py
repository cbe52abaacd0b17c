"""Django admin for offices and memberships: registered, jurisdiction widget, saves audited."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import UserFactory
from rumbo.offices.admin import MembershipAdmin, OfficeAdmin
from rumbo.offices.models import Membership, Office, Role
from rumbo.offices.tests.clients import signed_in


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_office_and_membership_are_registered_with_jurisdiction_filter_horizontal():
    assert isinstance(admin.site._registry[Office], OfficeAdmin)
    assert isinstance(admin.site._registry[Membership], MembershipAdmin)
    assert admin.site._registry[Office].filter_horizontal == ["jurisdiction"]


def test_office_change_page_renders_with_the_jurisdiction_selector(world, root):
    response = signed_in(root).get(reverse("admin:offices_office_change", args=[world.michoacan.pk]))
    assert response.status_code == 200
    assert 'name="jurisdiction"' in response.content.decode()


def test_offices_cannot_be_deleted_in_the_admin(world, root):
    response = signed_in(root).post(
        reverse("admin:offices_office_delete", args=[world.jalisco.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Office.objects.filter(pk=world.jalisco.pk).exists()


def test_admin_change_of_an_office_is_audited_with_a_diff(world, root):
    url = reverse("admin:offices_office_change", args=[world.jalisco.pk])
    data = {
        "name": "OFAM Jalisco",
        "code": "ofam-jal",
        "kind": "ofam",
        "parent": str(world.conofam.pk),
        "country": "MX",
        "represents_country": "",
        "location": str(world.jalisco.location_id),
        "time_zone": "America/Mexico_City",
        "require_two_factor": "on",
        "is_active": "on",
        "jurisdiction": [str(world.jalisco.location_id)],
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(Membership.objects.get(user=world.jalisco_caseworker).pk),
        "memberships-0-office": str(world.jalisco.pk),
    }
    response = signed_in(root).post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=Action.OFFICE_UPDATE)
    assert event.actor == root
    assert event.changes == {
        "require_two_factor": {"old": False, "new": True},
        "jurisdiction": {"old": [], "new": [world.jalisco.location_id]},
    }


def test_admin_grant_and_delete_of_a_membership_are_audited(world, root):
    client = signed_in(root)
    response = client.post(
        reverse("admin:offices_membership_add"),
        {"user": str(world.no_role.pk), "office": str(world.jalisco.pk), "role": Role.AUDITOR},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=world.no_role)
    assert AuditEvent.objects.filter(action=Action.MEMBERSHIP_GRANT, object_id=str(membership.pk)).exists()
    response = client.post(reverse("admin:offices_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action=Action.MEMBERSHIP_REVOKE, object_id=str(membership.pk)).exists()
