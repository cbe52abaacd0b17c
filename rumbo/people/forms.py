"""Forms of the people UI. They check each field with the shared validators (errors at the field), turn the
input into :class:`~rumbo.people.data.PersonData` and hand it to the services, which validate again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.formsets import BaseFormSet
from django.utils.translation import gettext_lazy as _

from rumbo.geo.models import AdminArea
from rumbo.offices.models import Office
from rumbo.people.consent import consent_text_version
from rumbo.people.data import (
    AddressData,
    AliasData,
    DocumentData,
    PersonData,
    PhoneData,
    VulnerabilityData,
)
from rumbo.people.models import (
    ConsentPurpose,
    ConsentRecord,
    DatePrecision,
    DocumentKind,
    Phone,
    Relation,
    Sex,
    Vulnerability,
)
from rumbo.people.validators import (
    birth_date_from_age,
    country_choices,
    language_choices,
    language_name,
    normalize_phone,
    validate_birth_date,
    validate_document_number,
)

BLANK = ("", "—")
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _blank_country_choices() -> list[tuple[str, str]]:
    return [("", "—"), *country_choices()]


def _blank_language_choices() -> list[tuple[str, str]]:
    return [("", "—"), *language_choices()]


def mx_states() -> QuerySet[AdminArea]:
    return AdminArea.objects.filter(country="MX", level=AdminArea.Level.STATE).order_by("name")


def mx_municipalities() -> QuerySet[AdminArea]:
    return AdminArea.objects.filter(country="MX", level=AdminArea.Level.MUNICIPALITY)


def municipality_options(state: AdminArea | None) -> list[tuple[Any, Any]]:
    """Options of a municipality select: the municipalities of ``state`` (none until a state is chosen)."""
    if state is None:
        return [("", _("Choose the state first"))]
    munis = mx_municipalities().filter(parent=state).order_by("name_folded").values_list("pk", "name")
    return [("", _("— municipality (optional) —")), *munis]


def _municipality_attrs() -> dict[str, str]:
    return {"class": "municipality"}


def _state_attrs() -> dict[str, str]:
    # htmx refreshes the municipality select next to this one (people:municipalities); without JavaScript
    # the state alone is kept, and the municipalities appear after the next submit.
    from django.urls import reverse

    return {
        "hx-get": reverse("people:municipalities"),
        "hx-trigger": "change",
        "hx-target": "next select.municipality",
        "hx-swap": "innerHTML",
    }


class _PlaceForm(forms.Form):
    """A form with a state select that fills the municipality select after it, and checks that the two
    belong together."""

    state_field = "state"
    municipality_field = "municipality"
    country_field = "country"

    # A place outside Mexico recorded elsewhere (API, imports): kept as is unless a Mexican state is
    # chosen or the country changes, so editing other fields never loses it.
    kept_place = forms.ModelChoiceField(
        queryset=AdminArea.objects.exclude(country="MX"), required=False, widget=forms.HiddenInput
    )

    def _setup_places(self, bound: bool) -> None:
        state_field = self.fields[self.state_field]
        state_field.widget.attrs.update(_state_attrs())
        muni_field = self.fields[self.municipality_field]
        muni_field.widget.attrs.update(_municipality_attrs())
        if bound:
            raw = self.data.get(self.add_prefix(self.state_field))
        else:
            raw = self.initial.get(self.state_field)
        raw = getattr(raw, "pk", raw)
        state = mx_states().filter(pk=raw).first() if raw and str(raw).isdigit() else None
        muni_field.widget.choices = municipality_options(state)

    def _clean_place(self) -> AdminArea | None:
        state = self.cleaned_data.get(self.state_field)
        muni = self.cleaned_data.get(self.municipality_field)
        if muni is not None and state is not None and muni.parent_id != state.pk:
            self.add_error(self.municipality_field, _("This municipality is not in the state chosen."))
            return None
        place: AdminArea | None = muni or state
        kept = self.cleaned_data.get("kept_place")
        if place is None and kept is not None and self.cleaned_data.get(self.country_field) == kept.country:
            place = kept
        return place


class PersonForm(_PlaceForm):
    """The person's own fields (names, birth, contact, languages, vulnerabilities)."""

    state_field = "birth_state"
    municipality_field = "birth_municipality"
    country_field = "birth_country"

    office = forms.ModelChoiceField(
        label=_("Office"),
        queryset=Office.objects.none(),
        help_text=_("The office that registers the person."),
    )
    given_names = forms.CharField(label=_("Given names"), max_length=100)
    first_surname = forms.CharField(label=_("First surname"), max_length=100)
    second_surname = forms.CharField(label=_("Second surname"), max_length=100, required=False)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, initial=Sex.UNKNOWN)
    birth_date = forms.DateField(label=_("Date of birth"), required=False, widget=DATE_WIDGET)
    birth_date_precision = forms.ChoiceField(
        label=_("How precise is the date?"), choices=DatePrecision.choices, initial=DatePrecision.EXACT
    )
    age = forms.IntegerField(
        label=_("Approximate age"),
        required=False,
        min_value=0,
        max_value=120,
        help_text=_("Only if the date of birth is not known: the date is then estimated from the age."),
    )
    birth_country = forms.ChoiceField(
        label=_("Country of birth"), required=False, choices=_blank_country_choices
    )
    birth_state = forms.ModelChoiceField(
        label=_("State of birth (Mexico)"), required=False, queryset=mx_states(), empty_label="—"
    )
    birth_municipality = forms.ModelChoiceField(
        label=_("Municipality of birth"), required=False, queryset=mx_municipalities(), empty_label="—"
    )
    email = forms.EmailField(label=_("Email"), required=False)
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), required=False, choices=_blank_language_choices
    )
    nationalities = forms.MultipleChoiceField(
        label=_("Nationalities"),
        required=False,
        choices=country_choices,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("Hold Ctrl (or Cmd) to choose more than one."),
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages spoken"),
        required=False,
        choices=language_choices,
        widget=forms.CheckboxSelectMultiple,
    )
    vulnerabilities = forms.MultipleChoiceField(
        label=_("Vulnerabilities"),
        required=False,
        choices=Vulnerability.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    confirm = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, offices: Sequence[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if offices is None:
            del self.fields["office"]
        else:
            field = self.fields["office"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = Office.objects.filter(pk__in=offices).order_by("name")
            if len(offices) == 1:
                # One office: nothing to choose; the field is hidden and may be left out.
                field.initial = offices[0]
                field.required = False
                field.widget = forms.HiddenInput()
            self._only_office = offices[0] if len(offices) == 1 else None
        self._setup_places(self.is_bound)
        kept = self.initial.get("kept_place")
        if kept:
            area = AdminArea.objects.filter(pk=kept).first()
            self.fields["birth_state"].help_text = _(
                "On record: %(place)s. Choose a state only to replace it."
            ) % {"place": area}
        # Keep languages recorded elsewhere (API, imports) selectable when editing.
        common = dict(language_choices())
        recorded = [*self.initial.get("languages", []), self.initial.get("preferred_language") or ""]
        extra = [(c, language_name(c)) for c in dict.fromkeys(recorded) if c and c not in common]
        if extra:
            lang_field = self.fields["languages"]
            preferred = self.fields["preferred_language"]
            assert isinstance(lang_field, forms.ChoiceField) and isinstance(preferred, forms.ChoiceField)
            lang_field.choices = [*language_choices(), *extra]
            preferred.choices = [*_blank_language_choices(), *extra]

    def clean_office(self) -> Office | None:
        office: Office | None = self.cleaned_data.get("office")
        only: int | None = getattr(self, "_only_office", None)
        if office is None and only is not None:
            office = Office.objects.get(pk=only)
        return office

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        birth_date, age = cleaned.get("birth_date"), cleaned.get("age")
        precision = cleaned.get("birth_date_precision") or DatePrecision.EXACT
        if birth_date is None and age is not None:
            cleaned["birth_date"] = birth_date_from_age(age)
            cleaned["birth_date_precision"] = DatePrecision.ESTIMATED
        elif birth_date is not None:
            try:
                cleaned["birth_date"] = validate_birth_date(birth_date, precision)
            except ValidationError as exc:
                self.add_error("birth_date", exc)
        cleaned["birth_place"] = self._clean_place()
        country = cleaned.get("birth_country")
        place = cleaned["birth_place"]
        if place is not None and place.country == "MX" and country and country != "MX":
            self.add_error("birth_country", _("The state of birth is in Mexico: choose Mexico or no state."))
        return cleaned


class DocumentForm(forms.Form):
    """One identity document row; an untouched row is ignored."""

    kind = forms.ChoiceField(label=_("Document type"), required=False, choices=[BLANK, *DocumentKind.choices])
    number = forms.CharField(label=_("Number"), required=False, max_length=40)
    issuing_country = forms.ChoiceField(
        label=_("Issuing country"), required=False, choices=_blank_country_choices
    )
    issued_on = forms.DateField(label=_("Issued on"), required=False, widget=DATE_WIDGET)
    expires_on = forms.DateField(label=_("Expires on"), required=False, widget=DATE_WIDGET)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, number = cleaned.get("kind"), (cleaned.get("number") or "").strip()
        if not kind and not number:
            return cleaned
        if not kind:
            self.add_error("kind", _("Choose the document type."))
        elif not number:
            self.add_error("number", _("Write the document number."))
        else:
            try:
                cleaned["number"] = validate_document_number(kind, number)
            except ValidationError as exc:
                self.add_error("number", exc)
        issued, expires = cleaned.get("issued_on"), cleaned.get("expires_on")
        if issued and expires and expires < issued:
            self.add_error("expires_on", _("A document cannot expire before it was issued."))
        return cleaned


class PhoneForm(forms.Form):
    """One phone row: any usual spelling, stored in E.164; an empty number means no row."""

    number = forms.CharField(
        label=_("Phone number"),
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        help_text=_("With area code; foreign numbers with + and the country code."),
    )
    kind = forms.ChoiceField(label=_("Type"), choices=Phone.Kind.choices, initial=Phone.Kind.MOBILE)
    whatsapp = forms.BooleanField(label=_("Uses WhatsApp"), required=False)
    is_primary = forms.BooleanField(label=_("Primary"), required=False)

    def __init__(self, *args: Any, region: str = "MX", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.region = region

    def clean_number(self) -> str:
        value = (self.cleaned_data.get("number") or "").strip()
        return normalize_phone(value, self.region) if value else ""


class AliasForm(forms.Form):
    """Another name the person is known by."""

    given_names = forms.CharField(label=_("Other given names"), required=False, max_length=100)
    surnames = forms.CharField(label=_("Other surnames"), required=False, max_length=200)


class AddressForm(_PlaceForm):
    """One address row: municipality (Mexico) and/or free text."""

    country = forms.ChoiceField(label=_("Country"), choices=country_choices, initial="MX", required=False)
    state = forms.ModelChoiceField(label=_("State"), required=False, queryset=mx_states(), empty_label="—")
    municipality = forms.ModelChoiceField(
        label=_("Municipality"), required=False, queryset=mx_municipalities(), empty_label="—"
    )
    text = forms.CharField(label=_("Address"), required=False, max_length=300)
    is_current = forms.BooleanField(label=_("Current address"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_places(self.is_bound)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["admin_area"] = self._clean_place()
        cleaned["country"] = cleaned.get("country") or "MX"
        area = cleaned["admin_area"]
        if area is not None and area.country == "MX" and cleaned["country"] != "MX":
            self.add_error("country", _("The state chosen is in Mexico."))
        return cleaned

    @property
    def is_empty(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not (data.get("text") or data.get("admin_area"))


def _formset(form: type[forms.Form], extra: int) -> type[BaseFormSet[Any]]:
    return forms.formset_factory(form, extra=extra, can_delete=True, max_num=20, validate_max=True)


def _kept(formset: BaseFormSet[Any]) -> list[forms.Form]:
    """Forms of a valid formset that hold a row: existing rows (even unchanged) and filled-in extra rows,
    minus those marked for deletion."""
    out = []
    for index, form in enumerate(formset.forms):
        is_existing = index < formset.initial_form_count()
        if not hasattr(form, "cleaned_data") or not (is_existing or form.has_changed()):
            continue
        if form.cleaned_data.get("DELETE"):
            continue
        out.append(form)
    return out


class PersonEditor:
    """The person form plus its repeated rows (documents, phones, aliases, addresses), validated together.

    ``person_data()`` gives the :class:`PersonData` for the services; ``add_service_errors()`` puts a
    service's ValidationError back at the field (and row) that caused it.
    """

    def __init__(
        self,
        data: Any = None,
        *,
        offices: Sequence[int] | None = None,
        initial: PersonData | None = None,
        region: str = "MX",
    ) -> None:
        base = self._initial(initial) if initial else {}
        rows = self._initial_rows(initial) if initial else {}
        self.notes = {v.flag: v.note for v in initial.vulnerabilities} if initial else {}
        self.form = PersonForm(data, offices=offices, initial=base)
        extra = 1 if initial else 2
        self.documents = _formset(DocumentForm, extra)(
            data, prefix="documents", initial=rows.get("documents")
        )
        self.phones = _formset(PhoneForm, extra)(
            data, prefix="phones", initial=rows.get("phones"), form_kwargs={"region": region}
        )
        self.aliases = _formset(AliasForm, 1)(data, prefix="aliases", initial=rows.get("aliases"))
        self.addresses = _formset(AddressForm, 1)(data, prefix="addresses", initial=rows.get("addresses"))
        self._rows: dict[str, list[forms.Form]] = {}

    @staticmethod
    def _initial(data: PersonData) -> dict[str, Any]:
        place = AdminArea.objects.filter(pk=data.birth_place_id).first() if data.birth_place_id else None
        state = place.parent if place is not None and place.level == AdminArea.Level.MUNICIPALITY else place
        return {
            "given_names": data.given_names,
            "first_surname": data.first_surname,
            "second_surname": data.second_surname,
            "sex": data.sex,
            "birth_date": data.birth_date,
            "birth_date_precision": data.birth_date_precision,
            "birth_country": data.birth_country,
            "birth_state": state.pk if state is not None and state.country == "MX" else None,
            "birth_municipality": place.pk
            if place is not None and place.country == "MX" and place.level == AdminArea.Level.MUNICIPALITY
            else None,
            "kept_place": place.pk if place is not None and place.country != "MX" else None,
            "email": data.email,
            "preferred_language": data.preferred_language,
            "nationalities": data.nationalities,
            "languages": data.languages,
            "vulnerabilities": [v.flag for v in data.vulnerabilities],
        }

    @staticmethod
    def _initial_rows(data: PersonData) -> dict[str, list[dict[str, Any]]]:
        areas = AdminArea.objects.in_bulk([a.admin_area_id for a in data.addresses if a.admin_area_id])

        def address(a: AddressData) -> dict[str, Any]:
            area = areas.get(a.admin_area_id) if a.admin_area_id else None
            if area is not None and area.country != "MX":
                return {
                    "country": a.country,
                    "kept_place": area.pk,
                    "text": a.text,
                    "is_current": a.is_current,
                }
            muni = area if area is not None and area.level == AdminArea.Level.MUNICIPALITY else None
            state = muni.parent if muni is not None else area
            return {
                "country": a.country,
                "state": state.pk if state is not None else None,
                "municipality": muni.pk if muni is not None else None,
                "text": a.text,
                "is_current": a.is_current,
            }

        return {
            "documents": [
                {
                    "kind": d.kind,
                    "number": d.number,
                    "issuing_country": d.issuing_country,
                    "issued_on": d.issued_on,
                    "expires_on": d.expires_on,
                }
                for d in data.documents
            ],
            "phones": [
                {"number": p.number, "kind": p.kind, "whatsapp": p.whatsapp, "is_primary": p.is_primary}
                for p in data.phones
            ],
            "aliases": [{"given_names": a.given_names, "surnames": a.surnames} for a in data.aliases],
            "addresses": [address(a) for a in data.addresses],
        }

    @property
    def formsets(self) -> list[BaseFormSet[Any]]:
        return [self.documents, self.phones, self.aliases, self.addresses]

    def is_valid(self) -> bool:
        results = [self.form.is_valid(), *(fs.is_valid() for fs in self.formsets)]
        return all(results)

    @property
    def has_errors(self) -> bool:
        """True after a failed validation (for the error summary at the top of the page)."""
        return bool(self.form.errors) or any(fs.total_error_count() for fs in self.formsets)

    @property
    def office_id(self) -> int | None:
        office = self.form.cleaned_data.get("office")
        return office.pk if office is not None else None

    @property
    def confirm_token(self) -> str:
        return str(self.form.cleaned_data.get("confirm") or "")

    def person_data(self) -> PersonData:
        """The input as PersonData (call after ``is_valid()``)."""
        c = self.form.cleaned_data
        documents = [f for f in _kept(self.documents) if f.cleaned_data.get("number")]
        phones = [f for f in _kept(self.phones) if f.cleaned_data.get("number")]
        aliases = [
            f
            for f in _kept(self.aliases)
            if f.cleaned_data.get("given_names") or f.cleaned_data.get("surnames")
        ]
        addresses = [f for f in _kept(self.addresses) if not f.is_empty]  # type: ignore[attr-defined]
        self._rows = {"documents": documents, "phones": phones, "aliases": aliases, "addresses": addresses}
        place = c.get("birth_place")
        return PersonData(
            given_names=c["given_names"],
            first_surname=c["first_surname"],
            second_surname=c.get("second_surname") or "",
            sex=c["sex"],
            birth_date=c.get("birth_date"),
            birth_date_precision=c.get("birth_date_precision") or DatePrecision.EXACT,
            birth_country=c.get("birth_country") or "",
            birth_place_id=place.pk if place is not None else None,
            email=c.get("email") or "",
            preferred_language=c.get("preferred_language") or "",
            nationalities=list(c.get("nationalities") or []),
            languages=list(c.get("languages") or []),
            vulnerabilities=[
                VulnerabilityData(flag, self.notes.get(flag, "")) for flag in c.get("vulnerabilities") or []
            ],
            documents=[
                DocumentData(
                    kind=f.cleaned_data["kind"],
                    number=f.cleaned_data["number"],
                    issuing_country=f.cleaned_data.get("issuing_country") or "",
                    issued_on=f.cleaned_data.get("issued_on"),
                    expires_on=f.cleaned_data.get("expires_on"),
                )
                for f in documents
            ],
            phones=[
                PhoneData(
                    number=f.cleaned_data["number"],
                    kind=f.cleaned_data.get("kind") or Phone.Kind.MOBILE,
                    whatsapp=bool(f.cleaned_data.get("whatsapp")),
                    is_primary=bool(f.cleaned_data.get("is_primary")),
                )
                for f in phones
            ],
            aliases=[
                AliasData(f.cleaned_data.get("given_names") or "", f.cleaned_data.get("surnames") or "")
                for f in aliases
            ],
            addresses=[
                AddressData(
                    country=f.cleaned_data.get("country") or "MX",
                    admin_area_id=f.cleaned_data["admin_area"].pk
                    if f.cleaned_data.get("admin_area")
                    else None,
                    text=f.cleaned_data.get("text") or "",
                    is_current=bool(f.cleaned_data.get("is_current")),
                )
                for f in addresses
            ],
        )

    _ROW_FIELDS = {"admin_area_id": "municipality"}
    _PERSON_FIELDS = {"birth_place_id": "birth_municipality"}

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's ValidationError at the field (and row) that caused it."""
        if not hasattr(error, "error_dict"):
            self.form.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            parts = key.split(".")
            if parts[0] in self._rows and len(parts) == 3 and parts[1].isdigit():
                rows = self._rows[parts[0]]
                index = int(parts[1])
                field = self._ROW_FIELDS.get(parts[2], parts[2])
                if index < len(rows):
                    row = rows[index]
                    row.add_error(field if field in row.fields else None, messages)
                    continue
            field = self._PERSON_FIELDS.get(parts[0], parts[0])
            if field == "vulnerabilities" or field in self.form.fields:
                self.form.add_error(field, messages)
            else:
                self.form.add_error(None, messages)


def confirmation_token(match_ids: Iterable[int], flags: dict[str, list[str]]) -> str:
    """A short fingerprint of what the user was shown (possible matches, CURP warnings): a confirmation
    counts only for what was seen, so new matches after an edit are shown again."""
    payload = repr((sorted(match_ids), sorted((k, tuple(v)) for k, v in flags.items())))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ConsentForm(forms.Form):
    """Record consent given or withdrawn; the text is the standard one for the purpose, shown on the page."""

    purpose = forms.ChoiceField(label=_("Purpose"), choices=ConsentPurpose.choices, widget=forms.RadioSelect)
    status = forms.ChoiceField(
        label=_("Decision"), choices=ConsentRecord.Status.choices, initial=ConsentRecord.Status.GIVEN
    )
    method = forms.ChoiceField(
        label=_("How"), choices=ConsentRecord.Method.choices, initial=ConsentRecord.Method.VERBAL
    )
    given_by = forms.CharField(
        label=_("Given by"),
        required=False,
        max_length=200,
        help_text=_("Only if not the person (e.g. a guardian)."),
    )

    @staticmethod
    def text_version() -> str:
        return consent_text_version()


class AnonymiseForm(forms.Form):
    """Confirm the anonymisation of a person, with the reason kept in the audit trail."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the audit trail, e.g. the person asked for their data to be deleted."),
    )


class HouseholdLinkForm(forms.Form):
    """Link a relative found by search: ``person`` is the ``relation`` of the relative."""

    relative = forms.IntegerField(widget=forms.HiddenInput)
    relation = forms.ChoiceField(label=_("This person is the … of the relative"), choices=Relation.choices)
