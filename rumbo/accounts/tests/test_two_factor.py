"""Two-factor authentication: who must use it, enrolment, verification, backup codes, enforcement."""

from __future__ import annotations

import datetime as dt
from base64 import b32encode

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.accounts.testing import api_token_key, enrol_device, totp_code
from rumbo.accounts.tests.helpers import browser, fully_logged_in, logged_in
from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import PASSWORD, UserFactory

ENROL = reverse("accounts:two_factor_enrol")
VERIFY = reverse("accounts:two_factor_verify")


def _wrong_code(device: TOTPDevice) -> str:
    right = totp_code(device)
    return "123456" if right != "123456" else "654321"


def _pending_device(client) -> TOTPDevice:
    client.get(ENROL)
    return TOTPDevice.objects.get(confirmed=False)


# --- who must use it ----------------------------------------------------------------------------------


def test_office_admin_without_device_is_sent_to_enrol_from_any_page(world):
    client = logged_in(world.admin)
    response = client.get("/?tab=1")
    assert response.status_code == 302
    assert response["Location"] == f"{ENROL}?next=%2F%3Ftab%3D1"
    assert client.get(reverse("accounts:security"))["Location"].startswith(ENROL)


def test_office_admin_with_device_is_sent_to_verify_until_verified(world):
    enrol_device(world.admin)
    client = logged_in(world.admin)
    assert client.get("/")["Location"] == f"{VERIFY}?next=%2F"


def test_staff_and_superusers_must_use_two_factor(db):
    for user in (UserFactory(is_staff=True), UserFactory(is_superuser=True)):
        client = logged_in(user)
        assert client.get("/")["Location"].startswith(ENROL)
        assert client.get("/admin/")["Location"] == f"{ENROL}?next=%2Fadmin%2F"


def test_caseworker_does_not_need_two_factor(world):
    assert logged_in(world.caseworker).get("/").status_code == 200


def test_office_policy_requires_two_factor_of_every_member(world):
    world.michoacan.require_two_factor = True
    world.michoacan.save()
    assert logged_in(world.caseworker).get("/")["Location"].startswith(ENROL)
    assert logged_in(world.jalisco_caseworker).get("/").status_code == 200


def test_expired_admin_role_no_longer_requires_two_factor(world):
    world.admin.memberships.update(expires_at=timezone.now() - dt.timedelta(days=1))
    assert logged_in(world.admin).get("/").status_code == 200


def test_caseworker_who_chose_two_factor_must_verify_after_password(world):
    enrol_device(world.caseworker)
    client = browser()
    response = client.post(reverse("accounts:login"), {"username": "lucia", "password": PASSWORD})
    assert response["Location"] == f"{VERIFY}?next=%2F"
    assert client.get("/")["Location"] == f"{VERIFY}?next=%2F"


def test_password_login_of_admin_without_device_goes_to_enrol_keeping_next(world):
    client = browser()
    response = client.post(
        f"{reverse('accounts:login')}?next=/people/", {"username": "admin-mich", "password": PASSWORD}
    )
    assert response["Location"] == f"{ENROL}?next=%2Fpeople%2F"


# --- enrolment ----------------------------------------------------------------------------------------


def test_enrol_page_shows_qr_code_and_secret_for_manual_entry(world):
    client = logged_in(world.admin)
    response = client.get(ENROL)
    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=world.admin, confirmed=False)
    html = response.content.decode()
    assert 'src="data:image/svg+xml' in html
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    assert 'autocomplete="one-time-code"' in html
    assert '<label for="id_code">' in html
    # Reloading keeps the same pending device (the QR code the user may already have scanned).
    client.get(ENROL)
    assert TOTPDevice.objects.filter(user=world.admin).count() == 1


def test_wrong_code_at_enrolment_is_an_error_at_the_field(world, frozen):
    client = logged_in(world.admin)
    device = _pending_device(client)
    response = client.post(ENROL, {"code": _wrong_code(device)})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "That code is not valid. Check the time on your phone and enter the current code."
    ]
    assert 'aria-invalid="true"' in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.TWO_FACTOR_ENROL).exists()
    assert client.get("/")["Location"].startswith(ENROL)


def test_right_code_at_enrolment_turns_two_factor_on_and_shows_backup_codes_once(world, frozen):
    client = logged_in(world.admin)
    device = _pending_device(client)
    response = client.post(ENROL, {"code": totp_code(device), "next": "/people/"})
    assert response.status_code == 200
    assert "accounts/backup_codes.html" in [t.name for t in response.templates]
    codes = response.context["codes"]
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    html = response.content.decode()
    assert all(code in html for code in codes)
    assert 'href="/people/"' in html
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(action=Action.TWO_FACTOR_ENROL)
    assert event.actor == world.admin
    assert event.detail == {"device": "totp", "backup_codes": 10}
    assert not any(code in str(event.detail) for code in codes)
    security = client.get(reverse("accounts:security")).content.decode()
    assert not any(code in security for code in codes)
    assert "10 unused backup codes" in security


def test_enrol_page_sends_an_enrolled_user_to_account_security(world):
    enrol_device(world.caseworker)
    client = fully_logged_in(world.caseworker)
    assert client.get(ENROL)["Location"] == reverse("accounts:security")


# --- verification -------------------------------------------------------------------------------------


def test_wrong_totp_code_is_an_error_at_the_field_and_audited(world, frozen):
    device = enrol_device(world.admin)
    client = logged_in(world.admin)
    response = client.post(VERIFY, {"code": _wrong_code(device), "next": "/"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["That code is not valid."]
    assert 'aria-invalid="true"' in response.content.decode()
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.actor == world.admin
    assert event.detail["stage"] == "two_factor"
    assert client.get("/")["Location"].startswith(VERIFY)


def test_right_totp_code_lets_the_admin_in_and_is_audited(world, frozen):
    device = enrol_device(world.admin)
    client = logged_in(world.admin, REMOTE_ADDR="192.0.2.10")
    response = client.post(VERIFY, {"code": totp_code(device), "next": "/people/"})
    assert response.status_code == 302
    assert response["Location"] == "/people/"
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(action=Action.TWO_FACTOR_VERIFY)
    assert event.actor == world.admin
    assert event.detail == {"device": "totp"}
    assert event.ip == "192.0.2.10"


def test_verification_starts_a_new_session_key(world, frozen):
    device = enrol_device(world.admin)
    client = logged_in(world.admin)
    before = client.session.session_key
    client.post(VERIFY, {"code": totp_code(device)})
    assert client.session.session_key != before


def test_a_code_cannot_be_used_twice(world, frozen):
    device = enrol_device(world.admin)
    code = totp_code(device)
    assert logged_in(world.admin).post(VERIFY, {"code": code}).status_code == 302
    response = logged_in(world.admin).post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]


def test_after_a_wrong_code_the_next_try_must_wait(world, frozen):
    device = enrol_device(world.admin)
    client = logged_in(world.admin)
    client.post(VERIFY, {"code": _wrong_code(device)})
    response = client.post(VERIFY, {"code": totp_code(device)})
    assert response.context["form"].errors["code"] == [
        "Too many wrong codes. Wait a moment before trying again."
    ]
    frozen.shift(2)
    assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 302


def test_backup_code_lets_the_user_in_once(world, frozen):
    enrol_device(world.admin)
    static = StaticDevice.objects.create(user=world.admin, name="Backup codes", confirmed=True)
    static.token_set.create(token="abcd2345")
    response = logged_in(world.admin).post(VERIFY, {"code": "ABCD 2345", "next": "/"})
    assert response.status_code == 302
    assert AuditEvent.objects.get(action=Action.TWO_FACTOR_VERIFY).detail == {"device": "backup_code"}
    again = logged_in(world.admin).post(VERIFY, {"code": "abcd2345"})
    assert again.status_code == 200
    assert again.context["form"].errors["code"] == ["That code is not valid."]


def test_verify_page_ignores_a_next_pointing_elsewhere(world, frozen):
    device = enrol_device(world.admin)
    response = logged_in(world.admin).post(
        VERIFY, {"code": totp_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_verify_page_sends_a_required_user_without_device_to_enrol(world):
    response = logged_in(world.admin).get(f"{VERIFY}?next=/people/")
    assert response["Location"] == f"{ENROL}?next=%2Fpeople%2F"


# --- what stays reachable, API, htmx ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/static/rumbo/rumbo.css", "/no-such-page/", VERIFY])
def test_unverified_admin_is_not_redirected_from_health_check_static_files_404s_and_verify(world, path):
    enrol_device(world.admin)
    response = logged_in(world.admin).get(path)
    assert response.status_code != 302


def test_unverified_admin_can_switch_language_and_log_out(world):
    enrol_device(world.admin)
    client = logged_in(world.admin)
    assert client.post(reverse("set_language"), {"language": "en", "next": VERIFY})["Location"] == VERIFY
    assert client.post(reverse("accounts:logout"))["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


def test_api_call_on_an_unverified_session_is_refused_in_json(world):
    enrol_device(world.admin)
    response = logged_in(world.admin).get("/api/v1/offices/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "two_factor_required"


def test_api_call_with_a_token_is_not_affected(world):
    response = browser().get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {api_token_key(world.admin)}")
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["Token nonsense", "Token "])
def test_a_token_header_does_not_let_a_web_page_skip_the_second_factor(world, header):
    members = reverse("offices:members", args=[world.michoacan.pk])
    client = logged_in(world.admin)  # password only, no device yet
    response = client.get(members, HTTP_AUTHORIZATION=header)
    assert response.status_code == 302
    assert response["Location"].startswith(ENROL)
    enrol_device(world.admin)
    response = logged_in(world.admin).get(members, HTTP_AUTHORIZATION=header)
    assert response["Location"].startswith(VERIFY)


def test_a_valid_token_does_not_let_a_web_page_skip_the_second_factor(world):
    client = logged_in(world.admin)
    members = reverse("offices:members", args=[world.michoacan.pk])
    response = client.get(members, HTTP_AUTHORIZATION=f"Token {api_token_key(world.admin)}")
    assert response.status_code == 302
    assert response["Location"].startswith(ENROL)


def test_api_call_with_a_valid_token_on_an_unverified_session_acts_as_the_token_user(world):
    key = api_token_key(world.caseworker)
    enrol_device(world.admin)
    response = logged_in(world.admin).get("/api/v1/offices/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_api_call_with_a_bad_token_on_an_unverified_session_is_refused(world):
    enrol_device(world.admin)
    response = logged_in(world.admin).get("/api/v1/offices/", HTTP_AUTHORIZATION="Token nonsense")
    assert response.status_code in (401, 403)
    assert response.status_code == 401 or response.json()["error"]["code"] == "two_factor_required"


def test_htmx_request_of_an_unverified_admin_gets_a_client_redirect(world):
    enrol_device(world.admin)
    response = logged_in(world.admin).get("/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == VERIFY


# --- turning it off, backup codes ---------------------------------------------------------------------


def test_caseworker_can_turn_two_factor_on_and_off_from_account_security(world, frozen):
    client = fully_logged_in(world.caseworker)
    assert "Set up two-factor authentication" in client.get(reverse("accounts:security")).content.decode()
    device = _pending_device(client)
    client.post(ENROL, {"code": totp_code(device)})
    assert "Turn off two-factor authentication" in client.get(reverse("accounts:security")).content.decode()
    response = client.post(reverse("accounts:two_factor_disable"))
    assert response["Location"] == reverse("accounts:security")
    assert not TOTPDevice.objects.filter(user=world.caseworker).exists()
    assert not StaticDevice.objects.filter(user=world.caseworker).exists()
    assert AuditEvent.objects.filter(action=Action.TWO_FACTOR_DISABLE, actor=world.caseworker).exists()
    # With no device left, the next login needs no code.
    assert logged_in(world.caseworker).get("/").status_code == 200


def test_admin_cannot_turn_off_required_two_factor(world):
    client = fully_logged_in(world.admin)
    assert "cannot be turned off" in client.get(reverse("accounts:security")).content.decode()
    client.post(reverse("accounts:two_factor_disable"))
    assert TOTPDevice.objects.filter(user=world.admin, confirmed=True).exists()
    assert not AuditEvent.objects.filter(action=Action.TWO_FACTOR_DISABLE).exists()


def test_disable_answers_only_post(world):
    assert fully_logged_in(world.caseworker).get(reverse("accounts:two_factor_disable")).status_code == 405


def test_new_backup_codes_replace_the_old_ones(world):
    client = fully_logged_in(world.admin)
    first = client.post(reverse("accounts:backup_codes")).context["codes"]
    second = client.post(reverse("accounts:backup_codes")).context["codes"]
    assert len(second) == 10
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(second)
    assert not set(first) & set(second)
    assert AuditEvent.objects.filter(action=Action.TWO_FACTOR_BACKUP_CODES).count() == 2


def test_backup_codes_need_an_enrolled_app(world):
    client = fully_logged_in(world.caseworker)
    response = client.post(reverse("accounts:backup_codes"))
    assert response["Location"] == reverse("accounts:security")
    assert not StaticDevice.objects.exists()
