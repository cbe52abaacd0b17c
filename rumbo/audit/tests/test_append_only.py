"""Audit events are append-only at every level: model, queryset, database triggers, admin and URLs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from rumbo.audit.admin import AuditEventAdmin
from rumbo.audit.models import Action, AuditEvent
from rumbo.audit.services import audit_record
from rumbo.lib.testing.factories import UserFactory
from rumbo.offices.tests.clients import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(db) -> AuditEvent:
    return audit_record(actor=None, action=Action.LOGIN_FAILED, detail={"username": "x"})


def _unchanged(event: AuditEvent) -> None:
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert (fresh.action, fresh.detail) == (Action.LOGIN_FAILED, {"username": "x"})


# --- model and queryset -----------------------------------------------------------------------------


def test_saving_an_existing_event_raises(event):
    event.action = Action.LOGIN
    with pytest.raises(PermissionError):
        event.save()
    _unchanged(event)


def test_deleting_an_event_raises(event):
    with pytest.raises(PermissionError):
        event.delete()
    _unchanged(event)


def test_queryset_update_and_delete_raise(event):
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action=Action.LOGIN)
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action=Action.LOGIN)
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    _unchanged(event)


def test_bulk_update_raises(event):
    event.action = Action.LOGIN
    with pytest.raises(PermissionError), transaction.atomic():  # bulk_update marks its transaction broken
        AuditEvent.objects.bulk_update([event], ["action"])
    _unchanged(event)


# --- database triggers (migration 0002), on SQLite and PostgreSQL ---------------------------------------


def _raw(sql: str, params: list[Any] | None = None) -> None:
    # A savepoint, so the refused statement does not poison the test's transaction on PostgreSQL.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_raw_sql_update_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET action = %s WHERE id = %s", [Action.LOGIN, event.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET actor_label = 'someone else'")
    _unchanged(event)


def test_raw_sql_delete_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent")
    _unchanged(event)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
def test_truncate_is_refused_on_postgresql(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("TRUNCATE audit_auditevent")
    _unchanged(event)


def test_inserting_stays_possible(event):
    audit_record(actor=None, action=Action.LOGIN_FAILED)
    assert AuditEvent.objects.count() == 2


def test_deleting_a_user_keeps_their_events_and_name(event):
    user: Any = UserFactory(username="leaving")
    mine = audit_record(actor=user, action=Action.LOGIN)
    user.delete()  # must not try to null the reference (the triggers would refuse it)
    fresh = AuditEvent.objects.get(pk=mine.pk)
    assert (fresh.actor_id, fresh.actor_label) == (mine.actor_id, "leaving")


# --- admin ------------------------------------------------------------------------------------------


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_admin_grants_no_add_change_or_delete_permission_and_every_field_is_read_only(event, root):
    model_admin = admin.site._registry[AuditEvent]
    assert isinstance(model_admin, AuditEventAdmin)
    request = RequestFactory().get("/")
    request.user = root
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    concrete = {f.name for f in AuditEvent._meta.concrete_fields if f.name != "id"}
    assert set(model_admin.get_readonly_fields(request, event)) == concrete
    assert "delete_selected" not in model_admin.get_actions(request)


def test_superuser_can_look_but_not_change_or_delete_through_the_admin(event, root):
    client = signed_in(root)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    page = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert 'type="submit"' not in page.content.decode().split('id="content-main"')[1]
    post = client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"action": Action.LOGIN})
    assert post.status_code == 403
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert (
        client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    bulk = client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    _unchanged(event)


# --- no URL edits an event --------------------------------------------------------------------------


def _audit_routes() -> list[str]:
    """Every concrete URL (with sample arguments) whose view lives in the audit app, UI or API."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif p.callback.__module__.startswith("rumbo.audit"):
                route = prefix + str(p.pattern)
                for converter in ("<int:person_id>", "<int:pk>", "<int:id>", "<str:pk>"):
                    route = route.replace(converter, "1")
                found.append("/" + route.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_audit_app_routes_are_known():
    routes = _audit_routes()
    assert reverse("audit:list") in routes
    assert reverse("audit:person", args=[1]) in routes


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_audit_route_accepts_a_write(event, method):
    auditor_client = signed_in(UserFactory(is_staff=True, is_superuser=True))
    before = AuditEvent.objects.count()
    for route in _audit_routes():
        response = getattr(auditor_client, method)(route, {})
        assert response.status_code in (403, 404, 405), (route, method, response.status_code)
    _unchanged(event)
    assert AuditEvent.objects.count() == before
