"""API tokens: created from a verified session, shown once, stored as digests, revocable, audited."""

from __future__ import annotations

import hashlib
import re

from django.urls import reverse

from rumbo.accounts.models import ApiToken
from rumbo.accounts.testing import api_token_key, enrol_device
from rumbo.accounts.tests.helpers import browser, fully_logged_in, logged_in
from rumbo.audit.models import Action, AuditEvent

TOKENS = reverse("accounts:tokens")
REVOKE = reverse("accounts:token_revoke")


def _create(client) -> str:
    """Create a token on the tokens page; returns the key the page shows (once)."""
    response = client.post(TOKENS)
    assert response.status_code == 200
    found = re.search(r'<code class="secret">([0-9a-f]+)</code>', response.content.decode())
    assert found is not None
    return found.group(1)


def test_token_page_without_token_offers_to_create_one(world):
    html = fully_logged_in(world.caseworker).get(TOKENS).content.decode()
    assert "You have no API token." in html
    assert "Create a token" in html


def test_created_token_is_shown_once_works_on_the_api_and_is_audited(world):
    client = fully_logged_in(world.caseworker)
    key = _create(client)
    assert ApiToken.objects.filter(user=world.caseworker).exists()
    assert key not in client.get(TOKENS).content.decode()
    event = AuditEvent.objects.get(action=Action.TOKEN_CREATE)
    assert event.actor == world.caseworker
    assert event.detail == {"replaced": False}
    assert key not in str(event.detail)
    api = browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {key}")
    assert api.status_code == 200


def test_only_a_digest_of_the_key_is_stored(world):
    key = _create(fully_logged_in(world.caseworker))
    token = ApiToken.objects.get(user=world.caseworker)
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(list(ApiToken.objects.values()))


def test_creating_again_replaces_the_old_token(world):
    client = fully_logged_in(world.caseworker)
    old = _create(client)
    new = _create(client)
    assert new != old
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert AuditEvent.objects.filter(action=Action.TOKEN_CREATE).latest("id").detail == {"replaced": True}


def test_revoked_token_stops_working_and_revocation_is_audited(world):
    client = fully_logged_in(world.caseworker)
    key = _create(client)
    response = client.post(REVOKE)
    assert response["Location"] == TOKENS
    assert not ApiToken.objects.filter(user=world.caseworker).exists()
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert AuditEvent.objects.get(action=Action.TOKEN_REVOKE).actor == world.caseworker


def test_revoking_without_a_token_changes_nothing(world):
    fully_logged_in(world.caseworker).post(REVOKE)
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKE).exists()


def test_revoke_answers_only_post(world):
    client = fully_logged_in(world.caseworker)
    client.post(TOKENS)
    assert client.get(REVOKE).status_code == 405
    assert ApiToken.objects.filter(user=world.caseworker).exists()


def test_user_cannot_touch_another_users_token(world):
    other = api_token_key(world.jalisco_caseworker)
    client = fully_logged_in(world.caseworker)
    assert other not in client.get(TOKENS).content.decode()
    client.post(REVOKE)
    assert browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 200


def test_admin_needs_a_verified_session_to_create_a_token(world):
    enrol_device(world.admin)
    client = logged_in(world.admin)  # password only
    response = client.post(TOKENS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert not ApiToken.objects.exists()


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
    assert not ApiToken.objects.exists()


def _works(key: str) -> bool:
    return browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_changing_the_password_deletes_the_token_audited(world):
    from rumbo.lib.testing.factories import PASSWORD

    client = fully_logged_in(world.caseworker)
    key = _create(client)
    new = "a-much-better-passphrase-42"
    client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert not _works(key)
    assert not ApiToken.objects.filter(user=world.caseworker).exists()
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKE)
    assert (event.actor, event.detail) == (world.caseworker, {"reason": "password_change"})


def test_turning_two_factor_off_deletes_the_token_audited(world):
    enrol_device(world.caseworker)
    client = fully_logged_in(world.caseworker)
    key = _create(client)
    client.post(reverse("accounts:two_factor_disable"))
    assert not _works(key)
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKE)
    assert (event.actor, event.detail) == (world.caseworker, {"reason": "two_factor_disable"})


def test_drf_clear_text_tokens_are_not_in_the_admin(world):
    from django.contrib import admin
    from rest_framework.authtoken.models import Token, TokenProxy

    assert not admin.site.is_registered(TokenProxy)
    assert not admin.site.is_registered(Token)
    assert not admin.site.is_registered(ApiToken)


def test_a_clear_text_drf_token_does_not_authenticate(world):
    from rest_framework.authtoken.models import Token

    assert not _works(Token.objects.create(user=world.caseworker).key)


def test_migration_hashes_existing_clear_text_tokens_which_keep_working(world):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection
    from rest_framework.authtoken.models import Token

    migration = importlib.import_module("rumbo.accounts.migrations.0003_hash_existing_api_tokens")
    old = Token.objects.create(user=world.caseworker)
    migration.hash_clear_tokens(apps, SimpleNamespace(connection=connection))
    assert not Token.objects.exists()  # no key left in clear
    token = ApiToken.objects.get(user=world.caseworker)
    assert token.created == old.created
    assert _works(old.key)
