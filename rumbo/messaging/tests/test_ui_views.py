"""The messaging pages: a permission matrix of every route, the operations page (cards, chart, pause and
resume), channels (secrets never shown, blank secret kept, webhook addresses), templates (errors at the field,
adding a language), the live SMS length check, campaigns (preview, confirm, replies) and a person's messages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import member
from rumbo.messaging.adapters.base import InboundEvent, InboundKind
from rumbo.messaging.adapters.kannel import MO_QUERY
from rumbo.messaging.crypto import decrypt_config
from rumbo.messaging.models import Campaign, Channel, Message, Template, TemplateText
from rumbo.messaging.services import (
    create_channel,
    queue_campaign,
    queue_message,
    record_events,
    save_template,
)
from rumbo.messaging.services.campaigns import CAMPAIGN_CREATE
from rumbo.offices.models import Role
from rumbo.people.models import Person, Phone
from rumbo.people.tests.utils import make_person

PASSWORD_VALUE = "s3cr3t-smtp-Pa55"


def ui_client(world: Any, user: Any) -> Any:
    """A logged-in client whose requests ask for English (the assertions read English text)."""
    client = world.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def email_channel(world: Any, office: Any = None, name: str = "Correo", **extra: Any) -> Channel:
    office = office or world.michoacan
    actor = world.admin if office == world.michoacan else extra.pop("actor")
    return create_channel(
        actor=actor,
        office=office,
        kind="email",
        name=name,
        sender="avisos@ofam.example",
        config={"host": "127.0.0.1", "port": "2525", "username": "avisos", "password": PASSWORD_VALUE},
        **extra,
    )


def template(world: Any, office: Any = None, key: str = "aviso", actor: Any = None) -> Template:
    return save_template(
        actor=actor or world.admin,
        office=office or world.michoacan,
        key=key,
        name="Aviso",
        texts={
            "spa": ("Aviso de {{ office_name }}", "Hola {{ given_names }}, {{ office_name }} te saluda."),
            "eng": (
                "Notice from {{ office_name }}",
                "Hi {{ given_names }}, greetings from {{ office_name }}.",
            ),
        },
    )


@pytest.fixture
def jalisco_admin(world: Any) -> Any:
    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


@pytest.fixture
def setup(world: Any) -> dict[str, Any]:
    """Michoacán with an email channel, a template, a person with an email address and a campaign."""
    channel = email_channel(world)
    tpl = template(world)
    person = make_person(world.caseworker, world.michoacan, email="jose@example.org")
    campaign = Campaign.objects.create(office=world.michoacan, name="Check", template=tpl)
    return {"channel": channel, "template": tpl, "person": person, "campaign": campaign}


# --- Permission matrix ----------------------------------------------------------------------------------------

PERSONAS = ["caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker", "no_role"]
# route → (method, object, expected per persona in PERSONAS order). 200/302 allowed, 403 forbidden, 404 hidden.
MATRIX: dict[str, tuple[str, str, list[int]]] = {
    "messaging:operations": ("get", "", [200, 200, 403, 403, 403, 200, 403]),
    "messaging:stats": ("get", "", [200, 200, 403, 403, 403, 200, 403]),
    "messaging:channel_list": ("get", "", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:channel_kind": ("get", "", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:channel_create": ("get", "kind", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:channel_detail": ("get", "channel", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:channel_edit": ("get", "channel", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:channel_pause": ("post", "channel", [403, 302, 403, 403, 403, 403, 403]),
    "messaging:channel_resume": ("post", "channel", [403, 302, 403, 403, 403, 403, 403]),
    "messaging:template_list": ("get", "", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:template_create": ("get", "", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:template_edit": ("get", "template", [403, 200, 403, 403, 403, 403, 403]),
    "messaging:segments": ("post", "", [200, 200, 403, 403, 403, 200, 403]),
    "messaging:campaign_list": ("get", "", [200, 200, 403, 403, 403, 200, 403]),
    "messaging:campaign_create": ("get", "", [200, 200, 403, 403, 403, 200, 403]),
    "messaging:campaign_detail": ("get", "campaign", [200, 200, 403, 403, 403, 404, 403]),
    "messaging:campaign_counts": ("get", "campaign", [200, 200, 403, 403, 403, 404, 403]),
    "messaging:person": ("get", "person", [200, 200, 403, 403, 403, 404, 403]),
    "messaging:person_send": ("get", "person", [200, 200, 403, 403, 403, 404, 403]),
    "messaging:person_preference": ("post", "person", [302, 302, 403, 403, 403, 404, 403]),
}
# Routes of one record, and who sees another office's record: someone with the permission in their own office.
OBJECT_ROUTES = [name for name, (_m, obj, _e) in MATRIX.items() if obj and obj != "kind"]


def _url(name: str, obj: str, setup: dict[str, Any]) -> str:
    if obj == "kind":
        return reverse(name, args=["email"])
    if obj:
        return reverse(name, args=[setup[obj].pk])
    return reverse(name)


def _call(client: Any, name: str, setup: dict[str, Any]) -> Any:
    method, obj, _expected = MATRIX[name]
    url = _url(name, obj, setup)
    if method == "post":
        return client.post(url, {"text": "Hola"})
    return client.get(url)


@pytest.mark.parametrize("name", list(MATRIX))
def test_anonymous_is_sent_to_log_in(client, world, setup, name):
    response = _call(client, name, setup)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("name", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(world, setup, name, persona):
    expected = MATRIX[name][2][PERSONAS.index(persona)]
    response = _call(ui_client(world, getattr(world, persona)), name, setup)
    assert response.status_code == expected, (name, persona)


@pytest.mark.parametrize("name", OBJECT_ROUTES)
def test_another_office_record_is_404_even_for_its_kind_of_manager(world, setup, jalisco_admin, name):
    assert _call(ui_client(world, jalisco_admin), name, setup).status_code == 404
    if name in ("messaging:channel_pause", "messaging:channel_resume"):
        setup["channel"].refresh_from_db()
        assert setup["channel"].paused_at is None


def test_office_parameter_another_office_is_404_own_office_without_role_403(world, setup):
    client = ui_client(world, world.caseworker)
    assert client.get(reverse("messaging:operations"), {"office": world.jalisco.pk}).status_code == 404
    assert client.get(reverse("messaging:operations"), {"office": "x"}).status_code == 404
    two_offices = member(world.michoacan, Role.CASEWORKER, username="two")
    member_trainer = ui_client(world, two_offices)
    from rumbo.offices.models import Membership

    Membership.objects.create(user=two_offices, office=world.jalisco, role=Role.TRAINER)
    assert (
        member_trainer.get(reverse("messaging:operations"), {"office": world.jalisco.pk}).status_code == 403
    )
    assert (
        member_trainer.get(reverse("messaging:operations"), {"office": world.michoacan.pk}).status_code == 200
    )


def test_user_of_two_offices_picks_the_office(world, setup, jalisco_admin):
    from rumbo.offices.models import Membership

    Membership.objects.create(user=world.caseworker, office=world.jalisco, role=Role.CASEWORKER)
    email_channel(world, office=world.jalisco, name="Correo Jalisco", actor=jalisco_admin)
    client = ui_client(world, world.caseworker)
    page = client.get(reverse("messaging:operations"), {"office": world.jalisco.pk}).content.decode()
    assert "Correo Jalisco" in page and ">Correo <" not in page
    assert 'name="office"' in page  # the picker
    page = client.get(reverse("messaging:operations"), {"office": world.michoacan.pk}).content.decode()
    assert "Correo Jalisco" not in page


def test_navigation_shows_messaging_to_who_may_view_messages(world):
    assert 'href="/messaging/"' in ui_client(world, world.caseworker).get("/").content.decode()
    assert 'href="/messaging/"' not in ui_client(world, world.auditor).get("/").content.decode()


# --- Operations page -----------------------------------------------------------------------------------------


def test_operations_empty_state_links_to_create_a_channel_for_managers_only(world):
    admin_page = ui_client(world, world.admin).get(reverse("messaging:operations")).content.decode()
    assert "This office has no channel to send messages yet." in admin_page
    assert reverse("messaging:channel_kind") in admin_page
    caseworker_page = ui_client(world, world.caseworker).get(reverse("messaging:operations")).content.decode()
    assert "This office has no channel to send messages yet." in caseworker_page
    assert reverse("messaging:channel_kind") not in caseworker_page
    assert "Ask the office administrator" in caseworker_page


def _counter(page: str, css: str) -> str:
    match = re.search(rf'<div class="{css}"><dt>[^<]+</dt><dd>([^<]+)</dd>', page)
    assert match, css
    return match.group(1)


def test_operations_cards_show_counts_chart_and_refresh_with_htmx(world, setup):
    channel, tpl = setup["channel"], setup["template"]
    persons = [make_person(world.caseworker, world.michoacan, email=f"p{i}@example.org") for i in range(4)]
    for person in persons:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=tpl)
    now = timezone.now()
    first, second, third, _fourth = Message.objects.order_by("pk")
    Message.objects.filter(pk=first.pk).update(status="sent", sent_at=now)
    Message.objects.filter(pk=second.pk).update(status="delivered", sent_at=now, delivered_at=now)
    Message.objects.filter(pk=third.pk).update(status="failed", failed_at=now, last_error="550")
    record_events(
        channel=channel,
        events=[
            InboundEvent(kind=InboundKind.REPLY, sender=persons[0].email, body="Estoy bien", provider_id="r1")
        ],
    )
    response = ui_client(world, world.caseworker).get(reverse("messaging:operations"))
    page = response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert "Correo" in page and "Email" in page
    assert (_counter(page, "queued"), _counter(page, "sending"), _counter(page, "sent")) == ("1", "0", "1")
    assert (_counter(page, "delivered"), _counter(page, "failed")) == ("1", "1")
    assert _counter(page, "replies") in ("0", "1")  # 1 when the engine matches email replies
    # The chart: 15 bars, the current minute with the 2 messages sent now; every bar has its tooltip.
    assert page.count('<rect class="bar') == 15
    assert re.search(r'<rect class="bar" [^>]*><title>\d\d:\d\d · 2</title>', page)
    assert "Sent in the last 15 minutes: 2" in page
    # Polled every few seconds; the partial is the same section.
    assert 'hx-get="/messaging/stats/"' in page and 'hx-trigger="every 5s"' in page
    partial = ui_client(world, world.caseworker).get(reverse("messaging:stats")).content.decode()
    assert partial.startswith('<section id="channel-stats"') and "<html" not in partial
    # Caseworkers see no pause button and no channel settings.
    assert reverse("messaging:channel_pause", args=[channel.pk]) not in page
    assert channel.webhook_token not in page


def test_chart_numbers_are_not_localised_in_spanish(world, setup):
    client = world.client_for(world.admin)  # Spanish: decimals would be written with commas
    page = client.get(reverse("messaging:operations")).content.decode()
    assert '<html lang="es">' in page
    values = re.findall(r'<rect class="[^"]+" x="([^"]+)" y="([^"]+)" width="([^"]+)"', page)
    assert len(values) == 15
    for triple in values:
        assert all("," not in value for value in triple)


def test_pause_and_resume_change_the_state_and_are_audited(world, setup):
    channel = setup["channel"]
    client = ui_client(world, world.admin)
    page = client.get(reverse("messaging:operations")).content.decode()
    assert reverse("messaging:channel_pause", args=[channel.pk]) in page
    response = client.post(reverse("messaging:channel_pause", args=[channel.pk]), {"next": "/messaging/"})
    assert response.status_code == 302 and response["Location"] == "/messaging/"
    channel.refresh_from_db()
    assert channel.paused_at is not None and channel.paused_by == world.admin
    assert AuditEvent.objects.filter(action=Action.CHANNEL_PAUSE, object_id=str(channel.pk)).count() == 1
    page = client.get(reverse("messaging:operations")).content.decode()
    assert "Paused" in page and reverse("messaging:channel_resume", args=[channel.pk]) in page
    client.post(reverse("messaging:channel_resume", args=[channel.pk]))
    channel.refresh_from_db()
    assert channel.paused_at is None
    assert AuditEvent.objects.filter(action=Action.CHANNEL_RESUME, object_id=str(channel.pk)).count() == 1


def test_pause_refuses_get_and_foreign_next(world, setup):
    channel = setup["channel"]
    client = ui_client(world, world.admin)
    assert client.get(reverse("messaging:channel_pause", args=[channel.pk])).status_code == 405
    response = client.post(
        reverse("messaging:channel_pause", args=[channel.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"].startswith("/messaging/")


# --- Channels ---------------------------------------------------------------------------------------------


def test_channel_create_stores_secrets_encrypted_and_never_shows_them(world):
    client = ui_client(world, world.admin)
    form = client.get(reverse("messaging:channel_create", args=["email"])).content.decode()
    assert 'name="config__host"' in form and 'type="password"' in form
    response = client.post(
        reverse("messaging:channel_create", args=["email"]),
        {
            "name": "Avisos",
            "sender": "Avisos OFAM <avisos@ofam.example>",
            "rate_per_second": "20",
            "priority": "5",
            "config__host": "smtp.ofam.example",
            "config__port": "587",
            "config__username": "avisos",
            "config__password": PASSWORD_VALUE,
            "config__use_tls": "yes",
            "config__use_ssl": "no",
            "config__timeout": "20",
        },
    )
    channel = Channel.objects.get(name="Avisos")
    assert response.status_code == 302 and response["Location"] == reverse(
        "messaging:channel_detail", args=[channel.pk]
    )
    assert PASSWORD_VALUE not in channel.config_encrypted
    assert decrypt_config(channel.config_encrypted)["password"] == PASSWORD_VALUE
    for url in (
        reverse("messaging:channel_detail", args=[channel.pk]),
        reverse("messaging:channel_edit", args=[channel.pk]),
        reverse("messaging:channel_list"),
        reverse("messaging:operations"),
    ):
        page = client.get(url).content.decode()
        assert PASSWORD_VALUE not in page, url
    detail = client.get(reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    assert "set (hidden)" in detail and "smtp.ofam.example" in detail
    assert AuditEvent.objects.filter(action=Action.CHANNEL_CREATE, object_id=str(channel.pk)).exists()
    assert PASSWORD_VALUE not in str(list(AuditEvent.objects.values_list("changes", "detail")))


def test_channel_edit_blank_secret_keeps_it_new_secret_replaces_it(world, setup):
    channel = setup["channel"]
    client = ui_client(world, world.admin)
    edit = client.get(reverse("messaging:channel_edit", args=[channel.pk])).content.decode()
    assert "Leave blank to keep the current value." in edit
    assert 'value="127.0.0.1"' in edit  # non-secret settings are shown back
    data = {
        "name": "Correo nuevo",
        "sender": "avisos@ofam.example",
        "rate_per_second": "10",
        "priority": "1",
        "config__host": "127.0.0.1",
        "config__port": "2526",
        "config__username": "avisos",
        "config__password": "",
        "config__use_tls": "no",
        "config__use_ssl": "no",
        "config__timeout": "",
    }
    assert client.post(reverse("messaging:channel_edit", args=[channel.pk]), data).status_code == 302
    channel.refresh_from_db()
    config = decrypt_config(channel.config_encrypted)
    assert (channel.name, config["port"], config["password"]) == ("Correo nuevo", "2526", PASSWORD_VALUE)
    assert channel.is_active is False  # the "active" box was not ticked
    client.post(
        reverse("messaging:channel_edit", args=[channel.pk]),
        {**data, "config__password": "other-pass-1", "is_active": "on"},
    )
    channel.refresh_from_db()
    assert decrypt_config(channel.config_encrypted)["password"] == "other-pass-1"
    assert channel.is_active is True


def test_channel_form_errors_at_the_field(world):
    client = ui_client(world, world.admin)
    url = reverse("messaging:channel_create", args=["email"])
    data = {
        "name": "X",
        "sender": "avisos@ofam.example",
        "rate_per_second": "5",
        "priority": "1",
        "config__host": "",
        "config__use_tls": "yes",
        "config__use_ssl": "no",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["config__host"]
    # The service's checks land at their field too (the sending identity of an email channel).
    response = client.post(url, {**data, "config__host": "smtp.example", "sender": "not an address"})
    assert list(response.context["form"].errors) == ["sender"]
    assert "Enter an email address" in response.content.decode()
    assert not Channel.objects.exists()


@override_settings(RUMBO_MESSAGING_ALLOW_CONSOLE=False)
def test_console_channel_only_when_allowed(world):
    client = ui_client(world, world.admin)
    assert "console" not in client.get(reverse("messaging:channel_kind")).content.decode()
    assert client.get(reverse("messaging:channel_create", args=["console"])).status_code == 404
    assert client.get(reverse("messaging:channel_create", args=["fax"])).status_code == 404


@override_settings(RUMBO_MESSAGING_ALLOW_CONSOLE=True)
def test_console_channel_offered_in_development(world):
    client = ui_client(world, world.admin)
    assert (
        reverse("messaging:channel_create", args=["console"])
        in client.get(reverse("messaging:channel_kind")).content.decode()
    )


def test_webhook_addresses_on_the_detail_page_of_a_gateway_channel(world):
    sms = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="SMS",
        sender="+524431000000",
        config={"url": "http://127.0.0.1:13013", "username": "rumbo", "password": PASSWORD_VALUE},
    )
    client = ui_client(world, world.admin)
    page = client.get(reverse("messaging:channel_detail", args=[sms.pk])).content.decode()
    base = f"http://127.0.0.1:8000/hooks/messaging/{sms.webhook_token}/sms/"
    assert f"<code>{base}?{MO_QUERY.replace('&', '&amp;')}</code>" in page  # Kannel's sms-service get-url
    assert f"<code>{base}</code>" in page
    assert "Delivery reports are not requested yet" in page
    assert PASSWORD_VALUE not in page
    # The addresses carry the channel's secret token: never on the pages caseworkers see.
    assert sms.webhook_token not in ui_client(world, world.caseworker).get("/messaging/").content.decode()


# --- Templates and the SMS length check ----------------------------------------------------------------------


def _template_post(**overrides: Any) -> dict[str, Any]:
    data = {
        "key": "alerta",
        "name": "Alerta",
        "fallback_language": "spa",
        "languages": "spa,eng",
        "texts__spa__subject": "",
        "texts__spa__body": "Hola {{ given_names }}",
        "texts__eng__subject": "",
        "texts__eng__body": "Hi {{ given_names }}",
        "save": "1",
    }
    data.update(overrides)
    return data


def test_template_unknown_variable_is_an_error_at_the_field_and_nothing_is_saved(world):
    client = ui_client(world, world.admin)
    response = client.post(
        reverse("messaging:template_create"), _template_post(texts__spa__body="Hola {{ nombre }}")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "texts__spa__body" in form.errors
    assert "Unknown variable" in " ".join(form.errors["texts__spa__body"])
    page = response.content.decode()
    field = re.search(
        r'<div class="field has-error">\s*<label for="id_texts__spa__body".*?</div>', page, re.S
    )
    assert field and "Unknown variable" in field.group(0)
    assert not Template.objects.exists()


def test_template_saved_with_texts_and_audited(world):
    client = ui_client(world, world.admin)
    response = client.post(reverse("messaging:template_create"), _template_post())
    assert response.status_code == 302
    tpl = Template.objects.get(key="alerta")
    assert dict(tpl.texts.values_list("language", "body")) == {
        "spa": "Hola {{ given_names }}",
        "eng": "Hi {{ given_names }}",
    }
    assert AuditEvent.objects.filter(action=Action.TEMPLATE_SAVE, object_id=str(tpl.pk)).exists()
    listing = client.get(reverse("messaging:template_list")).content.decode()
    assert "Alerta" in listing and "Spanish" in listing and "English" in listing


def test_new_template_with_a_key_in_use_is_an_error_at_the_key_and_changes_nothing(world, setup):
    tpl = setup["template"]
    client = ui_client(world, world.admin)
    response = client.post(reverse("messaging:template_create"), _template_post(key=tpl.key, name="Otra"))
    assert response.status_code == 200
    assert response.context["form"].errors["key"] == ["A template with this key already exists."]
    tpl.refresh_from_db()
    assert tpl.name == "Aviso" and "greetings from" in tpl.texts.get(language="eng").body
    response = client.post(reverse("messaging:template_edit", args=[tpl.pk]), _template_post(name="Aviso 2"))
    assert response.status_code == 302  # editing it keeps working
    tpl.refresh_from_db()
    assert tpl.name == "Aviso 2"


def test_template_add_language_keeps_what_was_typed_then_saves_it(world):
    client = ui_client(world, world.admin)
    response = client.post(
        reverse("messaging:template_create"),
        {**_template_post(), "save": "", "add": "1", "add_language": "tzo", "texts__spa__body": "Escrito ya"},
    )
    assert response.status_code == 200 and not Template.objects.exists()
    page = response.content.decode()
    assert 'name="texts__tzo__body"' in page and "Escrito ya" in page
    assert 'name="languages" value="spa,eng,tzo"' in page
    response = client.post(
        reverse("messaging:template_create"),
        _template_post(languages="spa,eng,tzo", texts__tzo__body="Mi texto en tsotsil"),
    )
    assert response.status_code == 302
    assert TemplateText.objects.get(language="tzo").body == "Mi texto en tsotsil"
    # Any ISO 639-3 code can be added; a made-up one is refused at its field.
    response = client.post(
        reverse("messaging:template_create"),
        {**_template_post(key="otra"), "add": "1", "add_language_code": "zzz"},
    )
    assert "add_language_code" in response.context["form"].errors


def test_template_edit_keeps_the_key_and_removes_blank_languages(world, setup):
    tpl = setup["template"]
    client = ui_client(world, world.admin)
    page = client.get(reverse("messaging:template_edit", args=[tpl.pk])).content.decode()
    assert "greetings from" in page and "disabled" in page
    response = client.post(
        reverse("messaging:template_edit", args=[tpl.pk]),
        _template_post(key="changed", name="Aviso 2", texts__eng__body="", texts__spa__body="Nuevo"),
    )
    assert response.status_code == 302
    tpl.refresh_from_db()
    assert (tpl.key, tpl.name) == ("aviso", "Aviso 2")
    assert dict(tpl.texts.values_list("language", "body")) == {"spa": "Nuevo"}


def test_template_form_has_the_live_sms_check_wired(world):
    page = ui_client(world, world.admin).get(reverse("messaging:template_create")).content.decode()
    assert 'hx-post="/messaging/segments/"' in page
    assert 'hx-target="#seg-spa"' in page and 'id="seg-spa"' in page
    assert 'hx-params="texts__spa__body"' in page
    for name in ("given_names", "office_name", "reply_hint"):
        assert f"{{{{ {name} }}}}" in page  # the list of variables


def _segments(world: Any, text: str, **headers: Any) -> str:
    client = ui_client(world, world.caseworker)
    response = client.post(reverse("messaging:segments"), {"text": text}, **headers)
    assert response.status_code == 200
    return response.content.decode()


def _count(page: str) -> tuple[str, str, str]:
    match = re.search(r'data-encoding="([^"]+)" data-segments="(\d+)" data-characters="(\d+)"', page)
    assert match
    return match.group(1), match.group(2), match.group(3)


def test_segment_counter_gsm7_limits(world):
    assert _count(_segments(world, "a" * 160)) == ("GSM-7", "1", "160")
    assert _count(_segments(world, "a" * 161)) == ("GSM-7", "2", "161")
    assert _count(_segments(world, "a" * 306)) == ("GSM-7", "2", "306")
    assert _count(_segments(world, "a" * 307)) == ("GSM-7", "3", "307")
    assert _count(_segments(world, "")) == ("GSM-7", "0", "0")


def test_segment_counter_spanish_letters_and_emoji(world):
    # GSM 03.38 has ñ, Ñ, é, ¿ and ¡ but not á, í, ó or ú.
    assert _count(_segments(world, "ñ" * 160)) == ("GSM-7", "1", "160")
    assert _count(_segments(world, "á")) == ("UCS-2", "1", "1")
    assert _count(_segments(world, "¿Señor Pérez, está bien?".replace("á", "a")))[0] == "GSM-7"
    page = _segments(world, "Mañana habrá lluvia")
    assert _count(page) == ("UCS-2", "1", "19")
    assert "<code>á</code>" in page and "<code>ñ</code>" not in page
    assert _count(_segments(world, "á" * 70))[1] == "1"
    assert _count(_segments(world, "á" * 71))[1] == "2"
    emoji = _segments(world, "Estamos bien 🙂")
    assert _count(emoji)[0] == "UCS-2" and "🙂" in emoji
    # Extension characters count twice in GSM-7.
    assert _count(_segments(world, "€" * 80)) == ("GSM-7", "1", "80")
    assert _count(_segments(world, "€" * 81)) == ("GSM-7", "2", "81")


def test_segment_counter_reads_the_field_that_triggered_and_reports_unknown_variables(world):
    client = ui_client(world, world.admin)
    response = client.post(
        reverse("messaging:segments"),
        {"texts__eng__body": "Hi {{ nombre }} á"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER_NAME="texts__eng__body",
    )
    page = response.content.decode()
    assert _count(page)[0] == "UCS-2"
    assert "Unknown variable" in page and "nombre" in page
    assert response["Cache-Control"] == "no-store"


# --- Campaigns ------------------------------------------------------------------------------------------------


def _campaign_post(tpl: Template, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Check",
        "template": tpl.pk,
        "nationality": "",
        "language": "",
        "link": "",
        "action": "preview",
    }
    data.update(overrides)
    return data


def test_campaign_preview_then_confirm_queues(world, setup):
    tpl = setup["template"]
    Person.objects.filter(pk=setup["person"].pk).update(preferred_language="eng")
    make_person(world.caseworker, world.michoacan, given_names="Sin Correo")  # phone only: no email channel
    bad = make_person(world.caseworker, world.michoacan, given_names="Mal Correo")
    Person.objects.filter(pk=bad.pk).update(email="mal@correo")
    client = ui_client(world, world.caseworker)
    response = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hi José, greetings from OFAM Michoacán." in page  # rendered for one recipient, in English
    assert "Notice from OFAM Michoacán" in page
    assert 'data-encoding="UCS-2"' in page and "<code>á</code>" in page  # the SMS cost of that text
    preview = response.context["preview"]
    assert (preview.recipients, preview.queued, preview.skipped_total) == (3, 1, 2)
    assert "No address for any active channel" in page and "The email address is not valid" in page
    assert not Campaign.objects.filter(name="Check", pk__gt=setup["campaign"].pk).exists()
    assert not Message.objects.exists()
    token = response.context["preview_token"]
    response = client.post(
        reverse("messaging:campaign_create"), _campaign_post(tpl, action="confirm", preview_token=token)
    )
    campaign = Campaign.objects.exclude(pk=setup["campaign"].pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("messaging:campaign_detail", args=[campaign.pk])
    assert campaign.created_by == world.caseworker
    message = Message.objects.get()
    assert (message.campaign, message.to, message.language) == (campaign, "jose@example.org", "eng")
    assert AuditEvent.objects.filter(action=Action.MESSAGES_QUEUE, object_id=str(campaign.pk)).exists()
    # The campaign row was written by the service (campaign_create), which audits it.
    assert AuditEvent.objects.filter(action=CAMPAIGN_CREATE, object_id=str(campaign.pk)).exists()


def test_campaign_confirmed_twice_is_created_and_sent_once(world, setup):
    tpl = setup["template"]
    client = ui_client(world, world.caseworker)
    token = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl)).context["preview_token"]
    confirm = _campaign_post(tpl, action="confirm", preview_token=token)
    first = client.post(reverse("messaging:campaign_create"), confirm)
    second = client.post(reverse("messaging:campaign_create"), confirm)  # a double click, the back button
    campaign = Campaign.objects.exclude(pk=setup["campaign"].pk).get()
    assert first["Location"] == second["Location"] == reverse("messaging:campaign_detail", args=[campaign.pk])
    assert Message.objects.count() == 1
    # A new preview of the same selection can be confirmed on purpose: a second campaign.
    again = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl)).context["preview_token"]
    assert again != token
    client.post(
        reverse("messaging:campaign_create"), _campaign_post(tpl, action="confirm", preview_token=again)
    )
    assert Campaign.objects.exclude(pk=setup["campaign"].pk).count() == 2


def test_campaign_preview_of_one_persons_message_is_audited(world, setup):
    person = setup["person"]
    client = ui_client(world, world.caseworker)
    page = client.post(reverse("messaging:campaign_create"), _campaign_post(setup["template"]))
    assert "jose@example.org" in page.content.decode()
    event = AuditEvent.objects.get(action=Action.MESSAGES_VIEW)
    assert (event.actor, event.office, event.object_type, event.object_id) == (
        world.caseworker,
        world.michoacan,
        "people.person",
        str(person.pk),
    )


def test_campaign_confirm_with_a_template_broken_since_the_preview_saves_nothing(world, setup):
    tpl = setup["template"]
    client = ui_client(world, world.caseworker)
    token = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl)).context["preview_token"]
    # The text breaks between the preview and the confirmation; the token does not see texts.
    TemplateText.objects.filter(template=tpl).update(body="Hola {{ no_such_variable }}")
    response = client.post(
        reverse("messaging:campaign_create"), _campaign_post(tpl, action="confirm", preview_token=token)
    )
    assert response.status_code == 200
    assert response.context["form"].errors["template"]
    assert not Campaign.objects.exclude(pk=setup["campaign"].pk).exists()
    assert not Message.objects.exists()


def test_campaign_confirm_after_a_change_shows_the_preview_again(world, setup):
    client = ui_client(world, world.caseworker)
    response = client.post(
        reverse("messaging:campaign_create"),
        _campaign_post(setup["template"], action="confirm", preview_token="stale"),
    )
    assert response.status_code == 200 and "preview" in response.context
    assert not Message.objects.exists()
    assert Campaign.objects.count() == 1


def test_campaign_recipients_filtered_by_nationality_and_language(world, setup):
    make_person(
        world.caseworker, world.michoacan, email="hn@example.org", nationalities=["HN"], languages=["spa"]
    )
    make_person(world.caseworker, world.michoacan, email="tz@example.org", languages=["tzo"])
    client = ui_client(world, world.caseworker)
    tpl = setup["template"]
    assert (
        client.post(reverse("messaging:campaign_create"), _campaign_post(tpl)).context["preview"].recipients
        == 3
    )
    by_nationality = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl, nationality="HN"))
    assert by_nationality.context["preview"].recipients == 1
    by_language = client.post(reverse("messaging:campaign_create"), _campaign_post(tpl, language="tzo"))
    assert by_language.context["preview"].recipients == 1


def test_campaign_without_template_or_channel_says_so(world):
    client = ui_client(world, world.caseworker)
    assert "no message template yet" in client.get(reverse("messaging:campaign_create")).content.decode()
    template(world)
    assert "no active channel" in client.get(reverse("messaging:campaign_create")).content.decode()


def test_campaign_detail_counts_and_replies_are_audited(world, setup):
    campaign, person = setup["campaign"], setup["person"]
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[person.pk])
    message = Message.objects.get()
    Message.objects.filter(pk=message.pk).update(status="sent", sent_at=timezone.now() - timedelta(minutes=1))
    record_events(
        channel=setup["channel"],
        events=[
            InboundEvent(
                kind=InboundKind.REPLY, sender="jose@example.org", body="Estoy a salvo", provider_id="m1"
            )
        ],
    )
    from rumbo.messaging.models import Inbound

    if not Inbound.objects.filter(campaign=campaign).exists():  # the engine matches replies by phone only
        Inbound.objects.filter(provider_id="m1").update(person=person, message=message, campaign=campaign)
    client = ui_client(world, world.caseworker)
    page = client.get(reverse("messaging:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Estoy a salvo" in page and "José" in page
    assert re.search(r"<dt>Sent</dt><dd class=\"status-sent\">1</dd>", page)
    event = AuditEvent.objects.get(action=Action.MESSAGES_VIEW, object_id=str(campaign.pk))
    assert event.actor == world.caseworker and event.detail["replies_shown"] == 1
    counts = client.get(reverse("messaging:campaign_counts", args=[campaign.pk])).content.decode()
    assert counts.startswith('<section id="campaign-counts"') and "Estoy a salvo" not in counts


# --- A person's messages ------------------------------------------------------------------------------------


def test_person_page_has_the_messages_hook_for_who_may_view_messages(world, setup):
    person = setup["person"]
    page = ui_client(world, world.caseworker).get(reverse("people:detail", args=[person.pk])).content.decode()
    assert f'hx-get="{reverse("messaging:person", args=[person.pk])}"' in page
    auditor_page = (
        ui_client(world, world.auditor).get(reverse("people:detail", args=[person.pk])).content.decode()
    )
    assert reverse("messaging:person", args=[person.pk]) not in auditor_page


def test_person_panel_lists_messages_and_replies_and_is_audited(world, setup):
    person = setup["person"]
    queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=setup["template"])
    client = ui_client(world, world.caseworker)
    partial = client.get(
        reverse("messaging:person", args=[person.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert partial.startswith('<section class="card" id="person-messages"')
    assert "Hola José, OFAM Michoacán te saluda." in partial and "Queued" in partial
    assert reverse("messaging:person_send", args=[person.pk]) in partial
    full = client.get(reverse("messaging:person", args=[person.pk])).content.decode()
    assert "<html" in full and "Back to the person" in full
    assert AuditEvent.objects.filter(action=Action.MESSAGES_VIEW, object_id=str(person.pk)).count() == 2


def test_person_panel_shows_a_translatable_reason_and_the_gateways_words_as_detail(world, setup):
    person = setup["person"]
    tpl = setup["template"]
    opted = queue_message(
        actor=world.caseworker, office=world.michoacan, person=person, template=tpl, key="a"
    )
    refused = queue_message(
        actor=world.caseworker, office=world.michoacan, person=person, template=tpl, key="b"
    )
    now = timezone.now()
    Message.objects.filter(pk=opted.pk).update(
        status="failed", failed_at=now, last_error="opted out by reply"
    )
    Message.objects.filter(pk=refused.pk).update(
        status="failed", failed_at=now, last_error="Kannel refused the message: 403 Authorization failed"
    )
    client = ui_client(world, world.caseworker)
    panel = client.get(reverse("messaging:person", args=[person.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "The person replied with a stop word" in panel and "opted out by reply" not in panel
    assert "The SMS gateway refused the message" in panel
    assert "Technical detail: <code>403 Authorization failed</code>" in panel  # the gateway's own words


def test_preferred_channel_is_recorded_from_the_panel(world, setup):
    from rumbo.messaging.models import ContactPreference

    person = setup["person"]
    client = ui_client(world, world.caseworker)
    panel = client.get(reverse("messaging:person", args=[person.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert reverse("messaging:person_preference", args=[person.pk]) in panel
    response = client.post(
        reverse("messaging:person_preference", args=[person.pk]), {"channel_kind": "email"}
    )
    assert response.status_code == 302
    assert ContactPreference.objects.get(person=person).channel_kind == "email"
    client.post(reverse("messaging:person_preference", args=[person.pk]), {"channel_kind": "fax"})
    assert ContactPreference.objects.get(person=person).channel_kind == "email"
    client.post(reverse("messaging:person_preference", args=[person.pk]), {"channel_kind": ""})
    assert not ContactPreference.objects.filter(person=person).exists()


def test_send_form_queues_one_message_once(world, setup):
    person = setup["person"]
    client = ui_client(world, world.caseworker)
    form = client.get(reverse("messaging:person_send", args=[person.pk]))
    nonce = form.context["nonce"]
    data = {"template": setup["template"].pk, "channel_kind": "", "link": "", "nonce": nonce}
    response = client.post(reverse("messaging:person_send", args=[person.pk]), data)
    assert response.status_code == 302 and response["Location"] == reverse("people:detail", args=[person.pk])
    client.post(reverse("messaging:person_send", args=[person.pk]), data)  # a double submit
    assert Message.objects.get().to == "jose@example.org"


def test_send_form_invalid_email_is_an_error_at_the_field(world, setup):
    person = setup["person"]
    Person.objects.filter(pk=person.pk).update(email="jose@invalido")
    client = ui_client(world, world.caseworker)
    data = {"template": setup["template"].pk, "channel_kind": "email", "link": "", "nonce": "n1"}
    response = client.post(reverse("messaging:person_send", args=[person.pk]), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "channel_kind" in errors and "is not valid" in " ".join(errors["channel_kind"])
    assert "jose@invalido" in response.content.decode()
    assert not Message.objects.exists()


def test_send_form_landline_for_sms_is_an_error_at_the_field(world, setup):
    create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="SMS",
        sender="+524431000000",
        config={"url": "http://127.0.0.1:13013", "username": "u", "password": "p"},
    )
    person = setup["person"]
    Phone.objects.filter(person=person).update(kind="landline", e164="+524433123456", whatsapp=False)
    client = ui_client(world, world.caseworker)
    data = {"template": setup["template"].pk, "channel_kind": "sms", "link": "", "nonce": "n2"}
    response = client.post(reverse("messaging:person_send", args=[person.pk]), data)
    errors = response.context["form"].errors
    assert "cannot receive SMS" in " ".join(errors["channel_kind"])
    assert not Message.objects.exists()


def test_send_form_unknown_template_variable_in_stored_template_is_an_error(world, setup):
    TemplateText.objects.filter(template=setup["template"], language="spa").update(body="Hola {{ apodo }}")
    client = ui_client(world, world.caseworker)
    data = {"template": setup["template"].pk, "channel_kind": "", "link": "", "nonce": "n3"}
    response = client.post(reverse("messaging:person_send", args=[setup["person"].pk]), data)
    assert "template" in response.context["form"].errors
    assert not Message.objects.exists()
