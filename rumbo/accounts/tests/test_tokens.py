"""API tokens: created from a verified session, shown once, revocable, audited."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.authtoken.models import Token

from rumbo.accounts.testing import enrol_device
from rumbo.accounts.tests.helpers import browser, fully_logged_in, logged_in
from rumbo.audit.models import Action, AuditEvent

TOKENS = reverse("accounts:tokens")
REVOKE = reverse("accounts:token_revoke")


def test_token_page_without_token_offers_to_create_one(world):
    html = fully_logged_in(world.caseworker).get(TOKENS).content.decode()
    assert "You have no API token." in html
    assert "Create a token" in html


def test_created_token_is_shown_once_works_on_the_api_and_is_audited(world):
    client = fully_logged_in(world.caseworker)
    response = client.post(TOKENS)
    assert response.status_code == 200
    token = Token.objects.get(user=world.caseworker)
    assert token.key in response.content.decode()
    assert token.key not in client.get(TOKENS).content.decode()
    event = AuditEvent.objects.get(action=Action.TOKEN_CREATE)
    assert event.actor == world.caseworker
    assert event.detail == {"replaced": False}
    assert token.key not in str(event.detail)
    api = browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.status_code == 200


def test_creating_again_replaces_the_old_token(world):
    client = fully_logged_in(world.caseworker)
    client.post(TOKENS)
    old = Token.objects.get(user=world.caseworker).key
    client.post(TOKENS)
    new = Token.objects.get(user=world.caseworker).key
    assert new != old
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert AuditEvent.objects.filter(action=Action.TOKEN_CREATE).latest("id").detail == {"replaced": True}


def test_revoked_token_stops_working_and_revocation_is_audited(world):
    client = fully_logged_in(world.caseworker)
    client.post(TOKENS)
    key = Token.objects.get(user=world.caseworker).key
    response = client.post(REVOKE)
    assert response["Location"] == TOKENS
    assert not Token.objects.filter(user=world.caseworker).exists()
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert AuditEvent.objects.get(action=Action.TOKEN_REVOKE).actor == world.caseworker


def test_revoking_without_a_token_changes_nothing(world):
    fully_logged_in(world.caseworker).post(REVOKE)
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKE).exists()


def test_revoke_answers_only_post(world):
    client = fully_logged_in(world.caseworker)
    client.post(TOKENS)
    assert client.get(REVOKE).status_code == 405
    assert Token.objects.filter(user=world.caseworker).exists()


def test_user_cannot_touch_another_users_token(world):
    other = Token.objects.create(user=world.jalisco_caseworker)
    client = fully_logged_in(world.caseworker)
    assert other.key not in client.get(TOKENS).content.decode()
    client.post(REVOKE)
    assert Token.objects.filter(pk=other.pk).exists()


def test_admin_needs_a_verified_session_to_create_a_token(world):
    enrol_device(world.admin)
    client = logged_in(world.admin)  # password only
    response = client.post(TOKENS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert not Token.objects.exists()


def test_token_view_checks_verification_itself_too(world, rf):
    """Defence in depth: the view refuses an unverified admin even without the middleware in front."""
    from django.contrib.sessions.backends.db import SessionStore

    from rumbo.accounts import views

    enrol_device(world.admin)
    request = rf.post(TOKENS)
    request.user = world.admin
    request.user.otp_device = None
    request.session = SessionStore()
    response = views.tokens(request)
    assert response.status_code == 302
    assert not Token.objects.exists()
