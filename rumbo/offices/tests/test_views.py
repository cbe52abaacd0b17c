"""Office pages: permission matrix for every view, what each role sees, forms with errors at the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import UserFactory
from rumbo.offices.models import Membership, Office, Role
from rumbo.offices.tests.clients import persona, signed_in

ANON, NO_ROLE = "anonymous", "no_role"
MICH_STAFF = ["caseworker", "admin", "auditor", "trainer"]


def _get(world, who: str, url: str):
    return signed_in(persona(world, who)).get(url)


def _assert_login_redirect(response) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- permission matrices ----------------------------------------------------------------------------

LIST_MATRIX = {
    ANON: 302,
    NO_ROLE: 403,
    "caseworker": 200,
    "admin": 200,
    "auditor": 200,
    "trainer": 200,
    "coordinator": 200,
    "jalisco_caseworker": 200,
}


@pytest.mark.parametrize(("who", "status"), LIST_MATRIX.items())
def test_office_list_permission_matrix(world, who, status):
    response = _get(world, who, reverse("offices:list"))
    assert response.status_code == status
    if status == 302:
        _assert_login_redirect(response)


DETAIL_MICHOACAN_MATRIX = {
    ANON: 302,
    NO_ROLE: 404,
    **dict.fromkeys(MICH_STAFF, 200),
    "coordinator": 200,  # CONOFAM is above OFAM Michoacán
    "jalisco_caseworker": 404,
}


@pytest.mark.parametrize(("who", "status"), DETAIL_MICHOACAN_MATRIX.items())
def test_office_detail_permission_matrix(world, who, status):
    response = _get(world, who, reverse("offices:detail", args=[world.michoacan.pk]))
    assert response.status_code == status
    if status == 302:
        _assert_login_redirect(response)


def test_staff_of_a_child_office_cannot_see_the_parent_office(world):
    assert _get(world, "caseworker", reverse("offices:detail", args=[world.conofam.pk])).status_code == 404
    assert _get(world, "coordinator", reverse("offices:detail", args=[world.conofam.pk])).status_code == 200


def test_detail_of_a_missing_office_is_404(world):
    assert _get(world, "admin", reverse("offices:detail", args=[999_999])).status_code == 404


ADMIN_ONLY_MATRIX = {
    ANON: 302,
    NO_ROLE: 404,
    "caseworker": 403,
    "admin": 200,
    "auditor": 403,
    "trainer": 403,
    "coordinator": 403,  # sees the office, may not administer it
    "jalisco_caseworker": 404,
}


@pytest.mark.parametrize("view", ["offices:edit", "offices:members"])
@pytest.mark.parametrize(("who", "status"), ADMIN_ONLY_MATRIX.items())
def test_edit_and_members_permission_matrix(world, view, who, status):
    response = _get(world, who, reverse(view, args=[world.michoacan.pk]))
    assert response.status_code == status
    if status == 302:
        _assert_login_redirect(response)


def test_admin_of_michoacan_cannot_reach_jalisco_admin_pages(world):
    for view in ("offices:edit", "offices:members"):
        assert _get(world, "admin", reverse(view, args=[world.jalisco.pk])).status_code == 404


@pytest.mark.parametrize("view", ["offices:edit", "offices:members"])
@pytest.mark.parametrize(("who", "status"), ADMIN_ONLY_MATRIX.items())
def test_posting_to_edit_and_members_follows_the_same_matrix(world, view, who, status):
    response = signed_in(persona(world, who)).post(reverse(view, args=[world.michoacan.pk]), {})
    expected = 200 if status == 200 else status  # an empty form re-renders with errors
    assert response.status_code == expected
    assert not AuditEvent.objects.filter(action__in=[Action.OFFICE_UPDATE, Action.MEMBERSHIP_GRANT]).exists()


REVOKE_MATRIX = {**ADMIN_ONLY_MATRIX, "admin": 302}


@pytest.mark.parametrize(("who", "status"), REVOKE_MATRIX.items())
def test_revoke_permission_matrix(world, who, status):
    membership = Membership.objects.get(user=world.trainer, office=world.michoacan)
    response = signed_in(persona(world, who)).post(
        reverse("offices:revoke", args=[world.michoacan.pk, membership.pk])
    )
    assert response.status_code == status
    membership.refresh_from_db()
    if who == "admin":
        assert response["Location"] == reverse("offices:members", args=[world.michoacan.pk])
        assert not membership.is_active
    else:
        assert membership.is_active
        if status == 302:
            _assert_login_redirect(response)


def test_revoke_refuses_get(world):
    membership = Membership.objects.get(user=world.trainer, office=world.michoacan)
    response = _get(world, "admin", reverse("offices:revoke", args=[world.michoacan.pk, membership.pk]))
    assert response.status_code == 405
    membership.refresh_from_db()
    assert membership.is_active


def test_revoke_of_another_offices_membership_through_own_office_url_is_404(world):
    jalisco_membership = Membership.objects.get(user=world.jalisco_caseworker)
    response = signed_in(world.admin).post(
        reverse("offices:revoke", args=[world.michoacan.pk, jalisco_membership.pk])
    )
    assert response.status_code == 404
    jalisco_membership.refresh_from_db()
    assert jalisco_membership.is_active


# --- office list and detail: what each role sees -----------------------------------------------------


def test_coordinator_sees_child_offices_in_the_list_but_no_people_links(world):
    html = _get(world, "coordinator", reverse("offices:list")).content.decode()
    for office in (world.conofam, world.michoacan, world.jalisco):
        assert reverse("offices:detail", args=[office.pk]) in html
    assert reverse("people:search") not in html
    detail = _get(world, "coordinator", reverse("offices:detail", args=[world.michoacan.pk])).content.decode()
    assert "OFAM Michoacán" in detail
    assert reverse("people:search") not in detail
    assert reverse("offices:members", args=[world.michoacan.pk]) not in detail
    assert "lucia" not in detail  # no member list either


def test_caseworker_sees_only_own_office_in_the_list_with_a_people_link_on_detail(world):
    html = _get(world, "caseworker", reverse("offices:list")).content.decode()
    assert "OFAM Michoacán" in html
    assert "OFAM Jalisco" not in html
    assert reverse("offices:detail", args=[world.conofam.pk]) not in html
    detail = _get(world, "caseworker", reverse("offices:detail", args=[world.michoacan.pk])).content.decode()
    assert reverse("people:search") in detail
    assert reverse("offices:edit", args=[world.michoacan.pk]) not in detail
    assert "jorge" not in detail and "auditora" not in detail  # members are for administrators


def test_detail_shows_settings_children_jurisdiction_and_members_to_the_admin(world):
    world.michoacan.jurisdiction.set([AdminArea.objects.get(country="MX", level=1, code="16")])
    world.michoacan.require_two_factor = True
    world.michoacan.save()
    html = _get(world, "admin", reverse("offices:detail", args=[world.michoacan.pk])).content.decode()
    assert "Michoacán de Ocampo" in html
    assert "America/Mexico_City" in html
    assert "Required for every member" in html
    assert reverse("offices:detail", args=[world.conofam.pk]) not in html  # parent shown, not linked
    assert "CONOFAM" in html
    for username in ("lucia", "auditora", "trainer"):
        assert username in html
    assert reverse("offices:members", args=[world.michoacan.pk]) in html
    assert reverse("offices:edit", args=[world.michoacan.pk]) in html


def test_coordinator_detail_of_conofam_lists_children_as_links(world):
    html = _get(world, "coordinator", reverse("offices:detail", args=[world.conofam.pk])).content.decode()
    assert reverse("offices:detail", args=[world.michoacan.pk]) in html
    assert reverse("offices:detail", args=[world.jalisco.pk]) in html


# --- edit -------------------------------------------------------------------------------------------


def _edit_data(world, **overrides):
    data = {
        "name": "OFAM Michoacán",
        "country": "MX",
        "represents_country": "",
        "location": str(world.michoacan.location_id),
        "time_zone": "America/Mexico_City",
        "jurisdiction_states": [],
        "jurisdiction_municipalities": "",
    }
    data.update(overrides)
    return data


def test_edit_saves_settings_and_jurisdiction_and_audits_the_diff(world):
    state = AdminArea.objects.get(country="MX", level=1, code="16")
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    response = signed_in(world.admin).post(
        reverse("offices:edit", args=[world.michoacan.pk]),
        _edit_data(
            world,
            time_zone="America/Tijuana",
            require_two_factor="on",
            jurisdiction_states=[str(state.pk)],
            jurisdiction_municipalities="16053",
        ),
    )
    assert response.status_code == 302
    world.michoacan.refresh_from_db()
    assert world.michoacan.time_zone == "America/Tijuana"
    assert world.michoacan.require_two_factor
    assert set(world.michoacan.jurisdiction.all()) == {state, morelia}
    event = AuditEvent.objects.get(action=Action.OFFICE_UPDATE)
    assert set(event.changes) == {"time_zone", "require_two_factor", "jurisdiction"}


def test_edit_with_invalid_values_shows_errors_at_the_fields_and_saves_nothing(world):
    response = signed_in(world.admin).post(
        reverse("offices:edit", args=[world.michoacan.pk]),
        _edit_data(
            world, name="Renamed", time_zone="Mars/Base", country="ZZ", jurisdiction_municipalities="99999"
        ),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"time_zone", "jurisdiction_municipalities"}
    assert "99999" in form.errors["jurisdiction_municipalities"][0]
    world.michoacan.refresh_from_db()
    assert world.michoacan.name == "OFAM Michoacán"
    assert not AuditEvent.objects.filter(action=Action.OFFICE_UPDATE).exists()


def test_edit_with_an_unknown_country_shows_the_service_error_at_the_country_field(world):
    response = signed_in(world.admin).post(
        reverse("offices:edit", args=[world.michoacan.pk]), _edit_data(world, name="Renamed", country="ZZ")
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"country"}
    assert Office.objects.get(pk=world.michoacan.pk).name == "OFAM Michoacán"


def test_edit_page_includes_the_area_picker_with_the_current_location(world):
    html = _get(world, "admin", reverse("offices:edit", args=[world.michoacan.pk])).content.decode()
    assert 'name="location"' in html
    assert f'value="{world.michoacan.location_id}"' in html
    assert "Michoacán de Ocampo (MX)" in html
    assert reverse("geo:areas") in html


# --- members ----------------------------------------------------------------------------------------


def test_members_page_lists_active_roles_and_ended_ones_separately(world):
    ended = Membership.objects.get(user=world.trainer)
    ended.expires_at = timezone.now() - dt.timedelta(days=1)
    ended.save()
    response = _get(world, "admin", reverse("offices:members", args=[world.michoacan.pk]))
    assert {m.user.username for m in response.context["active"]} == {"admin-mich", "auditora", "lucia"}
    assert [m.user.username for m in response.context["ended"]] == ["trainer"]
    assert "jorge" not in response.content.decode()


@time_machine.travel(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
def test_admin_grants_a_role_until_a_day_by_username_or_email(world):
    newcomer: Any = UserFactory(username="rosa", email="rosa@example.org")
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]),
        {"user": "ROSA@example.org", "role": Role.LABOUR_OFFICER, "expires_at": "2026-03-31"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=newcomer, office=world.michoacan)
    assert membership.role == Role.LABOUR_OFFICER
    # The role ends at midnight after the last day, in the office's time zone (Mexico City, UTC-6).
    assert membership.expires_at == dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)
    assert AuditEvent.objects.filter(action=Action.MEMBERSHIP_GRANT, actor=world.admin).count() == 1


@time_machine.travel(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
def test_grant_form_errors_sit_at_their_fields_and_nothing_is_saved(world):
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]),
        {"user": "nobody-here", "role": "pilot", "expires_at": "2026-03-01"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"user", "role", "expires_at"}
    assert Membership.objects.filter(office=world.michoacan).count() == 4
    assert not AuditEvent.objects.filter(action=Action.MEMBERSHIP_GRANT).exists()


@time_machine.travel(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
@pytest.mark.parametrize("day", ["9999-12-31", "2126-03-03"])
def test_a_last_day_more_than_a_century_ahead_is_refused_at_its_field(world, day):
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]),
        {"user": "nadie", "role": Role.CASEWORKER, "expires_at": day},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"expires_at"}
    assert not Membership.objects.filter(user=world.no_role).exists()


@time_machine.travel(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
def test_a_last_day_a_century_ahead_is_accepted(world):
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]),
        {"user": "nadie", "role": Role.CASEWORKER, "expires_at": "2126-03-02"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=world.no_role).expires_at.year == 2126


def test_granting_a_role_already_held_shows_the_service_error_at_the_role_field(world):
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]), {"user": "lucia", "role": Role.CASEWORKER}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"role"}


@time_machine.travel(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
def test_giving_the_last_admin_an_end_date_shows_the_error_at_that_field(world):
    response = signed_in(world.admin).post(
        reverse("offices:members", args=[world.michoacan.pk]),
        {"user": "admin-mich", "role": Role.OFFICE_ADMIN, "expires_at": "2026-03-10"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"expires_at"}
    assert Membership.objects.get(user=world.admin).expires_at is None


def test_revoking_the_last_admin_shows_an_error_and_keeps_the_role(world):
    own = Membership.objects.get(user=world.admin)
    response = signed_in(world.admin).post(
        reverse("offices:revoke", args=[world.michoacan.pk, own.pk]), follow=True
    )
    assert response.status_code == 200
    assert "at least one administrator" in response.content.decode()
    own.refresh_from_db()
    assert own.is_active


# --- home -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_redirects_anonymous_to_login():
    _assert_login_redirect(signed_in(None).get(reverse("home")))


def test_home_for_a_user_without_role_says_so(world):
    response = _get(world, NO_ROLE, reverse("home"))
    assert response.status_code == 200
    assert "You have no role in any office yet" in response.content.decode()


def test_home_for_caseworker_counts_persons_of_own_office_only(world):
    from rumbo.people.models import Person

    Person.objects.create(office=world.michoacan, given_names="Ana", first_surname="López")
    Person.objects.create(office=world.michoacan, given_names="Luis", first_surname="Ruiz")
    Person.objects.create(office=world.jalisco, given_names="Eva", first_surname="Soto")
    response = _get(world, "caseworker", reverse("home"))
    summary = response.context["summary"]
    assert (summary.person_count, summary.person_count_capped) == (2, False)
    assert summary.audit_events_week is None
    html = response.content.decode()
    assert "2 persons registered in your offices" in html
    assert reverse("people:search") in html
    assert reverse("audit:list") not in html


def test_home_for_coordinator_shows_offices_below_and_no_people(world):
    response = _get(world, "coordinator", reverse("home"))
    summary = response.context["summary"]
    assert summary.person_count is None
    assert (summary.offices_visible, summary.offices_below) == (3, 2)
    html = response.content.decode()
    assert reverse("people:search") not in html
    assert "figures only, no personal data" in html


def test_home_for_admin_links_members_and_settings_and_counts_audit_events(world):
    response = _get(world, "admin", reverse("home"))
    summary = response.context["summary"]
    assert summary.managed_offices == [world.michoacan]
    assert summary.audit_events_week is not None
    html = response.content.decode()
    assert reverse("offices:members", args=[world.michoacan.pk]) in html
    assert reverse("audit:list") in html


def test_home_lists_the_roles_of_the_user(world):
    html = _get(world, "trainer", reverse("home")).content.decode()
    assert "OFAM Michoacán" in html
    assert "Trainer" in html
