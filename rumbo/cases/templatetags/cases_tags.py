"""Template tags of the cases app: optional panels of the case page, and the person page's casework panel."""

from __future__ import annotations

from typing import Any

from django import template
from django.template import TemplateDoesNotExist
from django.utils.safestring import SafeString, mark_safe

from rumbo.cases.selectors import PersonCasework, person_casework

register = template.Library()


@register.simple_tag(takes_context=True)
def case_panel(context: template.Context, name: str) -> SafeString:
    """Render the template ``name`` with the current context, or nothing when it does not exist (yet).

    The case page leaves slots for the panels other parts of the app provide (referrals, procedures,
    follow-up tasks); like ``{% include %}``, but a missing template is skipped instead of an error. Errors
    inside a panel that exists are not hidden."""
    engine = context.template.engine if context.template is not None else template.Engine.get_default()
    try:
        panel = engine.get_template(name)
    except TemplateDoesNotExist:
        return mark_safe("")
    with context.push():
        return mark_safe(panel.render(context))


@register.simple_tag(takes_context=True)
def person_casework_for(context: template.Context, person: Any) -> PersonCasework | None:
    """The person's returns, arrivals and cases for the person page (None: the user may not view cases)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or person is None:
        return None
    return person_casework(user, person)
