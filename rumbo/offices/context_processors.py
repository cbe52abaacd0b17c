"""Navigation entries by module and role, for the base template."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from rumbo.offices.permissions import Perm, active_memberships, offices_with_perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_memberships": []}
    items: list[dict[str, Any]] = []
    if offices_with_perm(user, Perm.VIEW_PERSON):
        items.append({"label": _("People"), "url": reverse("people:search"), "key": "people"})
    if offices_with_perm(user, Perm.VIEW_CASE):
        items.append({"label": _("Cases"), "url": reverse("cases:list"), "key": "cases"})
    if offices_with_perm(user, Perm.ADJUDICATE_DUPLICATES):
        items.append({"label": _("Duplicates"), "url": reverse("matching:queue"), "key": "matching"})
    if offices_with_perm(user, Perm.VIEW_MESSAGES):
        items.append({"label": _("Messaging"), "url": reverse("messaging:operations"), "key": "messaging"})
    if offices_with_perm(user, Perm.IMPORT_PERSONS):
        items.append({"label": _("Imports"), "url": reverse("imports:list"), "key": "imports"})
    if offices_with_perm(user, Perm.VIEW_OFFICE):
        items.append({"label": _("Offices"), "url": reverse("offices:list"), "key": "offices"})
    if offices_with_perm(user, Perm.VIEW_AUDIT):
        items.append({"label": _("Audit"), "url": reverse("audit:list"), "key": "audit"})
    return {"nav_items": items, "nav_memberships": active_memberships(user)}
