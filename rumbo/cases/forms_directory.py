"""Forms of the directory pages: services, institutions, offerings and procedure types. Forms only shape
input; the services validate it and their errors are put back at the field that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rumbo.cases.models import Institution, Need, Offering, ProcedureKind, Service, ServiceCategory
from rumbo.cases.services.directory import InstitutionData, OfferingData, ServiceData
from rumbo.cases.services.procedures import StepTemplate, steps_from_text, steps_to_text
from rumbo.geo.models import AdminArea
from rumbo.offices.models import Office


class _OfficeForm(forms.Form):
    """A form with an office choice when the user manages the directory of several offices (create)."""

    office = forms.ModelChoiceField(label=_("Office"), queryset=Office.objects.none(), empty_label=None)

    def __init__(self, *args: Any, offices: Sequence[int] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        field: Any = self.fields["office"]
        if offices is None:  # editing: the office does not change
            del self.fields["office"]
            return
        field.queryset = Office.objects.filter(pk__in=list(offices)).order_by("name")
        if len(offices) == 1:
            field.initial = offices[0]
            field.widget = forms.HiddenInput()


class ServiceForm(_OfficeForm):
    code = forms.SlugField(
        label=_("Code"),
        max_length=60,
        help_text=_("Short, unique in the office, letters, digits and hyphens: e.g. curp, imss-afiliacion."),
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=ServiceCategory.choices)
    need = forms.ChoiceField(
        label=_("Need it answers"),
        choices=[("", _("None in particular")), *Need.choices],
        required=False,
        help_text=_("Services that answer one of a case's needs are offered first when referring."),
    )
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    is_active = forms.BooleanField(
        label=_("Offered"), required=False, initial=True, help_text=_("Switch off instead of deleting.")
    )

    @staticmethod
    def initial_for(service: Service) -> dict[str, Any]:
        return {
            "code": service.code,
            "name": service.name,
            "category": service.category,
            "need": service.need,
            "description": service.description,
            "is_active": service.is_active,
        }

    def to_data(self) -> ServiceData:
        c = self.cleaned_data
        return ServiceData(
            code=c["code"],
            name=c["name"],
            category=c["category"],
            need=c["need"],
            description=c["description"],
            is_active=c["is_active"],
        )


class InstitutionForm(_OfficeForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    sector = forms.ChoiceField(label=_("Sector"), choices=Institution.Sector.choices)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    admin_area = forms.ModelChoiceField(
        label=_("Municipality"), queryset=AdminArea.objects.all(), required=False, widget=forms.HiddenInput
    )
    lat = forms.FloatField(label=_("Latitude"), required=False, help_text=_("Decimal degrees, e.g. 19.7027."))
    lon = forms.FloatField(
        label=_("Longitude"), required=False, help_text=_("Decimal degrees, e.g. -101.1923.")
    )
    contact_name = forms.CharField(label=_("Contact person"), max_length=150, required=False)
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        help_text=_("With the area code; stored in international form, e.g. +52 443 123 4567."),
    )
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    website = forms.CharField(label=_("Website"), max_length=200, required=False)
    hours = forms.CharField(
        label=_("Opening hours"), max_length=200, required=False, help_text=_("E.g. Mon–Fri 9:00–15:00.")
    )
    is_active = forms.BooleanField(
        label=_("Active"), required=False, initial=True, help_text=_("Switch off instead of deleting.")
    )

    @staticmethod
    def initial_for(institution: Institution) -> dict[str, Any]:
        return {
            "name": institution.name,
            "sector": institution.sector,
            "address": institution.address,
            "admin_area": institution.admin_area_id,
            "lat": institution.lat,
            "lon": institution.lon,
            "contact_name": institution.contact_name,
            "phone": institution.phone,
            "email": institution.email,
            "website": institution.website,
            "hours": institution.hours,
            "is_active": institution.is_active,
        }

    def to_data(self) -> InstitutionData:
        c = self.cleaned_data
        area = c.get("admin_area")
        return InstitutionData(
            name=c["name"],
            sector=c["sector"],
            address=c["address"],
            admin_area_id=area.pk if area is not None else None,
            lat=c["lat"],
            lon=c["lon"],
            contact_name=c["contact_name"],
            phone=c["phone"],
            email=c["email"],
            website=c["website"],
            hours=c["hours"],
            is_active=c["is_active"],
        )

    def area(self) -> AdminArea | None:
        """The chosen municipality, to show in the picker again (also when the form has errors)."""
        raw = self["admin_area"].value()
        if raw in (None, ""):
            return None
        return (
            AdminArea.objects.filter(pk=raw).select_related("parent").first() if str(raw).isdigit() else None
        )


class OfferingForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=Service._base_manager.none())
    requirements = forms.CharField(
        label=_("Requirements"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Documents to bring, appointments… They are printed on the referral letter."),
    )
    eligibility = forms.CharField(
        label=_("Who is eligible"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    min_age = forms.IntegerField(label=_("Minimum age"), required=False, min_value=0)
    max_age = forms.IntegerField(label=_("Maximum age"), required=False, min_value=0)
    cost = forms.CharField(label=_("Cost"), max_length=100, required=False, help_text=_("Free, or the fee."))
    valid_from = forms.DateField(label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(
        label=_("Valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Leave empty while it lasts. When the rules change, end this offering and add a new one: "
            "referrals keep the rules they were made under."
        ),
    )

    def __init__(self, *args: Any, office_id: int, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        field: Any = self.fields["service"]
        field.queryset = Service._base_manager.filter(office_id=office_id).order_by("name")

    @staticmethod
    def initial_for(offering: Offering) -> dict[str, Any]:
        return {
            "service": offering.service_id,
            "requirements": offering.requirements,
            "eligibility": offering.eligibility,
            "min_age": offering.min_age,
            "max_age": offering.max_age,
            "cost": offering.cost,
            "valid_from": offering.valid_from,
            "valid_until": offering.valid_until,
        }

    def to_data(self) -> OfferingData:
        c = self.cleaned_data
        return OfferingData(
            service_id=c["service"].pk,
            requirements=c["requirements"],
            eligibility=c["eligibility"],
            min_age=c["min_age"],
            max_age=c["max_age"],
            cost=c["cost"],
            valid_from=c["valid_from"],
            valid_until=c["valid_until"],
        )


class ProcedureKindForm(_OfficeForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    steps = forms.CharField(
        label=_("Steps"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "One step per line, in order: name | documents | days. Documents and days are optional; the "
            "days are how long the step usually takes, and give each step its due date."
        ),
    )
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)

    @staticmethod
    def initial_for(kind: ProcedureKind) -> dict[str, Any]:
        return {
            "name": kind.name,
            "description": kind.description,
            "steps": steps_to_text(kind.steps),
            "is_active": kind.is_active,
        }

    def clean_steps(self) -> list[StepTemplate]:
        try:
            return steps_from_text(self.cleaned_data["steps"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
