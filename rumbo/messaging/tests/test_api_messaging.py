"""The messaging API: a permission matrix of every route, channels with figures (never settings or tokens),
pause and resume, the outbox and inbound lists with their filters (audited), queueing one message with its
errors at the field, and the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from rumbo.accounts.testing import api_token_key
from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import member
from rumbo.messaging.adapters.base import InboundEvent, InboundKind
from rumbo.messaging.models import Campaign, Message, TemplateText
from rumbo.messaging.services import queue_campaign, queue_message, record_events
from rumbo.messaging.tests.test_ui_views import PASSWORD_VALUE, email_channel, template
from rumbo.offices.models import Role
from rumbo.people.models import Person
from rumbo.people.tests.utils import make_person

BASE = "/api/v1/messaging"


def api(user: Any = None) -> Client:
    """A client authenticated with the user's API token (no session, no second factor)."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_key(user)}"
    return client


@pytest.fixture
def jalisco_admin(world: Any) -> Any:
    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


@pytest.fixture
def setup(world: Any) -> dict[str, Any]:
    channel = email_channel(world)
    tpl = template(world)
    person = make_person(world.caseworker, world.michoacan, email="jose@example.org")
    campaign = Campaign.objects.create(office=world.michoacan, name="Check", template=tpl)
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[person.pk])
    return {"channel": channel, "template": tpl, "person": person, "campaign": campaign}


PERSONAS = ["caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker", "no_role"]
ROUTES: dict[str, tuple[str, str, list[int]]] = {
    "channels": ("get", "/channels/", [200, 200, 403, 403, 403, 200, 403]),
    "pause": ("post", "/channels/{channel}/pause/", [403, 200, 403, 403, 403, 403, 403]),
    "resume": ("post", "/channels/{channel}/resume/", [403, 200, 403, 403, 403, 403, 403]),
    "messages": ("get", "/messages/", [200, 200, 403, 403, 403, 200, 403]),
    "send": ("post", "/messages/", [201, 201, 403, 403, 403, 400, 403]),
    "inbound": ("get", "/inbound/", [200, 200, 403, 403, 403, 200, 403]),
}


def _call(client: Client, route: str, setup: dict[str, Any], **body: Any) -> Any:
    method, path, _expected = ROUTES[route]
    url = BASE + path.format(channel=setup["channel"].pk)
    if method == "post":
        data = body or (
            {"person": setup["person"].pk, "template": setup["template"].pk} if route == "send" else {}
        )
        return client.post(url, data, content_type="application/json")
    return client.get(url)


@pytest.mark.parametrize("route", list(ROUTES))
def test_anonymous_gets_401(world, setup, route):
    response = _call(api(), route, setup)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(world, setup, route, persona):
    expected = ROUTES[route][2][PERSONAS.index(persona)]
    response = _call(api(getattr(world, persona)), route, setup)
    assert response.status_code == expected, (route, persona, response.content[:300])


@pytest.mark.parametrize("route", ["pause", "resume"])
def test_another_office_channel_is_404(world, setup, jalisco_admin, route):
    assert _call(api(jalisco_admin), route, setup).status_code == 404
    setup["channel"].refresh_from_db()
    assert setup["channel"].paused_at is None


def test_another_office_records_are_not_listed_nor_usable_as_filters(world, setup, jalisco_admin):
    client = api(jalisco_admin)
    assert client.get(f"{BASE}/channels/").json()["results"] == []
    assert client.get(f"{BASE}/messages/").json()["results"] == []
    for name, value in (("campaign", setup["campaign"].pk), ("person", setup["person"].pk), ("office", 1)):
        response = client.get(
            f"{BASE}/messages/", {name: value if name != "office" else setup["person"].office_id}
        )
        assert response.status_code == 400 and name in response.json()["error"]["fields"]
    response = client.post(
        f"{BASE}/messages/",
        {"person": setup["person"].pk, "template": setup["template"].pk},
        content_type="application/json",
    )
    assert response.status_code == 400 and "person" in response.json()["error"]["fields"]
    assert Message.objects.count() == 1


def test_channels_list_has_figures_and_never_settings_or_tokens(world, setup):
    Message.objects.update(status="sent", sent_at=timezone.now())
    response = api(world.caseworker).get(f"{BASE}/channels/")
    body = response.content.decode()
    assert PASSWORD_VALUE not in body and setup["channel"].webhook_token not in body
    (channel,) = response.json()["results"]
    assert channel["kind"] == "email" and channel["name"] == "Correo" and channel["paused"] is False
    stats = channel["stats"]
    assert (stats["queued"], stats["sent"], stats["failed"]) == (0, 1, 0)
    assert len(stats["throughput"]) == 15 and stats["throughput"][-1]["sent"] == 1
    assert set(channel) == {
        "id",
        "office",
        "kind",
        "name",
        "sender",
        "rate_per_second",
        "priority",
        "is_active",
        "paused",
        "paused_at",
        "stats",
    }


def test_pause_and_resume_through_the_api_are_audited(world, setup):
    client = api(world.admin)
    channel = setup["channel"]
    response = client.post(f"{BASE}/channels/{channel.pk}/pause/")
    assert response.status_code == 200 and response.json()["paused"] is True
    channel.refresh_from_db()
    assert channel.paused_at is not None
    response = client.post(f"{BASE}/channels/{channel.pk}/resume/")
    assert response.json()["paused"] is False
    actions = list(
        AuditEvent.objects.filter(object_id=str(channel.pk), action__startswith="messaging.channel_")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [Action.CHANNEL_CREATE, Action.CHANNEL_PAUSE, Action.CHANNEL_RESUME]


def test_messages_list_filters_and_audits(world, setup):
    other = make_person(world.caseworker, world.michoacan, given_names="Ana", email="ana@example.org")
    queue_message(actor=world.caseworker, office=world.michoacan, person=other, template=setup["template"])
    client = api(world.caseworker)
    everything = client.get(f"{BASE}/messages/").json()
    assert everything["count"] == 2
    first = everything["results"][0]
    assert (
        first["to"] == "ana@example.org" and first["channel_kind"] == "email" and first["status"] == "queued"
    )
    by_campaign = client.get(f"{BASE}/messages/", {"campaign": setup["campaign"].pk}).json()
    assert [m["to"] for m in by_campaign["results"]] == ["jose@example.org"]
    assert client.get(f"{BASE}/messages/", {"person": other.pk}).json()["count"] == 1
    assert client.get(f"{BASE}/messages/", {"status": "sent"}).json()["count"] == 0
    assert client.get(f"{BASE}/messages/", {"status": "lost"}).status_code == 400
    assert client.get(f"{BASE}/messages/", {"campaign": "x"}).status_code == 400
    events = AuditEvent.objects.filter(action=Action.MESSAGES_VIEW, actor=world.caseworker)
    assert events.count() == 4
    assert events.filter(detail__shown=1, detail__via="api").exists()


def test_inbound_list_filters_and_audits(world, setup):
    record_events(
        channel=setup["channel"],
        events=[
            InboundEvent(kind=InboundKind.REPLY, sender="jose@example.org", body="Bien", provider_id="a"),
            InboundEvent(kind=InboundKind.REPLY, sender="+5215550000000", body="¿Quién es?", provider_id="b"),
        ],
    )
    client = api(world.caseworker)
    response = client.get(f"{BASE}/inbound/", {"kind": "reply"})
    assert response.status_code == 200 and response.json()["count"] == 2
    assert {r["body"] for r in response.json()["results"]} == {"Bien", "¿Quién es?"}
    assert client.get(f"{BASE}/inbound/", {"kind": "receipt"}).json()["count"] == 0
    assert client.get(f"{BASE}/inbound/", {"opt_out": "true"}).json()["count"] == 0
    assert (
        AuditEvent.objects.filter(action=Action.MESSAGES_VIEW, object_type="messaging.inbound").count() == 3
    )


def test_queue_a_message_idempotent_with_a_key(world, setup):
    client = api(world.caseworker)
    body = {
        "person": setup["person"].pk,
        "template": setup["template"].pk,
        "key": "alerta-1",
        "context": {"link": "https://x.example/f"},
    }
    first = client.post(f"{BASE}/messages/", body, content_type="application/json")
    assert first.status_code == 201
    message = first.json()
    assert message["to"] == "jose@example.org" and message["body"] == "Hola José, OFAM Michoacán te saluda."
    again = client.post(f"{BASE}/messages/", body, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == message["id"]
    assert Message.objects.filter(campaign__isnull=True).count() == 1


def test_a_key_reused_for_another_person_or_template_is_an_error_at_the_key(world, setup):
    client = api(world.caseworker)
    body = {"person": setup["person"].pk, "template": setup["template"].pk, "key": "alerta-1"}
    assert client.post(f"{BASE}/messages/", body, content_type="application/json").status_code == 201
    other = make_person(world.caseworker, world.michoacan, email="ana@example.org")
    second = template(world, key="otro")
    for changed in ({"person": other.pk}, {"template": second.pk}):
        response = client.post(f"{BASE}/messages/", {**body, **changed}, content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["fields"]["key"] == [
            "This key was already used for another person or template."
        ]
    assert Message.objects.get(campaign__isnull=True).to == "jose@example.org"


def test_queue_errors_are_at_the_field_and_nothing_is_queued(world, setup):
    client = api(world.caseworker)
    person, tpl = setup["person"], setup["template"]

    def post(**body: Any) -> dict[str, Any]:
        response = client.post(f"{BASE}/messages/", body, content_type="application/json")
        assert response.status_code == 400, response.content
        return response.json()["error"]["fields"]

    assert "context" in post(person=person.pk, template=tpl.pk, context={"apodo": "x"})
    assert "channel_kind" in post(person=person.pk, template=tpl.pk, channel_kind="fax")
    assert "channel_kind" in post(person=person.pk, template=tpl.pk, channel_kind="sms")  # no SMS channel
    Person.objects.filter(pk=person.pk).update(email="jose@invalido")
    fields = post(person=person.pk, template=tpl.pk, channel_kind="email")
    assert "jose@invalido" in " ".join(fields["channel_kind"])
    TemplateText.objects.filter(template=tpl, language="spa").update(body="Hola {{ apodo }}")
    Person.objects.filter(pk=person.pk).update(email="jose@example.org")
    assert "template" in post(person=person.pk, template=tpl.pk)
    assert "person" in post(person=2**40, template=tpl.pk)
    assert "template" in post(person=person.pk)
    assert Message.objects.filter(campaign__isnull=True).count() == 0


def test_queue_with_a_template_of_another_office_is_refused(world, setup, jalisco_admin):
    other = template(world, office=world.jalisco, key="jal", actor=jalisco_admin)
    response = api(world.caseworker).post(
        f"{BASE}/messages/",
        {"person": setup["person"].pk, "template": other.pk},
        content_type="application/json",
    )
    assert response.status_code == 400 and "template" in response.json()["error"]["fields"]


def test_schema_names_the_messaging_operations(world):
    schema = Client().get("/api/v1/schema/", {"format": "json"}).json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "messaging_channels_list",
        "messaging_channels_pause",
        "messaging_channels_resume",
        "messaging_messages_list",
        "messaging_messages_create",
        "messaging_inbound_list",
    } <= operations


ENUMS = {
    "ChannelKindEnum": "rumbo.messaging.models.ChannelKind",
    "MessageStatusEnum": "rumbo.messaging.models.MessageStatus",
    "InboundKindEnum": "rumbo.messaging.models.InboundKind",
}


def _schema_settings() -> dict[str, Any]:
    from rumbo.settings import SPECTACULAR_SETTINGS

    existing: Any = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
    return {"ENUM_NAME_OVERRIDES": {**existing, **ENUMS}}


#: The enum names the lead adds to ``SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]`` (see the report).
SCHEMA_SETTINGS = _schema_settings()


def test_schema_generates_without_warnings_with_the_messaging_enum_names(tmp_path):
    from drf_spectacular import plumbing

    plumbing._load_enum_name_overrides.cache_clear()
    try:
        call_command(
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--custom-settings",
            f"{__name__}.SCHEMA_SETTINGS",
            "--file",
            str(tmp_path / "schema.yml"),
        )
    finally:
        plumbing._load_enum_name_overrides.cache_clear()
    assert "MessageStatusEnum" in (tmp_path / "schema.yml").read_text()
