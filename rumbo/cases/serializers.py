"""API representation of cases and returns, and the shape of what clients send.

Serializers check the *shape* of a request; the services (:mod:`rumbo.cases.services`) stay the authority and
validate everything again before writing, reporting errors at the field.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rumbo.cases.models import (
    Case,
    CaseNeed,
    CaseStatus,
    CaseStatusChange,
    EnglishLevel,
    Need,
    Priority,
    ReturnEvent,
    ReturnHow,
    ReturnPoint,
)
from rumbo.cases.selectors import CaseView
from rumbo.lib.api import IdField

# --- Reading ---------------------------------------------------------------------------------------------


class ReturnPointSerializer(serializers.ModelSerializer):
    municipality_code = serializers.CharField(
        source="municipality.code", read_only=True, allow_null=True, default=None, help_text="INEGI CVEGEO."
    )

    class Meta:
        model = ReturnPoint
        fields = ["id", "name", "kind", "municipality", "municipality_code", "lat", "lon", "is_active"]
        read_only_fields = fields


class ReturnEventSerializer(serializers.ModelSerializer):
    """One return of a person to Mexico."""

    point_name = serializers.CharField(source="point.name", read_only=True, allow_null=True, default=None)
    us_state_code = serializers.CharField(
        source="us_state.iso_3166_2",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="ISO 3166-2 code of the US state, e.g. US-CA.",
    )
    companions: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Person ids.")

    class Meta:
        model = ReturnEvent
        fields = [
            "id",
            "person",
            "office",
            "returned_on",
            "how",
            "point",
            "point_name",
            "point_other",
            "country_from",
            "us_state",
            "us_state_code",
            "months_abroad",
            "english_level",
            "companions",
            "inm_constancia",
            "notes",
            "created_at",
        ]
        read_only_fields = fields


class CaseNeedSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaseNeed
        fields = ["need", "note", "met_at"]
        read_only_fields = fields


class CaseStatusChangeSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = CaseStatusChange
        fields = ["from_status", "to_status", "reason", "at", "by", "office"]
        read_only_fields = fields


class _PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


class CaseSummarySerializer(serializers.ModelSerializer):
    """A case in a list."""

    person = _PersonRefSerializer(read_only=True)
    assigned_to = serializers.CharField(
        source="assigned_to.username", read_only=True, allow_null=True, default=None, help_text="Username."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "office",
            "person",
            "status",
            "priority",
            "vulnerable",
            "assigned_to",
            "opened_at",
            "closed_at",
        ]
        read_only_fields = fields


class CaseSerializer(CaseSummarySerializer):
    """A whole case. For an office the case was transferred away from (``read_only``), the case as it was
    when it left that office (summary, status, worker, members, needs: ``CaseView``), and the status history
    that office recorded."""

    members = serializers.SerializerMethodField(help_text="Person ids of the household members on the case.")
    needs = serializers.SerializerMethodField()
    status_history = serializers.SerializerMethodField()
    # Named like Field.read_only: DRF's metaclass moves declared fields into _declared_fields, so it is safe.
    read_only = serializers.SerializerMethodField(  # type: ignore[assignment]
        help_text="True for an office the case was transferred away from: it may read what it recorded."
    )

    class Meta(CaseSummarySerializer.Meta):
        fields = [
            *CaseSummarySerializer.Meta.fields,
            "members",
            "needs",
            "summary",
            "status_reason",
            "return_event",
            "arrival_event",
            "status_history",
            "read_only",
            "updated_at",
        ]
        read_only_fields = fields

    def _view(self) -> CaseView | None:
        view = self.context.get("case_view")
        return view if isinstance(view, CaseView) else None

    def get_members(self, case: Case) -> list[int]:
        view = self._view()
        if view is not None:
            return sorted(p.pk for p in view.members())
        return sorted(case.members.values_list("pk", flat=True))

    @extend_schema_field(CaseNeedSerializer(many=True))
    def get_needs(self, case: Case) -> list[dict[str, Any]]:
        view = self._view()
        needs = view.needs() if view is not None else case.needs.order_by("need")
        return list(CaseNeedSerializer(needs, many=True).data)

    def get_status_history(self, case: Case) -> list[dict[str, Any]]:
        rows = CaseStatusChange.objects.filter(case=case).select_related("by").order_by("at", "pk")
        view = self.context.get("case_view")
        if view is not None:
            rows = view.rows(rows)
        return list(CaseStatusChangeSerializer(rows, many=True).data)

    def get_read_only(self, case: Case) -> bool:
        view = self.context.get("case_view")
        return bool(view is not None and view.read_only)


# --- Writing ---------------------------------------------------------------------------------------------


class CaseCreateSerializer(serializers.Serializer):
    person = IdField(help_text="The person the case is opened for; the case belongs to the person's office.")
    members = serializers.ListField(
        child=IdField(),
        required=False,
        default=list,
        help_text="Household members in the case: persons of the same office linked to the person.",
    )
    needs = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=300),
        required=False,
        default=dict,
        help_text='Need → note, e.g. {"health": "IMSS cover", "documents": ""}. Needs: '
        + ", ".join(Need.values)
        + ".",
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.NORMAL)
    vulnerable = serializers.BooleanField(required=False, default=False)
    summary = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    assigned_to = IdField(required=False, allow_null=True, default=None, help_text="User id of a caseworker.")
    return_event = IdField(
        required=False, allow_null=True, default=None, help_text="One of the person's returns."
    )
    arrival_event = IdField(
        required=False, allow_null=True, default=None, help_text="One of the person's arrivals."
    )

    def validate_needs(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(Need.values))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown needs: %(needs)s.") % {"needs": ", ".join(unknown)}, code="invalid_choice"
            )
        return value


class CaseStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300, help_text="Required to close or reopen."
    )


class ReturnCreateSerializer(serializers.Serializer):
    returned_on = serializers.DateField(help_text="Not in the future.")
    how = serializers.ChoiceField(choices=ReturnHow.choices)
    point = IdField(
        required=False, allow_null=True, default=None, help_text="A point of return (return-points/)."
    )
    point_other = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    country_from = serializers.CharField(
        required=False, default="US", max_length=2, help_text="ISO 3166-1 alpha-2."
    )
    us_state = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Area id of a US state (geo API, country US).",
    )
    months_abroad = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    english_level = serializers.ChoiceField(choices=EnglishLevel.choices, required=False, default="")
    companions = serializers.ListField(
        child=IdField(), required=False, default=list, help_text="Person ids of household members."
    )
    inm_constancia = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
