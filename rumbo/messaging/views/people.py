"""A person's messages and replies (a panel of the person page), a single message, the preferred channel."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.messaging import selectors
from rumbo.messaging.forms import PreferenceForm, SendForm, add_service_errors
from rumbo.messaging.models import Channel, ContactPreference, InboundKind, Template
from rumbo.messaging.services import queue_message, set_contact_preference
from rumbo.messaging.views._base import PAGE_SIZE, is_htmx, no_store
from rumbo.offices.permissions import Perm, has_perm, require_any
from rumbo.people.models import Person
from rumbo.people.selectors import person_get

# --- A person's messages ----------------------------------------------------------------------------------


def _person(request: HttpRequest, pk: int, perm: Perm) -> Person:
    require_any(request.user, perm)
    person = person_get(request.user, pk, perm)
    if person.merged_into_id is not None:
        raise Http404
    return person


@login_required
@require_GET
def person_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """Messages sent to a person and replies received from them (a panel of the person page; audited)."""
    person = _person(request, pk, Perm.VIEW_MESSAGES)
    sent = list(
        selectors.messages_for(office=person.office, person=person).select_related("channel", "campaign")[
            :PAGE_SIZE
        ]
    )
    replies = list(
        selectors.inbound_for(office=person.office, person=person, kind=InboundKind.REPLY)[:PAGE_SIZE]
    )
    audit_record(
        actor=request.user,
        action=Action.MESSAGES_VIEW,
        office=person.office,
        obj=person,
        detail={"messages_shown": len(sent), "replies_shown": len(replies)},
    )
    preference = ContactPreference.objects.filter(person=person).first()
    can_change = has_perm(request.user, Perm.CHANGE_PERSON, person.office_id) and not person.is_anonymised
    context = {
        "person": person,
        "sent": sent,
        "replies": replies,
        "preference": preference,
        "preference_form": (
            PreferenceForm(initial={"channel_kind": preference.channel_kind if preference else ""})
            if can_change
            else None
        ),
        "can_send": has_perm(request.user, Perm.SEND_MESSAGES, person.office_id) and not person.is_anonymised,
        "page_size": PAGE_SIZE,
    }
    template = "messaging/_person_panel.html" if is_htmx(request) else "messaging/person.html"
    return no_store(render(request, template, context))


@login_required
@require_http_methods(["GET", "POST"])
def person_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send one message to a person: a template and, optionally, a channel. Address problems (an invalid
    email, a landline for SMS) are shown at the field before anything is queued."""
    person = _person(request, pk, Perm.SEND_MESSAGES)
    office = person.office
    templates = Template.objects.filter(office=office).order_by("name", "pk")
    kinds = list(
        dict.fromkeys(
            Channel.objects.filter(office=office, is_active=True)
            .order_by("priority")
            .values_list("kind", flat=True)
        )
    )
    form = SendForm(request.POST or None, templates=templates, kinds=kinds)
    nonce = request.POST.get("nonce") or uuid.uuid4().hex
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            queue_message(
                actor=request.user,
                office=office,
                person=person,
                template=data["template"],
                context={"link": data["link"]} if data.get("link") else None,
                channel_kind=data["channel_kind"] or None,
                key=f"ui:{nonce[:40]}",
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "context" in exc.error_dict:
                exc = ValidationError(
                    {("link" if k == "context" else k): v for k, v in exc.error_dict.items()}
                )
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Message queued."))
            return redirect(reverse("people:detail", args=[person.pk]))
    return render(
        request,
        "messaging/send_form.html",
        {
            "person": person,
            "form": form,
            "nonce": nonce,
            "has_templates": templates.exists(),
            "has_channels": bool(kinds),
        },
    )


@login_required
@require_POST
def person_preference(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the channel a person asked to be reached on (tried first when messages are queued)."""
    person = _person(request, pk, Perm.CHANGE_PERSON)
    form = PreferenceForm(request.POST)
    if form.is_valid():
        try:
            set_contact_preference(
                actor=request.user, person=person, channel_kind=form.cleaned_data["channel_kind"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Preferred channel saved."))
    else:
        messages.error(request, _("Choose a valid channel type."))
    return redirect(reverse("people:detail", args=[person.pk]))
