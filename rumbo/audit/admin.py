"""Audit events in the Django admin: look, never touch. No add, change or delete, every field read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from rumbo.audit.models import AuditEvent

_FIELDS: tuple[str, ...] = (
    "at",
    "actor",
    "actor_label",
    "office",
    "action",
    "object_type",
    "object_id",
    "changes",
    "detail",
    "request_id",
    "ip",
)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "office", "object_type", "object_id", "ip", "request_id"]
    list_filter = ["action", "at"]
    search_fields = ["actor_label", "object_type", "object_id", "request_id"]
    date_hierarchy = "at"
    list_select_related = ["office"]
    show_full_result_count = False  # the trail grows without bound; counting it on every page is slow
    fields = _FIELDS
    readonly_fields = _FIELDS
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
