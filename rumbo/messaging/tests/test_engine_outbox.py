"""Queueing: channel and language choice, idempotency, consent, and bad input refused before anything is
queued (single sends) or reported per recipient (campaigns)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from rumbo.audit.models import Action, AuditEvent
from rumbo.messaging.models import Campaign, ContactPreference, Message, TemplateText
from rumbo.messaging.services import queue_campaign, queue_message, set_contact_preference
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import (
    make_channel,
    make_person,
    make_template,
    tasks_enqueued,
)
from rumbo.people.models import ConsentRecord, Person, Phone
from rumbo.people.services import consent_record

gateway = support.gateway  # the fixture


@pytest.fixture
def setup(world, gateway):
    """Michoacán with an SMS channel (first), an email channel and a WhatsApp channel, and a template."""
    sms = make_channel(world.admin, world.michoacan, "sms", priority=10)
    email = make_channel(world.admin, world.michoacan, "email", priority=20)
    whatsapp = make_channel(world.admin, world.michoacan, "whatsapp", priority=30)
    template = make_template(world.admin, world.michoacan)
    return world, {"sms": sms, "email": email, "whatsapp": whatsapp}, template


def withdraw(world, person, purpose="messages"):
    consent_record(
        actor=world.caseworker,
        person=person,
        purpose=purpose,
        status="withdrawn",
        method="verbal",
        text="texto",
        text_version="t",
    )


def test_single_message_goes_to_first_channel_with_an_address(setup, django_capture_on_commit_callbacks):
    world, channels, template = setup
    person = make_person(world.caseworker, world.michoacan, given="Ana", email="ana@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_message(
            actor=world.caseworker, office=world.michoacan, person=person, template=template
        )
    assert message.channel == channels["sms"]
    assert message.to == person.phones.get().e164
    assert message.body == "Hola Ana, OFAM Michoacán te saluda."
    assert message.subject == ""  # no subject on SMS
    assert (message.status, message.language, message.attempts) == ("queued", "spa", 0)
    (task,) = tasks_enqueued()
    assert task.args_kwargs["kwargs"] == {"channel_id": channels["sms"].pk, "message_ids": str(message.pk)}
    assert AuditEvent.objects.filter(action=Action.MESSAGES_QUEUE, object_id=str(message.pk)).exists()


def test_preference_language_and_fallback_language(setup):
    world, channels, template = setup
    person = make_person(world.caseworker, world.michoacan, email="joe@example.com", language="eng")
    set_contact_preference(actor=world.caseworker, person=person, channel_kind="email")
    assert ContactPreference.objects.get(person=person).office_id == world.michoacan.pk
    message = queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    assert (message.channel, message.to, message.language) == (channels["email"], "joe@example.com", "eng")
    assert message.subject == "Notice from OFAM Michoacán"
    tzotzil = make_person(world.caseworker, world.michoacan, language="tzo")
    assert (
        queue_message(
            actor=world.caseworker, office=world.michoacan, person=tzotzil, template=template
        ).language
        == "spa"
    )


def test_whatsapp_only_for_phones_marked_whatsapp(setup):
    world, channels, template = setup
    plain = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError) as caught:
        queue_message(
            actor=world.caseworker,
            office=world.michoacan,
            person=plain,
            template=template,
            channel_kind="whatsapp",
        )
    assert "channel_kind" in caught.value.message_dict
    wa = make_person(world.caseworker, world.michoacan, whatsapp=True)
    message = queue_message(
        actor=world.caseworker, office=world.michoacan, person=wa, template=template, channel_kind="whatsapp"
    )
    assert message.channel == channels["whatsapp"]


def test_unknown_variable_in_a_stored_template_queues_nothing(setup):
    world, _channels, template = setup
    TemplateText.objects.filter(template=template, language="spa").update(body="Hola {{ nombre }}")
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    assert "nombre" in " ".join(caught.value.message_dict["template"])
    campaign = Campaign.objects.create(office=world.michoacan, name="C", template=template)
    with pytest.raises(ValidationError) as caught:
        queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[person.pk])
    assert "template" in caught.value.message_dict
    assert not Message.objects.exists()


def test_landline_cannot_receive_sms_clear_error_nothing_queued(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan, kind="landline")
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    (message,) = caught.value.message_dict["person"]
    assert "cannot receive SMS" in message and person.phones.get().e164 in message
    with pytest.raises(ValidationError) as caught:
        queue_message(
            actor=world.caseworker,
            office=world.michoacan,
            person=person,
            template=template,
            channel_kind="sms",
        )
    assert "cannot receive SMS" in caught.value.message_dict["channel_kind"][0]
    assert not Message.objects.exists()


def test_invalid_number_per_phonenumbers_cannot_receive_sms(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan)
    Phone.objects.filter(person=person).update(e164="+5210000")  # e.g. left by an old bulk import
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    assert "+5210000" in caught.value.message_dict["person"][0]


def test_invalid_email_clear_error_nothing_queued(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan, phone=None)
    Person.objects.filter(pk=person.pk).update(email="ana.at.example")  # e.g. left by an old bulk import
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    assert "ana.at.example" in caught.value.message_dict["person"][0]
    assert not Message.objects.exists()


def test_idempotency_key_queues_once(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan)
    first = queue_message(
        actor=world.caseworker, office=world.michoacan, person=person, template=template, key="safety:7:1"
    )
    again = queue_message(
        actor=world.caseworker, office=world.michoacan, person=person, template=template, key="safety:7:1"
    )
    assert first.pk == again.pk
    assert first.idempotency_key == f"o{world.michoacan.pk}:safety:7:1"
    assert Message.objects.count() == 1


def test_opt_out_blocks_non_emergency_only(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan)
    withdraw(world, person)
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=person, template=template)
    assert "opted out" in caught.value.message_dict["person"][0]
    alert = make_template(world.admin, world.michoacan, key="sismo", emergency=True)
    assert queue_message(
        actor=world.caseworker, office=world.michoacan, person=person, template=alert
    ).emergency


def test_permissions_and_other_office(setup):
    world, _channels, template = setup
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(PermissionDenied):
        queue_message(actor=world.auditor, office=world.michoacan, person=person, template=template)
    other = make_person(world.jalisco_caseworker, world.jalisco)
    with pytest.raises(ValidationError) as caught:
        queue_message(actor=world.caseworker, office=world.michoacan, person=other, template=template)
    assert "person" in caught.value.message_dict


@override_settings(RUMBO_MESSAGING_BATCH_SIZE=3)
def test_campaign_counts_skips_and_one_task_per_batch(setup, django_capture_on_commit_callbacks):
    world, _channels, template = setup
    ok = [make_person(world.caseworker, world.michoacan) for _ in range(5)]
    emailed = make_person(world.caseworker, world.michoacan, phone=None, email="e@example.com")
    landline = make_person(world.caseworker, world.michoacan, kind="landline")
    bad_email = make_person(world.caseworker, world.michoacan, phone=None, email="x@example.com")
    Person.objects.filter(pk=bad_email.pk).update(email="x@@example")
    nothing = make_person(world.caseworker, world.michoacan, phone=None)
    opted = make_person(world.caseworker, world.michoacan)
    withdraw(world, opted)
    other = make_person(world.jalisco_caseworker, world.jalisco)
    campaign = Campaign.objects.create(office=world.michoacan, name="¿Estás bien?", template=template)
    ids = [p.pk for p in [*ok, emailed, landline, bad_email, nothing, opted, other]]

    preview = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=ids, dry_run=True)
    assert preview.queued == 6 and not Message.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        result = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=ids + ids[:2])
    assert result.recipients == 11
    assert (result.queued, result.already_queued) == (6, 0)
    assert dict(result.skipped) == {
        "not_mobile": 1,
        "invalid_email": 1,
        "no_contact": 1,
        "opted_out": 1,
        "not_in_office": 1,
    }
    assert dict(result.by_channel) == {"sms": 5, "email": 1}
    assert (landline.pk, "not_mobile") in result.skipped_people
    assert len(tasks_enqueued()) == result.tasks == 3  # 5 SMS in batches of 3, 1 email
    message = Message.objects.get(person=ok[0])
    assert message.idempotency_key == f"c{campaign.pk}:s0:p{ok[0].pk}"
    assert message.campaign == campaign and message.step == 0
    event = AuditEvent.objects.get(action=Action.MESSAGES_QUEUE, object_id=str(campaign.pk))
    assert event.detail["queued"] == 6

    with django_capture_on_commit_callbacks(execute=True):
        again = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=ids)
    assert (again.queued, again.already_queued) == (0, 6)
    assert Message.objects.count() == 6 and len(tasks_enqueued()) == 3
    step1 = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=ids, step=1)
    assert step1.queued == 6 and Message.objects.count() == 12


def test_emergency_campaign_reaches_opted_out_but_not_emergency_withdrawals(setup):
    world, _channels, _template = setup
    alert = make_template(world.admin, world.michoacan, key="sismo", emergency=True)
    opted = make_person(world.caseworker, world.michoacan)
    withdraw(world, opted)
    no_emergency = make_person(world.caseworker, world.michoacan)
    withdraw(world, no_emergency, "emergency")
    campaign = Campaign.objects.create(office=world.michoacan, name="Sismo", template=alert, emergency=True)
    result = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[opted.pk, no_emergency.pk])
    assert result.queued == 1 and dict(result.skipped) == {"opted_out_emergency": 1}
    assert Message.objects.get().emergency


def test_extra_context_and_reply_hint(setup):
    world, _channels, _template = setup
    from rumbo.messaging.services import save_template

    tpl = save_template(
        actor=world.admin,
        office=world.michoacan,
        key="check",
        name="Check",
        texts={"spa": ("", "{{ given_names }}: {{ link }} {{ reply_hint }}")},
    )
    person = make_person(world.caseworker, world.michoacan, given="Luz")
    campaign = Campaign.objects.create(office=world.michoacan, name="Check", template=tpl)
    queue_campaign(
        actor=world.caseworker,
        campaign=campaign,
        person_ids=[person.pk],
        extra_context={"link": "https://x/1"},
    )
    body = Message.objects.get().body
    from rumbo.messaging.services._common import reply_hint

    assert body == f"Luz: https://x/1 {reply_hint('spa', 'sms')}"  # in Spanish once the catalogue has it
    assert "BAJA" in body
    with pytest.raises(ValidationError) as caught:
        queue_campaign(
            actor=world.caseworker, campaign=campaign, person_ids=[person.pk], extra_context={"x": "1"}
        )
    assert "extra_context" in caught.value.message_dict
    assert ConsentRecord.objects.count() == 0
