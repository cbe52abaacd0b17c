"""Channel and template services: permissions, validation at the field, encryption, audit."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from rumbo.audit.models import Action, AuditEvent
from rumbo.messaging.crypto import decrypt_config
from rumbo.messaging.models import Template
from rumbo.messaging.services import (
    create_channel,
    masked_config,
    pause_channel,
    resume_channel,
    save_template,
    update_channel,
)
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import make_channel, make_template

gateway = support.gateway  # the fixture


def test_admin_creates_channel_with_encrypted_config_and_audit(world, gateway):
    channel = make_channel(world.admin, world.michoacan, "sms", config={"path": "/x", "token": "t0p"})
    assert "t0p" not in channel.config_encrypted
    assert decrypt_config(channel.config_encrypted) == {"path": "/x", "token": "t0p"}
    event = AuditEvent.objects.get(action=Action.CHANNEL_CREATE, object_id=str(channel.pk))
    assert event.detail["config_keys"] == ["path", "token"]
    assert "t0p" not in str(event.changes) + str(event.detail)
    assert masked_config(channel) == {"path": "/x", "token": ""}


def test_caseworker_cannot_manage_channels(world, gateway):
    with pytest.raises(PermissionDenied):
        make_channel(world.caseworker, world.michoacan)
    with pytest.raises(PermissionDenied):
        make_channel(world.admin, world.jalisco)


def test_channel_errors_are_at_the_fields(world, gateway):
    with pytest.raises(ValidationError) as caught:
        create_channel(
            actor=world.admin,
            office=world.michoacan,
            kind="sms",
            name="",
            sender="not a number!",
            config={"token": "x", "bogus": "1"},
            rate_per_second=0,
            priority=-1,
        )
    errors = caught.value.message_dict
    assert set(errors) >= {"name", "sender", "rate_per_second", "priority", "config.path", "config.bogus"}


def test_number_settings_must_be_numbers_in_range(world):
    config = {"url": "http://kannel:13013", "username": "u", "password": "p"}
    bad = {"timeout": "ten", "connections": "0", "dlr_mask": "1.5"}
    with pytest.raises(ValidationError) as caught:
        create_channel(
            actor=world.admin,
            office=world.michoacan,
            kind="sms",
            name="Kannel",
            sender="31313",
            config={**config, **bad},
        )
    errors = caught.value.message_dict
    assert set(errors) == {"config.timeout", "config.connections", "config.dlr_mask"}
    assert errors["config.timeout"] == ["Enter a number from 0.1 to 600."]
    assert errors["config.connections"] == ["Enter a whole number from 1 to 100."]
    channel = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="Kannel",
        sender="31313",
        config={**config, "timeout": "2.5", "connections": "4", "dlr_mask": "0"},
    )
    with pytest.raises(ValidationError) as caught:
        update_channel(actor=world.admin, channel=channel, config={"timeout": "-1"})
    assert set(caught.value.message_dict) == {"config.timeout"}


def test_email_sender_must_be_an_address_and_names_are_unique(world, gateway):
    make_channel(world.admin, world.michoacan, "email", name="Correo")
    with pytest.raises(ValidationError) as caught:
        make_channel(world.admin, world.michoacan, "email", name="correo", sender="nadie")
    assert set(caught.value.message_dict) == {"name", "sender"}


@override_settings(RUMBO_MESSAGING_ALLOW_CONSOLE=False)
def test_console_channel_is_refused_outside_development(world, gateway):
    with pytest.raises(ValidationError) as caught:
        make_channel(world.admin, world.michoacan, "console")
    assert "kind" in caught.value.message_dict


def test_update_merges_config_blank_secret_keeps_it(world, gateway):
    channel = make_channel(world.admin, world.michoacan, "sms", config={"path": "/a", "token": "old"})
    update_channel(actor=world.admin, channel=channel, config={"path": "/b", "token": ""}, rate_per_second=7)
    channel.refresh_from_db()
    assert decrypt_config(channel.config_encrypted) == {"path": "/b", "token": "old"}
    assert channel.rate_per_second == 7
    event = AuditEvent.objects.filter(action=Action.CHANNEL_UPDATE).latest("id")
    assert event.detail["config_keys_changed"] == ["path"]
    assert event.changes["rate_per_second"] == {"old": 1000, "new": 7}
    with pytest.raises(ValidationError) as caught:
        update_channel(actor=world.admin, channel=channel, config={"path": ""})
    assert "config.path" in caught.value.message_dict


def test_pause_and_resume_are_audited_and_resume_drains(world, gateway, django_capture_on_commit_callbacks):
    channel = make_channel(world.admin, world.michoacan)
    pause_channel(actor=world.admin, channel=channel)
    channel.refresh_from_db()
    assert channel.paused_at is not None and channel.paused_by == world.admin
    with django_capture_on_commit_callbacks(execute=True):
        resume_channel(actor=world.admin, channel=channel)
    channel.refresh_from_db()
    assert channel.paused_at is None
    actions = list(AuditEvent.objects.filter(object_id=str(channel.pk)).values_list("action", flat=True))
    assert Action.CHANNEL_PAUSE in actions and Action.CHANNEL_RESUME in actions
    from rumbo.messaging.tests.test_engine_support import tasks_enqueued

    assert len(tasks_enqueued("send_due")) == 1
    with pytest.raises(PermissionDenied):
        pause_channel(actor=world.caseworker, channel=channel)


def test_template_unknown_variable_is_an_error_at_its_text(world):
    with pytest.raises(ValidationError) as caught:
        save_template(
            actor=world.admin,
            office=world.michoacan,
            key="alerta",
            name="Alerta",
            texts={"spa": ("", "Hola {{ nombre }}"), "eng": ("{{ given_names", "Hi")},
        )
    errors = caught.value.message_dict
    assert "nombre" in errors["texts.spa.body"][0]
    assert "texts.eng.subject" in errors
    assert not Template.objects.exists()


def test_template_fallback_must_be_written_and_language_valid(world):
    with pytest.raises(ValidationError) as caught:
        save_template(
            actor=world.admin,
            office=world.michoacan,
            key="alerta",
            name="Alerta",
            fallback_language="eng",
            texts={"spa": ("", "Hola"), "zz": ("", "x")},
        )
    assert set(caught.value.message_dict) == {"fallback_language", "texts.zz"}


def test_template_saved_again_replaces_its_texts(world):
    template = make_template(world.admin, world.michoacan)
    save_template(
        actor=world.admin,
        office=world.michoacan,
        key="aviso",
        name="Aviso nuevo",
        texts={"tzo": ("", "Mi lek oyot {{ given_names }}?")},
        fallback_language="tzo",
    )
    template.refresh_from_db()
    assert template.name == "Aviso nuevo"
    assert list(template.texts.values_list("language", flat=True)) == ["tzo"]
    assert AuditEvent.objects.filter(action=Action.TEMPLATE_SAVE).count() == 2
    with pytest.raises(PermissionDenied):
        make_template(world.caseworker, world.michoacan, key="otra")
