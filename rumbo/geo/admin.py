"""Administrative areas in the Django admin: browse and correct names or coordinates, never add or delete.

Areas come from shipped reference data (``rumbo load_geo``); codes, country, level and parent are the keys the
rest of Rumbo relies on, so they are read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from rumbo.geo.models import AdminArea
from rumbo.lib.text import fold


@admin.register(AdminArea)
class AdminAreaAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "level", "code", "iso_3166_2", "parent", "population"]
    list_filter = ["country", "level"]
    search_fields = ["name", "name_folded", "code", "iso_3166_2"]
    list_select_related = ["parent"]
    readonly_fields = ["country", "level", "code", "iso_3166_2", "parent", "name_folded", "source"]
    fields = [
        "country",
        "level",
        "code",
        "iso_3166_2",
        "parent",
        "name",
        "name_folded",
        "lat",
        "lon",
        "population",
        "source",
    ]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AdminArea, form: Any, change: bool) -> None:
        obj.name_folded = fold(obj.name)  # lookups search the folded name; keep it in step with the name
        super().save_model(request, obj, form, change)
