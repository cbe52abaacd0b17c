"""Security headers on every response, and secure cookies outside DEBUG."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from rumbo.accounts.tests.helpers import browser, fully_logged_in
from rumbo.lib.testing.factories import PASSWORD


def test_responses_carry_a_strict_content_security_policy_and_security_headers(db):
    response = browser().get(reverse("accounts:login"))
    csp = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def _settings_outside_debug(**env: str) -> list[str]:
    """The cookie settings the settings module computes from a given environment (fresh process)."""
    code = (
        "import rumbo.settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY)"
    )
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "RUMBO_SECURE_COOKIES", "RUMBO_LOCAL_HTTP"}
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_cookies_are_secure_and_http_only_by_default_outside_debug(tmp_path):
    assert _settings_outside_debug(RUMBO_DATA_DIR=str(tmp_path)) == ["False", *["True"] * 5]
    assert _settings_outside_debug(
        RUMBO_DATA_DIR=str(tmp_path), DEBUG="False", RUMBO_SECURE_COOKIES="true"
    ) == [
        "False",
        *["True"] * 5,
    ]


def _transport_settings(**env: str) -> list[str]:
    """HSTS and HTTPS-redirect settings computed from a given environment (fresh process)."""
    code = (
        "import rumbo.settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT)"
    )
    ours = {"DEBUG", "RUMBO_SECURE_COOKIES", "RUMBO_LOCAL_HTTP", "RUMBO_HSTS_SECONDS"}
    ours |= {"RUMBO_HSTS_INCLUDE_SUBDOMAINS", "RUMBO_SSL_REDIRECT"}
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    result = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_hsts_is_on_for_a_year_with_subdomains_when_cookies_are_secure(tmp_path):
    data = str(tmp_path)
    assert _transport_settings(RUMBO_DATA_DIR=data) == ["31536000", "True", "False"]
    assert _transport_settings(RUMBO_DATA_DIR=data, RUMBO_SECURE_COOKIES="false")[:2] == ["0", "False"]
    assert _transport_settings(RUMBO_DATA_DIR=data, DEBUG="true")[:2] == ["0", "False"]


def test_hsts_and_the_https_redirect_can_be_set_from_the_environment(tmp_path):
    env = {"RUMBO_DATA_DIR": str(tmp_path), "RUMBO_HSTS_SECONDS": "600"}
    assert _transport_settings(**env, RUMBO_HSTS_INCLUDE_SUBDOMAINS="false") == ["600", "False", "False"]
    assert _transport_settings(**env, RUMBO_SSL_REDIRECT="true") == ["600", "True", "True"]
    assert _transport_settings(RUMBO_DATA_DIR=str(tmp_path), RUMBO_HSTS_SECONDS="0")[0] == "0"


def test_plain_http_for_local_debugging_must_be_asked_for(tmp_path):
    assert _settings_outside_debug(RUMBO_DATA_DIR=str(tmp_path), DEBUG="true")[:3] == [
        "True",
        "False",
        "False",
    ]


@override_settings(DEBUG=False, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_session_and_csrf_cookies_are_sent_secure_and_http_only(world):
    client = browser()
    page = client.get(reverse("accounts:login"))
    csrf = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] and csrf["httponly"]
    response = client.post(reverse("accounts:login"), {"username": "lucia", "password": PASSWORD})
    session = response.cookies["sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle=|<style", re.IGNORECASE)


@pytest.mark.parametrize(
    "name",
    ["accounts:security", "accounts:password_change", "accounts:tokens", "accounts:two_factor_enrol"],
)
def test_account_pages_need_no_inline_script_or_style(world, name):
    html = fully_logged_in(world.caseworker).get(reverse(name)).content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html)
