"""Password login, logout and django-axes lockout, and their audit events."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from rumbo.accounts.tests.helpers import browser
from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import PASSWORD

LOGIN = "/accounts/login/"


def _post_login(client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_login_page_has_accessible_fields(db):
    html = browser().get(LOGIN).content.decode()
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


def test_successful_login_is_audited_with_request_id_and_ip(lucia):
    client = browser(REMOTE_ADDR="203.0.113.7")
    response = _post_login(client, "lucia", PASSWORD, HTTP_X_REQUEST_ID="req-login-0001")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    event = AuditEvent.objects.get(action=Action.LOGIN)
    assert event.actor == lucia
    assert event.request_id == "req-login-0001"
    assert event.ip == "203.0.113.7"


def test_failed_login_is_audited_with_username_but_never_the_password(lucia):
    client = browser(REMOTE_ADDR="203.0.113.8")
    response = _post_login(client, "lucia", "not-my-password-123", HTTP_X_REQUEST_ID="req-fail-0001")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.actor is None
    assert event.detail["username"] == "lucia"
    assert event.object_id == str(lucia.pk)
    assert event.request_id == "req-fail-0001"
    assert event.ip == "203.0.113.8"
    assert "not-my-password-123" not in str(event.detail) + str(event.changes)
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()


def test_failed_login_for_unknown_username_is_audited_without_object(db):
    _post_login(browser(), "nobody-here", "whatever-password-1")
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.detail["username"] == "nobody-here"
    assert event.object_id == ""


def test_login_is_locked_after_failure_limit_and_shows_when_to_retry(lucia):
    client = browser()
    limit = settings.AXES_FAILURE_LIMIT
    for _attempt in range(limit - 1):
        assert _post_login(client, "lucia", "wrong-password-xyz").status_code == 200
    response = _post_login(client, "lucia", "wrong-password-xyz")
    assert response.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "Logging in is blocked for now" in html
    assert "You can try again in 15 minutes, at" in html
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED).count() == limit
    lockout = AuditEvent.objects.get(action=Action.LOCKOUT)
    assert lockout.detail["username"] == "lucia"
    assert lockout.object_id == str(lucia.pk)


def test_locked_out_user_cannot_log_in_even_with_the_right_password(lucia):
    client = browser()
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        _post_login(client, "lucia", "wrong-password-xyz")
    response = _post_login(client, "lucia", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()


def test_failures_below_the_limit_do_not_lock_out(lucia):
    client = browser()
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        _post_login(client, "lucia", "wrong-password-xyz")
    response = _post_login(client, "lucia", PASSWORD)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=Action.LOCKOUT).exists()


def test_login_follows_a_local_next(lucia):
    response = browser().post(f"{LOGIN}?next=/people/", {"username": "lucia", "password": PASSWORD})
    assert response["Location"] == "/people/"


def test_login_form_carries_next_in_a_hidden_field(db):
    html = browser().get(f"{LOGIN}?next=/people/").content.decode()
    assert 'name="next" value="/people/"' in html


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/x", "https:evil.example"])
def test_login_ignores_a_next_pointing_elsewhere(lucia, evil):
    response = browser().post(LOGIN, {"username": "lucia", "password": PASSWORD, "next": evil})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_requires_post(lucia):
    client = browser()
    client.force_login(lucia)
    assert client.get("/accounts/logout/").status_code == 405
    assert "_auth_user_id" in client.session


def test_logout_is_audited_with_request_id_and_ip(lucia):
    client = browser(REMOTE_ADDR="198.51.100.4")
    client.force_login(lucia)
    response = client.post("/accounts/logout/", HTTP_X_REQUEST_ID="req-logout-001")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action=Action.LOGOUT)
    assert event.actor == lucia
    assert event.detail == {"reason": "user"}
    assert event.request_id == "req-logout-001"
    assert event.ip == "198.51.100.4"


def test_logout_says_so_on_the_login_page(lucia):
    client = browser()
    client.force_login(lucia)
    response = client.post("/accounts/logout/", follow=True)
    assert "You have logged out." in response.content.decode()
