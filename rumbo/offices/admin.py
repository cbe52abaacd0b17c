"""Offices and memberships in the Django admin (superusers). Saves are audited like the services' writes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.offices.models import Membership, Office

_OFFICE_FIELDS = [
    "name",
    "code",
    "kind",
    "parent",
    "country",
    "represents_country",
    "location",
    "time_zone",
    "require_two_factor",
    "is_active",
]


def _office_state(office: Office) -> dict[str, Any]:
    data = snapshot(office, _OFFICE_FIELDS)
    data["jurisdiction"] = sorted(office.jurisdiction.values_list("pk", flat=True)) if office.pk else []
    return data


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "expires_at", "created_at"]
    readonly_fields = ["user", "role", "expires_at", "created_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "parent",
        "country",
        "time_zone",
        "require_two_factor",
        "is_active",
    ]
    list_filter = ["kind", "country", "is_active", "require_two_factor"]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent", "location"]
    filter_horizontal = ["jurisdiction"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # offices own records and audit history: deactivate them instead

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "jurisdiction":
            from rumbo.geo.models import AdminArea

            kwargs["queryset"] = AdminArea.objects.select_related("parent")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Office, form: ModelForm, change: bool) -> None:
        before = _office_state(Office.objects.get(pk=obj.pk)) if change else {}
        request._rumbo_office_before = before  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        office = form.instance
        before = getattr(request, "_rumbo_office_before", {})
        changes = diff(before, _office_state(office))
        if changes:
            audit_record(
                actor=request.user,
                action=Action.OFFICE_UPDATE if change else Action.OFFICE_CREATE,
                office=office,
                obj=office,
                changes=changes,
                detail={"via": "admin"},
            )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "office", "role", "expires_at", "created_at"]
    list_filter = ["role", "office"]
    search_fields = ["user__username", "user__email", "office__name", "office__code"]
    list_select_related = ["user", "office"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["office"]
    readonly_fields = ["created_at"]

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        before = (
            snapshot(Membership.objects.get(pk=obj.pk), ["user", "office", "role", "expires_at"])
            if change
            else {}
        )
        super().save_model(request, obj, form, change)
        changes = diff(before, snapshot(obj, ["user", "office", "role", "expires_at"]))
        if changes:
            audit_record(
                actor=request.user,
                action=Action.MEMBERSHIP_GRANT,
                office=obj.office,
                obj=obj,
                changes=changes,
                detail={"user": obj.user_id, "role": obj.role, "via": "admin"},
            )

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self._audit_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("office"):
            self._audit_delete(request, membership)
        super().delete_queryset(request, queryset)

    def _audit_delete(self, request: HttpRequest, obj: Membership) -> None:
        audit_record(
            actor=request.user,
            action=Action.MEMBERSHIP_REVOKE,
            office=obj.office,
            obj=obj,
            detail={"user": obj.user_id, "role": obj.role, "via": "admin", "deleted": True},
        )
