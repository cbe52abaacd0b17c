"""API representation of offices."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rumbo.offices.models import Office, Role
from rumbo.offices.permissions import roles_in


class OfficeSerializer(serializers.ModelSerializer):
    """An office, with the roles the requesting user holds in it (empty where it is seen through the tree)."""

    my_roles = serializers.SerializerMethodField(help_text="Your active roles in this office.")

    class Meta:
        model = Office
        fields = [
            "id",
            "name",
            "code",
            "kind",
            "parent",
            "country",
            "represents_country",
            "location",
            "time_zone",
            "is_active",
            "my_roles",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Role.choices)))
    def get_my_roles(self, office: Office) -> list[str]:
        request = self.context.get("request")
        user: Any = getattr(request, "user", None)
        return sorted(roles_in(user, office.pk))


class OfficeDetailSerializer(OfficeSerializer):
    """An office with its jurisdiction (the admin areas it serves) and its child offices."""

    jurisdiction = serializers.ManyRelatedField(
        child_relation=serializers.PrimaryKeyRelatedField(read_only=True),
        read_only=True,
        help_text="Administrative areas the office serves (for a consulate: its consular district).",
    )
    children = serializers.SerializerMethodField(help_text="Child offices that you can see.")

    class Meta(OfficeSerializer.Meta):
        fields = [*OfficeSerializer.Meta.fields, "jurisdiction", "children"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_children(self, office: Office) -> list[int]:
        visible: frozenset[int] = self.context.get("visible_office_ids", frozenset())
        return sorted(child.pk for child in office.children.all() if child.pk in visible)
