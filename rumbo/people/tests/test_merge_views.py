"""Merge pages: permission matrix, the side-by-side comparison, merging with chosen values, undoing, and
old ids that lead to the surviving record."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role
from rumbo.people.models import Document, Person, PersonMerge
from rumbo.people.services import person_merge
from rumbo.people.tests.test_merge import grant, merge, plain, refresh, rich_pair

PERSONAS = ("no_role", "caseworker", "auditor", "trainer", "coordinator", "jalisco_caseworker", "admin")
# Office admins only: everyone else has no right to merge in any office (403).
EXPECTED = dict.fromkeys(PERSONAS, 403) | {"admin": 200}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """These tests read English messages: pages and API answers in English when the client names no language."""
    settings.LANGUAGE_CODE = "en"


def _urls(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    other_survivor, other_merged = plain(world, "Eva"), plain(world, "Eva")
    record = merge(world, other_survivor, other_merged)
    return (
        survivor,
        merged,
        {
            "people:merge_start": reverse("people:merge_start", kwargs={"pk": survivor.pk}),
            "people:merge": reverse("people:merge", kwargs={"pk": survivor.pk, "other": merged.pk}),
            "people:unmerge": reverse("people:unmerge", kwargs={"merge_id": record.pk}),
        },
    )


@pytest.mark.parametrize("name", ["people:merge_start", "people:merge", "people:unmerge"])
def test_permission_matrix(world, client, name):
    _survivor, _merged, urls = _urls(world)
    url = urls[name]
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    for persona in PERSONAS:
        response = world.client_for(getattr(world, persona)).get(url)
        assert response.status_code == EXPECTED[persona], (name, persona)
    jalisco_admin = member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")
    assert world.client_for(jalisco_admin).get(url).status_code == 404, name


@pytest.mark.parametrize("name", ["people:merge", "people:unmerge"])
def test_writes_by_post_follow_the_matrix(world, name):
    _survivor, merged, urls = _urls(world)
    for persona in ("caseworker", "auditor", "jalisco_caseworker"):
        response = world.client_for(getattr(world, persona)).post(urls[name], {"reason": "x"})
        assert response.status_code == 403, persona
    jalisco_admin = member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")
    assert world.client_for(jalisco_admin).post(urls[name], {"reason": "x"}).status_code == 404
    assert refresh(merged).merged_into_id is None
    assert PersonMerge.objects.filter(unmerged_at__isnull=True).count() == 1


def test_merge_with_a_person_of_another_office_needs_the_right_there(world):
    survivor = plain(world, "Ana")
    stranger = plain(world, "Ana", office=world.jalisco)
    url = reverse("people:merge", kwargs={"pk": survivor.pk, "other": stranger.pk})
    client = world.client_for(world.admin)
    assert client.get(url).status_code == 404  # no role in Jalisco
    grant(world.admin, world.jalisco, Role.CASEWORKER)
    assert world.client_for(world.admin).get(url).status_code == 403  # a role there, but not this right
    grant(world.admin, world.jalisco, Role.OFFICE_ADMIN)
    client = world.client_for(world.admin)
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": ""}).status_code == 302
    assert refresh(stranger).merged_into_id == survivor.pk


def test_comparison_shows_both_records_highlights_differences_and_audits_the_views(world):
    pair = rich_pair(world)
    url = reverse("people:merge", kwargs={"pk": pair.survivor.pk, "other": pair.merged.pk})
    with translation.override("en"):
        response = world.client_for(world.admin).get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("María Guadalupe", "Guadalupe", "G12345678", "lupe@example.org", "Calle Hidalgo 12"):
        assert text in body
    fields = {row.key: row for row in response.context["fields"]}
    assert fields["given_names"].differs and fields["given_names"].choice == "survivor"
    assert not fields["sex"].differs
    assert fields["email"].choice == "merged"  # empty on the survivor
    assert 'class="differs"' in body and "style=" not in body
    assert 'name="choice_given_names" value="merged"' in body
    assert 'name="choice_sex"' not in body  # equal values: nothing to choose
    views = AuditEvent.objects.filter(action=Action.PERSON_VIEW, actor=world.admin)
    assert set(views.values_list("object_id", flat=True)) == {str(pair.survivor.pk), str(pair.merged.pk)}


def test_merge_applies_the_choices_and_redirects_to_the_survivor(world):
    pair = rich_pair(world)
    client = world.client_for(world.admin)
    url = reverse("people:merge", kwargs={"pk": pair.survivor.pk, "other": pair.merged.pk})
    response = client.post(
        url, {"choice_given_names": "merged", "choice_birth_date": "survivor", "reason": "same CURP"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("people:detail", kwargs={"pk": pair.survivor.pk})
    survivor = refresh(pair.survivor)
    assert survivor.given_names == "Guadalupe"
    assert Document.objects.filter(person=survivor).count() == 2
    record = PersonMerge.objects.get()
    assert record.reason == "same CURP" and record.merged_by == world.admin
    detail = client.get(response["Location"])
    body = detail.content.decode()
    assert f"Merged from record {pair.merged.pk}" in body
    assert reverse("people:unmerge", kwargs={"merge_id": record.pk}) in body
    assert any("was merged into this record" in str(m) for m in get_messages(detail.wsgi_request))


def test_invalid_choice_is_shown_at_its_row_and_nothing_changes(world):
    pair = rich_pair(world)
    url = reverse("people:merge", kwargs={"pk": pair.survivor.pk, "other": pair.merged.pk})
    response = world.client_for(world.admin).post(url, {"choice_given_names": "both"})
    assert response.status_code == 200
    row = next(r for r in response.context["fields"] if r.key == "given_names")
    assert row.errors
    assert refresh(pair.merged).merged_into_id is None
    assert not PersonMerge.objects.exists()


def test_merging_a_record_into_itself_or_a_tombstone_shows_why_without_a_form(world):
    survivor, merged, third = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    client = world.client_for(world.admin)
    for pk, other in ((third.pk, third.pk), (third.pk, merged.pk)):
        response = client.get(reverse("people:merge", kwargs={"pk": pk, "other": other}))
        assert response.status_code == 200
        assert response.context["page_errors"] and not response.context["can_merge"]
        response = client.post(reverse("people:merge", kwargs={"pk": pk, "other": other}), {"reason": ""})
        assert response.status_code == 200
    assert PersonMerge.objects.count() == 1


def test_merge_start_lists_mergeable_records(world):
    survivor = plain(world, "Ana", first_surname="Quintero")
    duplicate = plain(world, "Ana", first_surname="Quintero")
    plain(world, "Ana", office=world.jalisco, first_surname="Quintero")  # not mergeable by this admin
    response = world.client_for(world.admin).get(
        reverse("people:merge_start", kwargs={"pk": survivor.pk}), {"q": "quintero"}
    )
    assert [p.pk for p in response.context["candidates"]] == [duplicate.pk]
    assert (
        reverse("people:merge", kwargs={"pk": survivor.pk, "other": duplicate.pk})
        in response.content.decode()
    )


# --- Undo ---------------------------------------------------------------------------------------------------


def test_undo_from_the_confirmation_page(world):
    pair = rich_pair(world)
    record = merge(world, pair.survivor, pair.merged)
    client = world.client_for(world.admin)
    url = reverse("people:unmerge", kwargs={"merge_id": record.pk})
    page = client.get(url)
    assert page.status_code == 200 and not page.context["problems"]
    response = client.post(url, {"reason": "siblings"})
    assert response.status_code == 302
    assert response["Location"] == reverse("people:detail", kwargs={"pk": pair.survivor.pk})
    assert refresh(pair.merged).merged_into_id is None
    assert Document.objects.filter(person=pair.merged).count() == 1
    record.refresh_from_db()
    assert record.unmerge_reason == "siblings"
    detail = client.get(reverse("people:detail", kwargs={"pk": pair.survivor.pk})).content.decode()
    assert "undone on" in detail and url not in detail


def test_undo_is_refused_while_a_later_merge_depends_on_it(world):
    a, b, c = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    first = merge(world, b, a)
    merge(world, c, b)
    client = world.client_for(world.admin)
    url = reverse("people:unmerge", kwargs={"merge_id": first.pk})
    page = client.get(url)
    assert page.status_code == 200 and page.context["problems"]
    assert client.post(url, {"reason": ""}).status_code == 200
    assert refresh(a).merged_into_id == b.pk


def test_undo_link_is_only_for_those_who_may_undo(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    record = merge(world, survivor, merged)
    url = reverse("people:unmerge", kwargs={"merge_id": record.pk})
    detail = reverse("people:detail", kwargs={"pk": survivor.pk})
    caseworker_page = world.client_for(world.caseworker).get(detail).content.decode()
    assert f"Merged from record {merged.pk}" in caseworker_page and url not in caseworker_page
    assert url in world.client_for(world.admin).get(detail).content.decode()


# --- Old ids ------------------------------------------------------------------------------------------------


def test_old_id_redirects_to_the_survivor_with_a_message(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    client = world.client_for(world.caseworker)
    with translation.override("en"):
        response = client.get(reverse("people:detail", kwargs={"pk": merged.pk}), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response["Location"] == reverse("people:detail", kwargs={"pk": survivor.pk})
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Record {merged.pk} was merged into this record ({survivor.pk})."
    ]
    assert not AuditEvent.objects.filter(
        action=Action.PERSON_VIEW, object_id=str(merged.pk), actor=world.caseworker
    ).exists()


def test_old_id_follows_a_chain_of_merges(world):
    a, b, c = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    merge(world, b, a)
    merge(world, c, b)
    response = world.client_for(world.caseworker).get(reverse("people:detail", kwargs={"pk": a.pk}))
    assert response["Location"] == reverse("people:detail", kwargs={"pk": c.pk})


def test_old_id_is_404_when_the_survivor_is_in_an_office_the_user_cannot_see(world):
    survivor = plain(world, "Ana", office=world.jalisco)
    merged = plain(world, "Ana")
    grant(world.admin, world.jalisco, Role.OFFICE_ADMIN)
    person_merge(actor=world.admin, survivor=survivor, merged=merged, choices={})
    url = reverse("people:detail", kwargs={"pk": merged.pk})
    assert world.client_for(world.caseworker).get(url).status_code == 404
    assert world.client_for(world.jalisco_caseworker).get(url).status_code == 404  # not their record


def test_old_id_of_another_office_is_404(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    url = reverse("people:detail", kwargs={"pk": merged.pk})
    assert world.client_for(world.jalisco_caseworker).get(url).status_code == 404
    assert Person.objects.get(pk=merged.pk).merged_into_id == survivor.pk
