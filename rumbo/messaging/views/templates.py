"""Message templates (one text per language, errors at the field) and the live SMS length check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from rumbo.messaging.forms import SegmentsForm, TemplateForm, add_service_errors
from rumbo.messaging.models import Template
from rumbo.messaging.rendering import VARIABLES, check_text
from rumbo.messaging.segments import sms_segments
from rumbo.messaging.services import save_template
from rumbo.messaging.services.templates import template_texts
from rumbo.messaging.views._base import base_context, no_store, office_for, owned, with_office
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, offices_with_perm

# --- Templates --------------------------------------------------------------------------------------------


@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    """The office's message templates with their languages."""
    office, offices = office_for(request, Perm.MANAGE_CHANNELS)
    context = base_context(request, office, offices, "templates")
    context["templates"] = list(
        Template.objects.filter(office=office).prefetch_related("texts").order_by("name", "pk")
    )
    return render(request, "messaging/template_list.html", context)


def _template_page(
    request: HttpRequest, office: Office, offices: Sequence[Office] | None, template: Template | None
) -> HttpResponse:
    texts = template_texts(template) if template is not None else {}
    form = TemplateForm(request.POST or None, template=template, texts=texts)
    if request.method == "POST" and form.is_valid():
        added = form.language_added() if "add" in request.POST else ""
        if "add" in request.POST:
            if added:
                form = form.with_language(added)
                form.is_valid()
        else:
            try:
                saved = save_template(
                    actor=request.user,
                    office=office,
                    key=template.key if template is not None else form.cleaned_data["key"],
                    name=form.cleaned_data["name"],
                    emergency=form.cleaned_data["emergency"],
                    fallback_language=form.cleaned_data["fallback_language"],
                    texts=form.texts(),
                    create=template is None,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Template “%(name)s” saved.") % {"name": saved.name})
                return redirect(with_office("messaging:template_list", office))
    context = base_context(request, office, offices, "templates")
    context.update(
        {
            "form": form,
            "template": template,
            "variables": [(name, label) for name, label in VARIABLES.items()],
            "blocks": [
                {
                    "code": code,
                    "name": name,
                    "subject": subject,
                    "body": body,
                    "segments": _segment_context(str(body.value() or "")),
                }
                for code, name, subject, body in form.text_blocks()
            ],
        }
    )
    return render(request, "messaging/template_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    """A new template: key, name, texts per language, with the live SMS length check."""
    office, offices = office_for(request, Perm.MANAGE_CHANNELS)
    return _template_page(request, office, offices, None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a template's name, flag and texts (the key stays)."""
    template: Template = owned(request, Template.objects.select_related("office"), pk, Perm.MANAGE_CHANNELS)
    return _template_page(request, template.office, None, template)


def _segment_context(text: str) -> dict[str, Any]:
    info = sms_segments(text)
    try:
        check_text(text)
        problems: list[str] = []
    except ValidationError as exc:
        problems = list(exc.messages)
    return {"info": info, "problems": problems, "has_variables": "{{" in text}


@login_required
@require_http_methods(["GET", "POST"])
def segments(request: HttpRequest) -> HttpResponse:
    """The SMS length check of a text as it is typed (htmx partial): GSM-7 or UCS-2, characters, segments,
    the characters that force UCS-2, and unknown variables."""
    if not (
        offices_with_perm(request.user, Perm.MANAGE_CHANNELS)
        or offices_with_perm(request.user, Perm.SEND_MESSAGES)
    ):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else request.GET
    form = SegmentsForm.from_request(data, request.headers.get("HX-Trigger-Name", ""))
    text = form.cleaned_data["text"] if form.is_valid() else ""
    response = render(request, "messaging/_segments.html", _segment_context(text))
    return no_store(response)
