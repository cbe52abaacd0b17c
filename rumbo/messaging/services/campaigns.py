"""Campaigns: create the campaign record (its steps are queued by ``outbox.queue_campaign``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.lib.validation import FieldErrors
from rumbo.messaging.models import Campaign, Template
from rumbo.messaging.selectors import campaign_by_key
from rumbo.messaging.services.outbox import compile_template
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require

CAMPAIGN_CREATE = Action.CAMPAIGN_CREATE


def campaign_create(
    *, actor: Any, office: Office, name: str, template: Template | None, idempotency_key: str = ""
) -> Campaign:
    """Create a campaign of ``office`` sending ``template``, before its first step is queued. Needs
    ``SEND_MESSAGES`` in the office. With ``idempotency_key`` (the token of the preview being confirmed), the
    campaign of the office already created with that key is returned instead of a second one.

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
    if len(idempotency_key) > 64:  # Campaign.idempotency_key's max_length
        errors.add("idempotency_key", _("At most 64 characters."))
    errors.raise_if_any()
    if template is None:  # for the type checker: raise_if_any raised already
        raise ValidationError({"template": [_("Choose a template.")]})
    existing = campaign_by_key(office=office, key=idempotency_key)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            # save(), not the scoped manager's create(): a service may run outside a request's office scope.
            campaign = Campaign(
                office=office,
                name=name,
                template=template,
                emergency=template.emergency,
                created_by_id=getattr(actor, "pk", None),
                idempotency_key=idempotency_key,
            )
            campaign.save()
            audit_record(
                actor=actor,
                action=CAMPAIGN_CREATE,
                office=office,
                obj=campaign,
                detail={"name": name, "template": template.pk, "emergency": template.emergency},
            )
    except IntegrityError:  # the same preview confirmed at the same moment: that campaign is this one
        existing = campaign_by_key(office=office, key=idempotency_key)
        if existing is None:
            raise
        return existing
    return campaign
