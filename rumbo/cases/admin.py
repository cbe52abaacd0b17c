"""Points of return in the Django admin (shared reference data). Cases and everything about persons stay out
of the admin: they are personal data, read and written only through the audited pages and API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from rumbo.cases.models import ReturnPoint


@admin.register(ReturnPoint)
class ReturnPointAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "municipality", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    list_select_related = ["municipality", "municipality__parent"]
    raw_id_fields = ["municipality"]
    readonly_fields = ["source"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # returns point at them; switch "in use" off instead
