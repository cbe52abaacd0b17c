"""Template tags of the follow-up part of the cases app: the follow-up panel of the case page."""

from __future__ import annotations

from django import template
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def case_tasks_panel(context: template.Context) -> SafeString:
    """The follow-up panel of the case in the context (``case``), as the acting user sees it: rendered in
    the page, so it works without JavaScript; its forms refresh it with htmx. Nothing when the user may not
    see the case's tasks."""
    from rumbo.cases.views_tasks import panel_context

    request = context.get("request")
    case = context.get("case")
    if request is None or case is None:
        return mark_safe("")
    try:
        panel = panel_context(request, case.pk)
    except (Http404, PermissionDenied):
        return mark_safe("")
    return mark_safe(render_to_string("cases/tasks/_panel.html", panel, request=request))
