"""Office pages and the home page of the UI shell.

Access: every view asks ``selectors`` (which ask ``permissions``); an office the user cannot see answers
404, a visible office without the needed permission answers 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rumbo.offices import selectors, services
from rumbo.offices.forms import GrantForm, OfficeForm, apply_service_errors
from rumbo.offices.models import Membership, Role
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, require_any, roles_in


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Landing page: the user's roles and, per role, what they can do next."""
    return render(request, "offices/home.html", {"summary": selectors.home_summary(request.user)})


@login_required
def office_list(request: HttpRequest) -> HttpResponse:
    """The user's offices; for coordinators, the tree of offices below theirs."""
    require_any(request.user, Perm.VIEW_OFFICE)
    roots = selectors.office_tree(request.user)
    below = selectors.visible_office_ids(request.user) - member_office_ids(request.user)
    return render(
        request,
        "offices/list.html",
        {"roots": roots, "count": len(selectors.flatten_tree(roots)), "below": len(below)},
    )


@login_required
def office_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An office's settings, place in the tree and jurisdiction; its members for its administrators."""
    user = request.user
    office = selectors.office_get(user, pk)
    visible = selectors.visible_office_ids(user)
    can_manage = has_perm(user, Perm.MANAGE_MEMBERS, office.pk)
    members = list(selectors.office_members(user, office, include_ended=False)) if can_manage else []
    context = {
        "office": office,
        "parent_visible": office.parent_id in visible,
        "children": list(office.children.order_by("name")),
        "visible_ids": visible,
        "jurisdiction": list(
            office.jurisdiction.select_related("parent").order_by("country", "level", "name")
        ),
        "my_roles": [Role(r).label for r in sorted(roles_in(user, office.pk))],
        "can_manage": can_manage,
        "can_edit": has_perm(user, Perm.CHANGE_OFFICE, office.pk),
        "can_see_people": has_perm(user, Perm.VIEW_PERSON, office.pk),
        "members": members,
    }
    return render(request, "offices/detail.html", context)


@login_required
def office_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the office's own settings (office administrators)."""
    office = selectors.office_get_for(request.user, pk, Perm.CHANGE_OFFICE)
    if request.method == "POST":
        form = OfficeForm(request.POST, office=office)
        if form.is_valid():
            try:
                services.office_update(actor=request.user, office=office, data=form.service_data())
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("The office was saved."))
                return redirect("offices:detail", pk=office.pk)
        office.refresh_from_db()  # the failed attempt must not show half-applied values
    else:
        form = OfficeForm(initial=OfficeForm.initial_for(office), office=office)
    location = form.cleaned_data.get("location") if form.is_bound and hasattr(form, "cleaned_data") else None
    return render(
        request,
        "offices/edit.html",
        {"office": office, "form": form, "location": location or office.location},
    )


@login_required
def office_members(request: HttpRequest, pk: int) -> HttpResponse:
    """Members of the office, grant a role (with an optional end date) and revoke roles."""
    office = selectors.office_get_for(request.user, pk, Perm.MANAGE_MEMBERS)
    if request.method == "POST":
        form = GrantForm(request.POST, office=office)
        if form.is_valid():
            try:
                membership = services.membership_grant(
                    actor=request.user,
                    office=office,
                    user=form.cleaned_data["user"],
                    role=form.cleaned_data["role"],
                    expires_at=form.cleaned_data["expires_at"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(user)s is now %(role)s.")
                    % {"user": membership.user.get_username(), "role": membership.get_role_display()},
                )
                return redirect("offices:members", pk=office.pk)
    else:
        form = GrantForm(office=office)
    memberships = list(selectors.office_members(request.user, office))
    return render(
        request,
        "offices/members.html",
        {
            "office": office,
            "form": form,
            "active": [m for m in memberships if m.is_active],
            "ended": [m for m in memberships if not m.is_active],
        },
    )


@login_required
@require_POST
def membership_revoke(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    """End one role now (the row stays, as history)."""
    office = selectors.office_get_for(request.user, pk, Perm.MANAGE_MEMBERS)
    membership: Membership = selectors.office_membership_get(request.user, office, membership_pk)
    try:
        services.membership_revoke(actor=request.user, membership=membership)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("%(user)s is no longer %(role)s.")
            % {"user": membership.user.get_username(), "role": membership.get_role_display()},
        )
    return redirect("offices:members", pk=office.pk)
