"""Template tags of the referral and procedure panels of the case page.

The case page renders ``cases/referrals/_case_panel.html`` and ``cases/procedures/_case_panel.html`` with
its own context (``request``, ``case`` and, from the case page, ``case_view``); these tags read the panel's
rows for the current user from it, so the case page needs nothing referral-specific.
"""

from __future__ import annotations

from typing import Any

from django import template

from rumbo.cases.selectors_referrals import CaseReadAccess, case_for_read
from rumbo.cases.views_procedures import procedure_panel_context
from rumbo.cases.views_referrals import referral_panel_context

register = template.Library()


def _access(context: template.Context) -> CaseReadAccess | None:
    """What the current user may read of the context's case: from ``case_access`` (this app's pages), from
    the case page's ``case_view``, or looked up."""
    access = context.get("case_access")
    if isinstance(access, CaseReadAccess):
        return access
    case = context.get("case")
    request = context.get("request")
    user = getattr(request, "user", None)
    if case is None or user is None:
        return None
    view = context.get("case_view")
    if view is not None and getattr(view, "case", None) is not None:
        rows_office = getattr(view, "rows_office_id", None)
        if rows_office is None:
            return CaseReadAccess(view.case, True, frozenset({view.case.office_id}))
        return CaseReadAccess(view.case, False, frozenset({rows_office}))
    return case_for_read(user, case.pk)


@register.simple_tag(takes_context=True)
def referral_panel_data(context: template.Context) -> dict[str, Any] | None:
    """The referral panel's data (``views_referrals.referral_panel_context``) for the context's case."""
    if context.get("referral_panel") is not None:
        return dict(context["referral_panel"])
    access = _access(context)
    if access is None:
        return None
    return referral_panel_context(context["request"].user, access)["referral_panel"]


@register.simple_tag(takes_context=True)
def procedure_panel_data(context: template.Context) -> dict[str, Any] | None:
    """The procedure panel's data (``views_procedures.procedure_panel_context``) for the context's case."""
    if context.get("procedure_panel") is not None:
        return dict(context["procedure_panel"])
    access = _access(context)
    if access is None:
        return None
    return procedure_panel_context(context["request"].user, access)["procedure_panel"]
