"""The campaign service: who may create a campaign, each bad input refused at its field with nothing saved,
and the audit entry."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rumbo.audit.models import AuditEvent
from rumbo.messaging.models import Campaign, Template, TemplateText
from rumbo.messaging.services import campaign_create
from rumbo.messaging.services.campaigns import CAMPAIGN_CREATE
from rumbo.messaging.tests.test_engine_support import make_template


@pytest.fixture
def template(world):
    return make_template(world.admin, world.michoacan, key="sismo", emergency=True)


def _nothing_saved() -> None:
    assert not Campaign.objects.exists()
    assert not AuditEvent.objects.filter(action=CAMPAIGN_CREATE).exists()


def test_caseworker_creates_a_campaign_audited(world, template):
    campaign = campaign_create(
        actor=world.caseworker, office=world.michoacan, name="  Sismo  ", template=template
    )
    campaign.refresh_from_db()
    assert (campaign.office, campaign.name, campaign.template) == (world.michoacan, "Sismo", template)
    assert campaign.emergency is True  # from the template
    assert campaign.created_by == world.caseworker
    event = AuditEvent.objects.get(action=CAMPAIGN_CREATE)
    assert (event.object_type, event.object_id, event.office) == (
        "messaging.campaign",
        str(campaign.pk),
        world.michoacan,
    )
    assert event.actor == world.caseworker
    assert event.detail == {"name": "Sismo", "template": template.pk, "emergency": True}


@pytest.mark.parametrize("persona", ["auditor", "trainer", "coordinator", "no_role", "jalisco_caseworker"])
def test_without_send_messages_in_the_office_nothing_is_created(world, template, persona):
    with pytest.raises(PermissionDenied):
        campaign_create(
            actor=getattr(world, persona), office=world.michoacan, name="Sismo", template=template
        )
    _nothing_saved()


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Enter a name."), ("   ", "Enter a name."), ("x" * 201, "At most 200 characters.")],
)
def test_a_bad_name_is_refused_at_name(world, template, name, message):
    with pytest.raises(ValidationError) as caught:
        campaign_create(actor=world.caseworker, office=world.michoacan, name=name, template=template)
    assert caught.value.message_dict == {"name": [message]}
    _nothing_saved()


def test_no_template_is_refused_at_template(world):
    with pytest.raises(ValidationError) as caught:
        campaign_create(actor=world.caseworker, office=world.michoacan, name="Sismo", template=None)
    assert caught.value.message_dict == {"template": ["Choose a template."]}
    _nothing_saved()


def test_another_offices_template_is_refused_at_template(world):
    # Made directly: no persona of the test world manages Jalisco's templates.
    template = Template.objects.create(office=world.jalisco, key="ajeno", name="Ajeno")
    TemplateText.objects.create(template=template, language="spa", subject="", body="Hola")
    with pytest.raises(ValidationError) as caught:
        campaign_create(actor=world.caseworker, office=world.michoacan, name="Sismo", template=template)
    assert caught.value.message_dict == {"template": ["Choose a template of this office."]}
    _nothing_saved()


def test_a_template_that_no_longer_compiles_is_refused_at_template(world):
    broken = Template.objects.create(office=world.michoacan, key="roto", name="Roto")
    TemplateText.objects.create(
        template=broken, language="spa", subject="", body="Hola {{ no_such_variable }}"
    )
    empty = Template.objects.create(office=world.michoacan, key="vacio", name="Vacío")
    for template in (broken, empty):
        with pytest.raises(ValidationError) as caught:
            campaign_create(actor=world.caseworker, office=world.michoacan, name="Sismo", template=template)
        assert list(caught.value.message_dict) == ["template"]
    _nothing_saved()


def test_every_bad_field_is_reported_at_once(world):
    with pytest.raises(ValidationError) as caught:
        campaign_create(actor=world.caseworker, office=world.michoacan, name="", template=None)
    assert set(caught.value.message_dict) == {"name", "template"}
    _nothing_saved()
