"""Campaigns: create the campaign record (its steps are queued by ``outbox.queue_campaign``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.lib.validation import FieldErrors
from rumbo.messaging.models import Campaign, Template
from rumbo.messaging.services.outbox import compile_template
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require

CAMPAIGN_CREATE = Action.CAMPAIGN_CREATE


def campaign_create(*, actor: Any, office: Office, name: str, template: Template | None) -> Campaign:
    """Create a campaign of ``office`` sending ``template``, before its first step is queued. Needs
    ``SEND_MESSAGES`` in the office.

    Validates everything before writing, each error at its field: ``name`` (required, at most 200
    characters), ``template`` (required, a template of the same office, every text of it compiles, so a
    refused template leaves no empty campaign). The campaign is an emergency one when its template is.
    Audits ``CAMPAIGN_CREATE`` with the template and the emergency flag.
    """
    require(actor, Perm.SEND_MESSAGES, office.pk)
    errors = FieldErrors()
    name = (name or "").strip()
    if not name:
        errors.add("name", _("Enter a name."))
    elif len(name) > 200:  # Campaign.name's max_length
        errors.add("name", _("At most 200 characters."))
    if template is None:
        errors.add("template", _("Choose a template."))
    elif template.office_id != office.pk:
        errors.add("template", _("Choose a template of this office."))
    else:
        errors.check("template", lambda: compile_template(template))
    errors.raise_if_any()
    if template is None:  # for the type checker: raise_if_any raised already
        raise ValidationError({"template": [_("Choose a template.")]})
    with transaction.atomic():
        # save(), not the scoped manager's create(): a service may run outside a request's office scope.
        campaign = Campaign(
            office=office,
            name=name,
            template=template,
            emergency=template.emergency,
            created_by_id=getattr(actor, "pk", None),
        )
        campaign.save()
        audit_record(
            actor=actor,
            action=CAMPAIGN_CREATE,
            office=office,
            obj=campaign,
            detail={"name": name, "template": template.pk, "emergency": template.emergency},
        )
    return campaign
