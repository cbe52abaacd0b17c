"""Forms of returns, arrivals and points of return."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from rumbo.cases.forms.cases import DATE_WIDGET
from rumbo.cases.models import ComarStatus, EnglishLevel, MigrationStatus, ReturnHow, ReturnPoint
from rumbo.cases.selectors import household_of, return_points, us_states
from rumbo.geo.models import AdminArea
from rumbo.people.forms import municipality_options, mx_municipalities, mx_states
from rumbo.people.models import Person
from rumbo.people.validators import country_choices


def _blank_countries() -> list[tuple[str, str]]:
    return [("", "—"), *country_choices()]


class PointChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.get_kind_display()})"


class ReturnForm(forms.Form):
    """One return of the person: when, how, where, from where, and who came along."""

    returned_on = forms.DateField(label=_("Date of return"), widget=DATE_WIDGET)
    how = forms.ChoiceField(label=_("How"), choices=ReturnHow.choices, initial=ReturnHow.DEPORTATION)
    point = PointChoiceField(
        label=_("Point of return"), queryset=ReturnPoint.objects.none(), required=False, empty_label="—"
    )
    point_other = forms.CharField(
        label=_("Other point of return"),
        required=False,
        max_length=200,
        help_text=_("If it is not in the list: airport, border crossing…"),
    )
    country_from = forms.ChoiceField(
        label=_("Returned from (country)"), choices=_blank_countries, initial="US", required=False
    )
    us_state = forms.ModelChoiceField(
        label=_("US state returned from"), queryset=AdminArea.objects.none(), required=False, empty_label="—"
    )
    months_abroad = forms.IntegerField(label=_("Time abroad (months)"), required=False, min_value=0)
    english_level = forms.ChoiceField(label=_("English level"), choices=EnglishLevel.choices, required=False)
    companions = forms.MultipleChoiceField(
        label=_("Accompanying family members"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Relatives linked to the person's household."),
    )
    inm_constancia = forms.CharField(
        label=_("INM repatriation certificate number"), required=False, max_length=60
    )
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, person: Person, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        point: Any = self.fields["point"]
        point.queryset = return_points()
        state: Any = self.fields["us_state"]
        state.queryset = us_states()
        companions: Any = self.fields["companions"]
        companions.choices = [(str(p.pk), f"{p.full_name} ({label})") for p, label in household_of(person)]
        if not companions.choices:
            companions.help_text = _("No relatives linked yet: link them on the person's page.")

    def companion_persons(self) -> list[Person]:
        ids = [int(pk) for pk in self.cleaned_data.get("companions", [])]
        found = Person._base_manager.in_bulk(ids)
        return [found[i] for i in ids if i in found]


class ArrivalForm(forms.Form):
    """An immigrant's arrival: every field optional."""

    country_of_origin = forms.ChoiceField(
        label=_("Country of origin"), choices=_blank_countries, required=False
    )
    entered_on = forms.DateField(label=_("Date of entry"), required=False, widget=DATE_WIDGET)
    migration_status = forms.ChoiceField(
        label=_("Migration status"), choices=MigrationStatus.choices, required=False
    )
    comar_status = forms.ChoiceField(
        label=_("Asylum application (COMAR)"), choices=ComarStatus.choices, required=False
    )
    comar_file = forms.CharField(label=_("COMAR file number"), required=False, max_length=60)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ReturnPointForm(forms.Form):
    """A point of return the reference data lacks: an airport or a border crossing. The state select fills
    the municipality select (htmx, as on the person form); without JavaScript, after the next submit."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[
            (ReturnPoint.Kind.AIRPORT, ReturnPoint.Kind.AIRPORT.label),
            (ReturnPoint.Kind.BORDER_CROSSING, ReturnPoint.Kind.BORDER_CROSSING.label),
            (ReturnPoint.Kind.OTHER, ReturnPoint.Kind.OTHER.label),
        ],
    )
    state = forms.ModelChoiceField(label=_("State"), queryset=mx_states(), required=False, empty_label="—")
    municipality = forms.ModelChoiceField(
        label=_("Municipality"), queryset=mx_municipalities(), required=False, empty_label="—"
    )
    lat = forms.FloatField(label=_("Latitude"), required=False, help_text=_("Decimal degrees, e.g. 32.5325."))
    lon = forms.FloatField(
        label=_("Longitude"), required=False, help_text=_("Decimal degrees, e.g. -117.0189.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].widget.attrs.update(
            {
                "hx-get": reverse("people:municipalities"),
                "hx-trigger": "change",
                "hx-target": "next select.municipality",
                "hx-swap": "innerHTML",
            }
        )
        muni = self.fields["municipality"]
        muni.widget.attrs["class"] = "municipality"
        raw = self.data.get(self.add_prefix("state")) if self.is_bound else None
        state = mx_states().filter(pk=raw).first() if raw and str(raw).isdigit() else None
        muni.widget.choices = municipality_options(state)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        muni, state = data.get("municipality"), data.get("state")
        if muni is not None and state is not None and muni.parent_id != state.pk:
            self.add_error("municipality", _("This municipality is not in the state chosen."))
        return data
