"""Tests of the case pages: permission matrix of every view, another office's cases invisible, the list's
filters and search, opening a case from the person's page, status and notes, returns and arrivals, the
person-page panel."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import ArrivalEvent, Case, CaseNote, CaseStatus, ReturnEvent, ReturnPoint
from rumbo.cases.services import attachment_add, case_set_status, case_transfer_request
from rumbo.cases.services.returns import load_return_points
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.geo.models import AdminArea
from rumbo.people.tests.utils import make_person

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def family(world):
    return make_family(world.caseworker, world.michoacan)


@pytest.fixture
def objects(world, family, data_dir) -> dict[str, Any]:
    """A Michoacán case with an attachment, and a transfer from Jalisco waiting for Michoacán."""
    case = open_case(world.caseworker, family.parent, members=family.children)
    attachment = attachment_add(
        actor=world.caseworker, case=case, upload=SimpleUploadedFile("acta.pdf", PDF), title="Acta"
    )
    pedro = make_person(world.jalisco_caseworker, world.jalisco, given_names="Pedro", documents=[], phones=[])
    jalisco_case = open_case(world.jalisco_caseworker, pedro)
    transfer = case_transfer_request(
        actor=world.jalisco_caseworker,
        case=jalisco_case,
        to_office=world.michoacan,
        reason="Moved to Morelia",
    )
    return {"case": case, "person": family.parent, "attachment": attachment, "transfer": transfer}


# (view name, object it needs, status for: no_role, caseworker, auditor, trainer, coordinator)
MATRIX = [
    ("cases:list", None, 403, 200, 200, 403, 403),
    ("cases:open", "person", 403, 200, 403, 403, 403),
    ("cases:detail", "case", 403, 200, 200, 403, 403),
    ("cases:edit", "case", 403, 200, 403, 403, 403),
    ("cases:status", "case", 403, 200, 403, 403, 403),
    ("cases:note_add", "case", 403, 200, 403, 403, 403),
    ("cases:attachment_add", "case", 403, 200, 403, 403, 403),
    ("cases:attachment_download", "attachment", 403, 200, 200, 403, 403),
    ("cases:transfer_request", "case", 403, 200, 403, 403, 403),
    ("cases:transfers", None, 403, 200, 200, 403, 403),
    ("cases:transfer_decide", "transfer", 403, 200, 403, 403, 403),
    ("cases:return_add", "person", 403, 200, 403, 403, 403),
    ("cases:arrival_add", "person", 403, 200, 403, 403, 403),
    ("cases:return_points", None, 403, 200, 200, 403, 403),
]


def _url(name: str, needs: str | None, objects: dict[str, Any]) -> str:
    if needs is None:
        return reverse(name)
    key = "person_pk" if needs == "person" else "pk"
    return reverse(name, kwargs={key: objects[needs].pk})


@pytest.mark.parametrize(
    ("name", "needs", "no_role", "caseworker", "auditor", "trainer", "coordinator"), MATRIX
)
def test_permission_matrix(
    world, client, objects, name, needs, no_role, caseworker, auditor, trainer, coordinator
):
    url = _url(name, needs, objects)
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    for user, expected in (
        (world.no_role, no_role),
        (world.caseworker, caseworker),
        (world.admin, caseworker),
        (world.auditor, auditor),
        (world.trainer, trainer),
        (world.coordinator, coordinator),
    ):
        response = world.client_for(user).get(url, **EN)
        assert response.status_code == expected, (name, user.username, response.status_code)


@pytest.mark.parametrize(
    "name",
    [
        "cases:open",
        "cases:detail",
        "cases:edit",
        "cases:status",
        "cases:note_add",
        "cases:attachment_add",
        "cases:attachment_download",
        "cases:transfer_request",
        "cases:return_add",
        "cases:arrival_add",
    ],
)
def test_another_office_gets_not_found(world, objects, name):
    needs = next(n for v, n, *_ in MATRIX if v == name)
    response = world.client_for(world.jalisco_caseworker).get(_url(name, needs, objects), **EN)
    assert response.status_code == 404


def test_transfer_sent_elsewhere_is_not_found_for_the_sending_office_decision(world, objects):
    """Only the receiving office decides; the sending office sees 403 (its own request), a third office 404."""
    from rumbo.lib.testing.factories import OfficeFactory, member
    from rumbo.offices.models import Role

    url = reverse("cases:transfer_decide", kwargs={"pk": objects["transfer"].pk})
    assert world.client_for(world.jalisco_caseworker).get(url, **EN).status_code == 403
    third = member(OfficeFactory(name="OFAM Sonora", code="ofam-son"), Role.CASEWORKER, username="sonora")
    assert world.client_for(third).get(url, **EN).status_code == 404


def test_case_list_shows_only_the_office_cases_and_filters(world, objects, family):
    other = open_case(world.caseworker, family.children[0], needs={"schooling": ""}, priority="urgent")
    case_set_status(actor=world.caseworker, case=other, status=CaseStatus.FOLLOW_UP)
    client = world.client_for(world.caseworker)
    page = client.get(reverse("cases:list"), **EN).content.decode()
    assert objects["case"].number in page and other.number in page
    assert "OFAM-JAL" not in page
    filtered = client.get(reverse("cases:list"), {"status": "follow_up"}, **EN).content.decode()
    assert other.number in filtered and objects["case"].number not in filtered
    by_need = client.get(reverse("cases:list"), {"need": "health"}, **EN).content.decode()
    assert objects["case"].number in by_need and other.number not in by_need
    by_priority = client.get(reverse("cases:list"), {"priority": "urgent"}, **EN).content.decode()
    assert other.number in by_priority and objects["case"].number not in by_priority
    empty = client.get(reverse("cases:list"), {"status": "closed"}, **EN).content.decode()
    assert "No case matches these filters." in empty
    jalisco = world.client_for(world.jalisco_caseworker).get(reverse("cases:list"), **EN).content.decode()
    assert objects["case"].number not in jalisco


def test_case_list_search_by_number_and_by_name(world, objects, family):
    client = world.client_for(world.caseworker)
    number = objects["case"].number
    by_number = client.get(reverse("cases:list"), {"q": number.lower()}, **EN).content.decode()
    assert number in by_number
    by_name = client.get(reverse("cases:list"), {"q": "jose hernandez"}, **EN).content.decode()
    assert number in by_name
    nobody = client.get(reverse("cases:list"), {"q": "pedro"}, **EN).content.decode()  # Jalisco's Pedro
    assert "No case matches these filters." in nobody
    searches = AuditEvent.objects.filter(action=Action.PERSON_SEARCH, actor=world.caseworker)
    assert searches.count() == 2  # the name searches, not the number search
    jalisco = world.client_for(world.jalisco_caseworker)
    other_office = jalisco.get(reverse("cases:list"), {"q": number}, **EN).content.decode()
    assert "No case matches these filters." in other_office


def test_case_list_is_empty_for_a_new_office(world):
    page = world.client_for(world.caseworker).get(reverse("cases:list"), **EN).content.decode()
    assert "No cases yet." in page


def test_open_a_case_from_the_person_page(world, family):
    client = world.client_for(world.caseworker)
    person_page = client.get(reverse("people:detail", kwargs={"pk": family.parent.pk}), **EN).content.decode()
    assert reverse("cases:open", kwargs={"person_pk": family.parent.pk}) in person_page
    assert reverse("cases:return_add", kwargs={"person_pk": family.parent.pk}) in person_page
    url = reverse("cases:open", kwargs={"person_pk": family.parent.pk})
    form = client.get(url, **EN).content.decode()
    assert "Mateo" in form and "Sofía" in form
    response = client.post(
        url,
        {
            "members": [str(c.pk) for c in family.children],
            "need_health": "on",
            "need_health_note": "IMSS for the children",
            "need_schooling_note": "Revalidation",  # a note ticks its need
            "priority": "high",
            "summary": "Deported with two US-born children.",
            "assigned_to": str(world.caseworker.pk),
        },
        **EN,
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "cases:detail", kwargs={"pk": case.pk}
    )
    assert set(case.needs.values_list("need", flat=True)) == {"health", "schooling"}
    assert case.members.count() == 2
    detail = client.get(response["Location"], **EN)
    text = detail.content.decode()
    assert case.number in text and "IMSS for the children" in text and "Mateo" in text
    assert AuditEvent.objects.filter(action=Action.CASE_VIEW, object_id=str(case.pk)).count() == 1
    person_page = client.get(reverse("people:detail", kwargs={"pk": family.parent.pk}), **EN).content.decode()
    assert case.number in person_page


def test_open_case_with_a_bad_field_saves_nothing(world, family):
    client = world.client_for(world.caseworker)
    url = reverse("cases:open", kwargs={"person_pk": family.parent.pk})
    response = client.post(url, {"priority": "whenever", "need_health_note": "x" * 301}, **EN)
    assert response.status_code == 200
    assert "Nothing was saved." in response.content.decode()
    assert not Case.objects.exists()


def test_status_page_refuses_closing_without_reason(world, objects):
    client = world.client_for(world.caseworker)
    case = objects["case"]
    url = reverse("cases:status", kwargs={"pk": case.pk})
    response = client.post(url, {"status": "closed", "reason": ""}, **EN)
    assert response.status_code == 200
    assert "Say why the case is closed." in response.content.decode()
    response = client.post(url, {"status": "closed", "reason": "All services received"}, **EN)
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    edit = client.get(reverse("cases:edit", kwargs={"pk": case.pk}), **EN)
    assert edit.status_code == 302  # closed: reopen first


def test_note_from_the_case_page(world, objects):
    client = world.client_for(world.caseworker)
    case = objects["case"]
    response = client.post(
        reverse("cases:note_add", kwargs={"pk": case.pk}), {"text": "Llamó: todo bien."}, **EN
    )
    assert response.status_code == 302
    assert CaseNote.objects.get(case=case).text == "Llamó: todo bien."
    assert (
        "Llamó: todo bien."
        in client.get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN).content.decode()
    )
    assert (
        world.client_for(world.auditor)
        .post(reverse("cases:note_add", kwargs={"pk": case.pk}), {"text": "x"}, **EN)
        .status_code
        == 403
    )


def test_record_a_return_from_the_person_page(world, family):
    client = world.client_for(world.caseworker)
    url = reverse("cases:return_add", kwargs={"person_pk": family.parent.pk})
    california = AdminArea.objects.get(country="US", level=1, iso_3166_2="US-CA")
    tijuana = ReturnPoint.objects.get(name="Módulo de Repatriación INM Tijuana")
    response = client.post(
        url,
        {
            "returned_on": "2025-11-20",
            "how": "deportation",
            "point": str(tijuana.pk),
            "country_from": "US",
            "us_state": str(california.pk),
            "months_abroad": "150",
            "english_level": "basic",
            "companions": [str(c.pk) for c in family.children],
        },
        **EN,
    )
    assert response.status_code == 302
    event = ReturnEvent.objects.get()
    assert event.companions.count() == 2
    person_page = client.get(reverse("people:detail", kwargs={"pk": family.parent.pk}), **EN).content.decode()
    assert "Módulo de Repatriación INM Tijuana" in person_page and "California" in person_page


def test_a_future_return_is_refused_on_the_form(world, family):
    client = world.client_for(world.caseworker)
    url = reverse("cases:return_add", kwargs={"person_pk": family.parent.pk})
    future = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    response = client.post(url, {"returned_on": future, "how": "deportation", "country_from": "US"}, **EN)
    assert response.status_code == 200
    assert "The date cannot be in the future." in response.content.decode()
    assert not ReturnEvent.objects.exists()


def test_record_an_arrival_with_nothing_but_the_person(world):
    person = make_person(world.caseworker, world.michoacan, given_names="Ana", documents=[], phones=[])
    client = world.client_for(world.caseworker)
    response = client.post(reverse("cases:arrival_add", kwargs={"person_pk": person.pk}), {}, **EN)
    assert response.status_code == 302
    assert ArrivalEvent.objects.filter(person=person).count() == 1


def test_person_panel_is_hidden_without_case_rights(world, family):
    url = reverse("people:detail", kwargs={"pk": family.parent.pk})
    # Auditors see cases but may not add; nobody without VIEW_CASE sees the panel.
    auditor_page = world.client_for(world.auditor).get(url, **EN).content.decode()
    assert "Returns, arrivals and cases" in auditor_page
    assert reverse("cases:open", kwargs={"person_pk": family.parent.pk}) not in auditor_page


def test_navigation_has_cases_for_case_workers_only(world):
    page = world.client_for(world.caseworker).get(reverse("cases:list"), **EN).content.decode()
    assert f'href="{reverse("cases:list")}"' in page
    trainer_home = world.client_for(world.trainer).get(reverse("home"), **EN).content.decode()
    assert f'href="{reverse("cases:list")}"' not in trainer_home


def test_points_of_return_admins_add_one(world):
    client = world.client_for(world.admin)
    url = reverse("cases:return_points")
    assert "Add a point of return" in client.get(url, **EN).content.decode()
    response = client.post(
        url, {"name": "Puente Internacional Juárez-Lincoln", "kind": "border_crossing"}, **EN
    )
    assert response.status_code == 302
    assert ReturnPoint.objects.filter(kind="border_crossing").count() == 1
    caseworker = world.client_for(world.caseworker)
    assert "Add a point of return" not in caseworker.get(url, **EN).content.decode()
    assert caseworker.post(url, {"name": "X", "kind": "airport"}, **EN).status_code == 403


def test_points_of_return_are_drawn_on_a_map(world):
    load_return_points(ReturnPoint, AdminArea)
    response = world.client_for(world.caseworker).get(reverse("cases:return_points"), **EN)
    placed = (
        ReturnPoint.objects.exclude(lat=None).count()
        + ReturnPoint.objects.filter(lat=None, municipality__lat__isnull=False).count()
    )
    assert placed >= 11
    markers = response.context["map"].markers
    assert len(markers) == placed
    assert any("Tijuana" in m.place.label for m in markers)
    assert response.content.decode().count("<circle") == placed


def test_edit_a_case(world, objects, family):
    client = world.client_for(world.caseworker)
    case = objects["case"]
    url = reverse("cases:edit", kwargs={"pk": case.pk})
    form = client.get(url, **EN).content.decode()
    assert 'value="IMSS"' in form  # the current notes are filled in
    response = client.post(
        url,
        {
            "members": [str(family.children[0].pk)],
            "need_work": "on",
            "priority": "urgent",
            "assigned_to": str(world.admin.pk),
            "return_event": "",
        },
        **EN,
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.priority == "urgent" and case.assigned_to == world.admin
    assert list(case.needs.values_list("need", flat=True)) == ["work"]
    assert list(case.members.values_list("pk", flat=True)) == [family.children[0].pk]


@pytest.mark.parametrize("field", ["opened_from", "opened_to"])
def test_case_list_refuses_a_far_date_at_the_field(world, objects, field):
    # 9999-12-31 + 1 day does not exist: the list answered 500.
    response = world.client_for(world.caseworker).get(reverse("cases:list"), {field: "9999-12-31"}, **EN)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["Enter a date between 1900 and 2100."]
    assert "Enter a date between 1900 and 2100." in response.content.decode()
