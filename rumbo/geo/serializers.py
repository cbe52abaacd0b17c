"""API representation of administrative areas and the lookup's query parameters."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from rumbo.geo.models import AdminArea
from rumbo.lib.api import IdField, PageQuerySerializer


class AdminAreaSerializer(serializers.ModelSerializer):
    """A state/department (level 1) or municipality (level 2), with the name of its parent for pickers."""

    parent_name = serializers.CharField(source="parent.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AdminArea
        fields = [
            "id",
            "country",
            "level",
            "code",
            "iso_3166_2",
            "name",
            "parent",
            "parent_name",
            "lat",
            "lon",
        ]
        read_only_fields = fields


class AdminAreaDetailSerializer(AdminAreaSerializer):
    """An area with its population and the provenance of the data."""

    class Meta(AdminAreaSerializer.Meta):
        fields = [*AdminAreaSerializer.Meta.fields, "population", "source"]
        read_only_fields = fields


class AreaQuerySerializer(PageQuerySerializer):
    """Filters of the area lookup. ``q`` matches names accent- and case-insensitively, or a code exactly."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Part of the name (accents and case ignored), or an INEGI / ISO 3166-2 code.",
    )
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        help_text="ISO 3166-1 alpha-2 country code, e.g. MX.",
        error_messages={"invalid": _("Enter a two-letter country code.")},
    )
    level = serializers.ChoiceField(
        choices=AdminArea.Level.choices,
        required=False,
        help_text="1 = state/department, 2 = municipality.",
    )
    # Named like Field.parent: DRF's metaclass moves declared fields into _declared_fields, so it is safe.
    parent = IdField(  # type: ignore[assignment]
        required=False,
        help_text="Only the areas inside this area (e.g. a state's municipalities).",
    )
