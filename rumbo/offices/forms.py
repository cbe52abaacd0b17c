"""Forms of the office pages: edit an office, grant a role."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.geo.models import AdminArea
from rumbo.offices.models import Office, Role

_CODE_SPLIT = re.compile(r"[\s,;]+")


_TZ_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


def time_zone_choices(current: str = "") -> list[tuple[str, str]]:
    """Canonical region/city zones (no legacy aliases such as US/Pacific), plus ``current`` if set."""
    names = {n for n in zoneinfo.available_timezones() if n.startswith(_TZ_REGIONS)} | {"UTC"}
    if current:
        names.add(current)
    return [(name, name.replace("_", " ")) for name in sorted(names)]


def apply_service_errors(
    form: forms.Form, exc: ValidationError, rename: Mapping[str, str] | None = None
) -> None:
    """Put a service's ValidationError at the form fields it names (``rename`` maps service keys to form
    fields); errors of keys the form lacks go to the top of the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for key, errors in exc.error_dict.items():
        field = (rename or {}).get(key, key)
        form.add_error(field if field in form.fields else None, errors)


class OfficeForm(forms.Form):
    """The settings an office administrator may change (see ``services.OFFICE_ADMIN_FIELDS``)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        help_text=_("ISO 3166 code of the country where the office is, e.g. MX."),
    )
    represents_country = forms.CharField(
        label=_("Country represented"),
        max_length=2,
        required=False,
        help_text=_("For a consulate or ministry: the country whose nationals it protects, e.g. HN."),
    )
    location = forms.ModelChoiceField(
        label=_("Location"),
        queryset=AdminArea.objects.all(),
        required=False,
        widget=forms.HiddenInput,
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)  # see __init__
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor authentication for every member"),
        required=False,
        help_text=_("Administrators always need it; this extends it to every member."),
    )
    jurisdiction_states = forms.ModelMultipleChoiceField(
        label=_("States / departments served"),
        queryset=AdminArea.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    jurisdiction_municipalities = forms.CharField(
        label=_("Municipalities served"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Official codes (INEGI CVEGEO in Mexico, e.g. 07089), separated by spaces or commas."),
    )

    def __init__(self, *args: Any, office: Office, **kwargs: Any) -> None:
        self.office = office
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        time_zone = self.fields["time_zone"]
        assert isinstance(time_zone, forms.ChoiceField)
        time_zone.choices = time_zone_choices(office.time_zone)
        country = (self.data.get("country") if self.is_bound else None) or office.country
        self.area_country = str(country).upper()[:2]
        states = self.fields["jurisdiction_states"]
        assert isinstance(states, forms.ModelMultipleChoiceField)
        states.queryset = AdminArea.objects.filter(country=self.area_country, level=AdminArea.Level.STATE)

    @classmethod
    def initial_for(cls, office: Office) -> dict[str, Any]:
        areas = list(office.jurisdiction.select_related("parent"))
        return {
            "name": office.name,
            "country": office.country,
            "represents_country": office.represents_country,
            "location": office.location_id,
            "time_zone": office.time_zone,
            "require_two_factor": office.require_two_factor,
            "jurisdiction_states": [a.pk for a in areas if a.level == AdminArea.Level.STATE],
            "jurisdiction_municipalities": " ".join(
                sorted(a.code for a in areas if a.level == AdminArea.Level.MUNICIPALITY)
            ),
        }

    def clean_jurisdiction_municipalities(self) -> list[AdminArea]:
        raw = self.cleaned_data.get("jurisdiction_municipalities") or ""
        codes = [c for c in _CODE_SPLIT.split(raw.strip()) if c]
        found = {
            a.code: a
            for a in AdminArea.objects.filter(
                country=self.area_country, level=AdminArea.Level.MUNICIPALITY, code__in=codes
            )
        }
        missing = [c for c in codes if c not in found]
        if missing:
            raise ValidationError(
                _("Unknown municipality codes for %(country)s: %(codes)s."),
                code="unknown_codes",
                params={"country": self.area_country, "codes": ", ".join(missing)},
            )
        return list(dict.fromkeys(found[c] for c in codes))

    def service_data(self) -> dict[str, Any]:
        """The cleaned values in the shape ``office_update`` takes."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "country": data["country"],
            "represents_country": data["represents_country"],
            "location": data["location"],
            "time_zone": data["time_zone"],
            "require_two_factor": data["require_two_factor"],
            "jurisdiction": [*data["jurisdiction_states"], *data["jurisdiction_municipalities"]],
        }


# The furthest "until" day of a role, in years from today.
MAX_GRANT_YEARS = 100


def _years_after(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class GrantForm(forms.Form):
    """Grant a role in an office to an existing user, optionally until a date."""

    user = forms.CharField(
        label=_("User"),
        max_length=254,
        help_text=_("Username or email address of an existing account."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    expires_at = forms.DateField(
        label=_("Until (last day, optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a role without end. The role ends at midnight after this day."),
    )

    def __init__(self, *args: Any, office: Office, **kwargs: Any) -> None:
        self.office = office
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_user(self) -> Any:
        value = self.cleaned_data["user"].strip()
        users = list(get_user_model().objects.filter(Q(username__iexact=value) | Q(email__iexact=value))[:2])
        if not users:
            raise ValidationError(_("No account has this username or email address."), code="unknown_user")
        if len(users) > 1:
            raise ValidationError(
                _("Several accounts use this email address; enter the username instead."), code="ambiguous"
            )
        return users[0]

    def clean_expires_at(self) -> dt.datetime | None:
        day: dt.date | None = self.cleaned_data.get("expires_at")
        if day is None:
            return None
        tz = zoneinfo.ZoneInfo(self.office.time_zone)
        today = timezone.now().astimezone(tz).date()
        if day < today:
            raise ValidationError(_("The last day cannot be in the past."), code="past")
        # A bound well inside the calendar: 9999-12-31 plus the day added below would overflow.
        if day > _years_after(today, MAX_GRANT_YEARS):
            raise ValidationError(
                _(
                    "The last day cannot be more than %(years)d years ahead. "
                    "Leave it empty for a role without end."
                ),
                code="too_far",
                params={"years": MAX_GRANT_YEARS},
            )
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
