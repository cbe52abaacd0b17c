"""Session idle timeout (the two-factor middleware is covered in test_two_factor)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse

from rumbo.accounts.tests.helpers import fully_logged_in
from rumbo.audit.models import Action, AuditEvent


def _idle_limit_seconds() -> int:
    return settings.SESSION_IDLE_MINUTES * 60


def test_activity_within_the_idle_limit_keeps_the_session(world, frozen):
    client = fully_logged_in(world.caseworker)
    for _request in range(3):
        frozen.shift(_idle_limit_seconds() - 60)
        assert client.get("/").status_code == 200
    assert not AuditEvent.objects.filter(action=Action.LOGOUT).exists()


def test_idle_session_ends_and_the_user_is_told_why(world, frozen):
    client = fully_logged_in(world.caseworker)
    assert client.get("/").status_code == 200
    frozen.shift(_idle_limit_seconds() + 1)
    response = client.get("/people/?q=ana")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next=%2Fpeople%2F%3Fq%3Dana"
    assert "_auth_user_id" not in client.session
    minutes = settings.SESSION_IDLE_MINUTES
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Your session ended after {minutes} minutes without activity. Please log in again."
    ]
    page = client.get(response["Location"]).content.decode()
    assert f"Your session ended after {settings.SESSION_IDLE_MINUTES} minutes without activity" in page
    event = AuditEvent.objects.get(action=Action.LOGOUT)
    assert event.actor == world.caseworker
    assert event.detail == {"reason": "idle"}


@override_settings(SESSION_IDLE_MINUTES=1)
def test_idle_limit_comes_from_settings_and_says_minute_in_singular(world, frozen):
    client = fully_logged_in(world.caseworker)
    client.get("/")
    frozen.shift(61)
    response = client.get("/", follow=True)
    assert "Your session ended after 1 minute without activity." in response.content.decode()


def test_idle_api_session_continues_unauthenticated(world, frozen):
    client = fully_logged_in(world.caseworker)
    client.get("/")
    frozen.shift(_idle_limit_seconds() + 1)
    response = client.get("/api/v1/offices/")
    assert response.status_code in (401, 403)
    assert "_auth_user_id" not in client.session


def test_idle_htmx_request_gets_a_client_redirect(world, frozen):
    client = fully_logged_in(world.caseworker)
    client.get("/")
    frozen.shift(_idle_limit_seconds() + 1)
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("accounts:login")
