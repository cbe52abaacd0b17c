"""Changing one's password: Django's validators, errors at the field, audit."""

from __future__ import annotations

from django.urls import reverse

from rumbo.accounts.tests.helpers import browser, fully_logged_in
from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import PASSWORD

URL = reverse("accounts:password_change")


def _change(client, old: str, new1: str, new2: str | None = None):
    return client.post(
        URL, {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2}
    )


def test_password_form_has_autocomplete_hints_and_labels(world):
    html = fully_logged_in(world.caseworker).get(URL).content.decode()
    assert 'name="old_password" autocomplete="current-password"' in html
    assert html.count('autocomplete="new-password"') == 2
    assert '<label for="id_new_password1">' in html


def test_short_common_password_is_refused_at_the_new_password_field(world):
    response = _change(fully_logged_in(world.caseworker), PASSWORD, "password")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"new_password2"}
    assert "This password is too short. It must contain at least 12 characters." in errors["new_password2"]
    assert "This password is too common." in errors["new_password2"]
    world.caseworker.refresh_from_db()
    assert world.caseworker.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action=Action.PASSWORD_CHANGE).exists()


def test_wrong_current_password_is_refused_at_that_field(world):
    response = _change(fully_logged_in(world.caseworker), "not-the-password", "a-much-better-passphrase-42")
    assert set(response.context["form"].errors) == {"old_password"}
    assert 'aria-invalid="true"' in response.content.decode()


def test_mismatched_new_passwords_are_refused_at_the_confirmation_field(world):
    response = _change(
        fully_logged_in(world.caseworker), PASSWORD, "a-much-better-passphrase-42", "other-one-42"
    )
    assert set(response.context["form"].errors) == {"new_password2"}


def test_password_change_keeps_this_session_ends_others_and_is_audited(world):
    client = fully_logged_in(world.caseworker)
    other_device = fully_logged_in(world.caseworker)
    response = _change(client, PASSWORD, "a-much-better-passphrase-42")
    assert response["Location"] == reverse("accounts:security")
    world.caseworker.refresh_from_db()
    assert world.caseworker.check_password("a-much-better-passphrase-42")
    assert client.get("/").status_code == 200
    assert other_device.get("/")["Location"].startswith(reverse("accounts:login"))
    assert AuditEvent.objects.get(action=Action.PASSWORD_CHANGE).actor == world.caseworker
    login = browser().post(
        reverse("accounts:login"), {"username": "lucia", "password": "a-much-better-passphrase-42"}
    )
    assert login.status_code == 302
