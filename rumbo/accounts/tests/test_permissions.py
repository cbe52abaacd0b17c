"""Permission matrix of the account pages: anonymous users go to login; every logged-in user, with or
without a role in any office, reaches their own pages (and only their own data is on them)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rumbo.accounts.tests.helpers import browser, fully_logged_in, logged_in

# (url name, method, status for a logged-in user)
PAGES = [
    ("accounts:security", "get", 200),
    ("accounts:password_change", "get", 200),
    ("accounts:tokens", "get", 200),
    ("accounts:tokens", "post", 200),
    ("accounts:token_revoke", "post", 302),
    ("accounts:two_factor_enrol", "get", 200),
    ("accounts:two_factor_disable", "post", 302),
    ("accounts:backup_codes", "post", 302),
    ("accounts:two_factor_verify", "get", 302),  # nothing to verify: back to where they were going
]
PERSONAS = ["caseworker", "auditor", "coordinator", "trainer", "jalisco_caseworker", "no_role"]


@pytest.mark.parametrize(("name", "method", "_status"), PAGES)
def test_anonymous_is_sent_to_login(db, name, method, _status):
    url = reverse(name)
    response = getattr(browser(), method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


@pytest.mark.parametrize(("name", "method", "status"), PAGES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_any_logged_in_user_reaches_their_own_pages(world, persona, name, method, status):
    response = getattr(fully_logged_in(getattr(world, persona)), method)(reverse(name))
    assert response.status_code == status


@pytest.mark.parametrize(
    "name", ["accounts:security", "accounts:password_change", "accounts:tokens", "accounts:backup_codes"]
)
def test_office_admin_reaches_account_pages_once_verified(world, name):
    client = fully_logged_in(world.admin)
    response = client.post(reverse(name)) if name == "accounts:backup_codes" else client.get(reverse(name))
    assert response.status_code == 200


def test_enrol_page_of_a_verified_admin_points_to_account_security(world):
    response = fully_logged_in(world.admin).get(reverse("accounts:two_factor_enrol"))
    assert response["Location"] == reverse("accounts:security")


@pytest.mark.parametrize("name", ["accounts:security", "accounts:password_change", "accounts:tokens"])
def test_account_pages_of_an_unverified_admin_go_to_the_second_step(world, name):
    response = logged_in(world.admin).get(reverse(name))
    assert response["Location"].startswith(reverse("accounts:two_factor_enrol"))
