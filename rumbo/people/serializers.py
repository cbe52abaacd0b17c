"""API representation of persons, and the shape of what clients send.

Serializers only check the *shape* of a request and call the same validators as the forms and services
(:mod:`rumbo.people.validators`) so errors land at the field; the services
(:mod:`rumbo.people.services`) stay the authority and re-validate everything before writing. Child lists
(documents, phones, …) are complete: on update, a list that is sent replaces the stored one (rows with an
unchanged key keep their id); a list that is not sent is left alone.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from rumbo.lib.api import IdField
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, member_office_ids
from rumbo.people.data import AddressData, AliasData, DocumentData, PersonData, PhoneData, VulnerabilityData
from rumbo.people.models import (
    Address,
    Alias,
    DatePrecision,
    Document,
    DocumentKind,
    Person,
    Phone,
    Sex,
    Vulnerability,
    VulnerabilityFlag,
)
from rumbo.people.validators import (
    CURP_FLAG_LABELS,
    normalize_phone,
    validate_birth_date,
    validate_country,
    validate_document_number,
    validate_language,
)

# --- Reading ------------------------------------------------------------------------------------------


class AliasSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alias
        fields = ["id", "given_names", "surnames"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    """An identity document; ``flags`` lists what a CURP contradicts about the person (not blocking)."""

    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=list(CURP_FLAG_LABELS)),
        read_only=True,
        help_text="For a CURP: the person's fields it disagrees with (birth_date, sex, name, birth_state). "
        "Saving is not blocked; the record is flagged for review.",
    )

    class Meta:
        model = Document
        fields = ["id", "kind", "number", "issuing_country", "issued_on", "expires_on", "flags", "created_at"]
        read_only_fields = fields


class PhoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Phone
        fields = ["id", "e164", "kind", "whatsapp", "is_primary"]
        read_only_fields = fields


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "country", "admin_area", "text", "lat", "lon", "is_current", "recorded_at"]
        read_only_fields = fields


class VulnerabilitySerializer(serializers.ModelSerializer):
    class Meta:
        model = VulnerabilityFlag
        fields = ["id", "flag", "note", "recorded_at"]
        read_only_fields = fields


class PersonSummarySerializer(serializers.ModelSerializer):
    """A person in a list: enough to recognise them, nothing more."""

    is_anonymised = serializers.BooleanField(read_only=True)

    class Meta:
        model = Person
        fields = [
            "id",
            "office",
            "given_names",
            "first_surname",
            "second_surname",
            "sex",
            "birth_date",
            "birth_date_precision",
            "birth_country",
            "is_anonymised",
        ]
        read_only_fields = fields


class PersonSerializer(PersonSummarySerializer):
    """A person's whole record, child rows nested."""

    email = serializers.CharField(read_only=True, help_text="Email address, or empty.")
    nationalities = serializers.SerializerMethodField(help_text="ISO 3166-1 alpha-2 codes.")
    languages = serializers.SerializerMethodField(help_text="ISO 639-3 codes.")
    aliases = AliasSerializer(many=True, read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    phones = PhoneSerializer(many=True, read_only=True)
    addresses = AddressSerializer(many=True, read_only=True)
    vulnerabilities = VulnerabilitySerializer(many=True, read_only=True)

    class Meta(PersonSummarySerializer.Meta):
        fields = [
            *PersonSummarySerializer.Meta.fields,
            "birth_place",
            "email",
            "preferred_language",
            "nationalities",
            "languages",
            "aliases",
            "documents",
            "phones",
            "addresses",
            "vulnerabilities",
            "created_at",
            "updated_at",
            "anonymised_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_nationalities(self, person: Person) -> list[str]:
        return sorted(n.country for n in person.nationalities.all())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_languages(self, person: Person) -> list[str]:
        return sorted(lang.code for lang in person.languages.all())


# --- Writing ------------------------------------------------------------------------------------------


def _check(func: Any, *args: Any) -> Any:
    """Run a Django validator and turn its error into a DRF one (so it lands at the field)."""
    try:
        return func(*args)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class AliasWriteSerializer(serializers.Serializer):
    given_names = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    surnames = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DocumentWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    number = serializers.CharField(
        max_length=60, help_text="As written on the document; separators are removed, letters upper-cased."
    )
    issuing_country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, default="", help_text="ISO 3166-1 alpha-2."
    )
    issued_on = serializers.DateField(required=False, allow_null=True, default=None)
    expires_on = serializers.DateField(required=False, allow_null=True, default=None)

    def validate_issuing_country(self, value: str) -> str:
        return _check(validate_country, value) if value else ""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["number"] = validate_document_number(attrs["kind"], attrs["number"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"number": exc.messages}) from exc
        return attrs


class PhoneWriteSerializer(serializers.Serializer):
    e164 = serializers.CharField(
        max_length=40,
        help_text="The number in E.164 (+524431234567) or as dialled in `region` (443 123 4567); "
        "stored in E.164.",
    )
    region = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        default="MX",
        write_only=True,
        help_text="Country (ISO 3166-1 alpha-2) of a number written without +. Default MX.",
        error_messages={"invalid": _("Enter a two-letter country code.")},
    )
    kind = serializers.ChoiceField(choices=Phone.Kind.choices, required=False, default=Phone.Kind.MOBILE)
    whatsapp = serializers.BooleanField(required=False, default=False)
    is_primary = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["e164"] = normalize_phone(attrs["e164"], attrs.get("region", "MX").upper())
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"e164": exc.messages}) from exc
        return attrs


class AddressWriteSerializer(serializers.Serializer):
    country = serializers.CharField(
        max_length=2, required=False, default="MX", help_text="ISO 3166-1 alpha-2."
    )
    admin_area = IdField(required=False, allow_null=True, default=None, help_text="An admin area id.")
    text = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    lat = serializers.FloatField(required=False, allow_null=True, default=None, min_value=-90, max_value=90)
    lon = serializers.FloatField(required=False, allow_null=True, default=None, min_value=-180, max_value=180)
    is_current = serializers.BooleanField(required=False, default=True)

    def validate_country(self, value: str) -> str:
        return str(_check(validate_country, value))


class VulnerabilityWriteSerializer(serializers.Serializer):
    flag = serializers.ChoiceField(choices=Vulnerability.choices)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PersonWriteSerializer(serializers.Serializer):
    """What a client sends to change a person: any subset of the fields; a list sent replaces the stored one.

    Not a DRF ``partial`` serializer on purpose: the rows of a list sent are validated whole, with defaults.
    """

    given_names = serializers.CharField(max_length=100, required=False)
    first_surname = serializers.CharField(max_length=100, required=False)
    second_surname = serializers.CharField(max_length=100, required=False, allow_blank=True)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    birth_date = serializers.DateField(required=False, allow_null=True, help_text="YYYY-MM-DD.")
    birth_date_precision = serializers.ChoiceField(
        choices=DatePrecision.choices,
        required=False,
        help_text="How much of the date is known; unknown parts are stored as 1.",
    )
    birth_country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2."
    )
    birth_place = IdField(required=False, allow_null=True, help_text="An admin area id.")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    preferred_language = serializers.CharField(
        max_length=3, required=False, allow_blank=True, help_text="ISO 639-3, e.g. spa, tzo."
    )
    nationalities = serializers.ListField(
        child=serializers.CharField(max_length=2),
        required=False,
        max_length=10,
        help_text="ISO 3166-1 alpha-2.",
    )
    languages = serializers.ListField(
        child=serializers.CharField(max_length=3), required=False, max_length=20, help_text="ISO 639-3."
    )
    aliases: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=AliasWriteSerializer(), required=False, max_length=20
    )
    documents: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=DocumentWriteSerializer(), required=False, max_length=20
    )
    phones: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=PhoneWriteSerializer(), required=False, max_length=10
    )
    addresses: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=AddressWriteSerializer(), required=False, max_length=20
    )
    vulnerabilities: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=VulnerabilityWriteSerializer(), required=False, max_length=20
    )

    def validate_birth_country(self, value: str) -> str:
        return _check(validate_country, value) if value else ""

    def validate_preferred_language(self, value: str) -> str:
        return _check(validate_language, value) if value else ""

    def validate_nationalities(self, value: list[str]) -> list[str]:
        return self._each(value, validate_country)

    def validate_languages(self, value: list[str]) -> list[str]:
        return self._each(value, validate_language)

    @staticmethod
    def _each(values: list[str], validator: Any) -> list[str]:
        out: list[str] = []
        errors: dict[str, Any] = {}
        for index, value in enumerate(values):
            try:
                out.append(validator(value))
            except DjangoValidationError as exc:
                errors[str(index)] = exc.messages
        if errors:
            raise serializers.ValidationError(errors)
        return out

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "office" in self.initial_data:
            # Silently ignoring it would let a client believe the person moved.
            raise serializers.ValidationError({"office": [_("A person's office cannot be changed here.")]})
        if "birth_date" in attrs or "birth_date_precision" in attrs:
            precision = attrs.get("birth_date_precision", self._current("birth_date_precision", "day"))
            birth_date = attrs.get("birth_date", self._current("birth_date", None))
            try:
                validate_birth_date(birth_date, precision)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"birth_date": exc.messages}) from exc
        return attrs

    def _current(self, name: str, default: Any) -> Any:
        return getattr(self.instance, name, default) if self.instance is not None else default

    def to_data(self, base: PersonData | None = None) -> PersonData:
        """The validated request as :class:`PersonData`, over ``base`` (the stored data) for a PATCH."""
        values: dict[str, Any] = dict(self.validated_data)
        data = base or PersonData(given_names="", first_surname="")
        simple = {
            "given_names": "given_names",
            "first_surname": "first_surname",
            "second_surname": "second_surname",
            "sex": "sex",
            "birth_date": "birth_date",
            "birth_date_precision": "birth_date_precision",
            "birth_country": "birth_country",
            "birth_place": "birth_place_id",
            "email": "email",
            "preferred_language": "preferred_language",
            "nationalities": "nationalities",
            "languages": "languages",
        }
        for api_name, data_name in simple.items():
            if api_name in values:
                setattr(data, data_name, values[api_name])
        if "aliases" in values:
            data.aliases = [AliasData(**a) for a in values["aliases"]]
        if "documents" in values:
            data.documents = [DocumentData(**d) for d in values["documents"]]
        if "phones" in values:
            data.phones = [
                PhoneData(
                    number=p["e164"],
                    kind=p["kind"],
                    whatsapp=p["whatsapp"],
                    is_primary=p["is_primary"],
                    region=p.get("region", "MX").upper(),
                )
                for p in values["phones"]
            ]
        if "addresses" in values:
            data.addresses = [
                AddressData(
                    country=a["country"],
                    admin_area_id=a["admin_area"],
                    text=a["text"],
                    lat=a["lat"],
                    lon=a["lon"],
                    is_current=a["is_current"],
                )
                for a in values["addresses"]
            ]
        if "vulnerabilities" in values:
            data.vulnerabilities = [VulnerabilityData(**v) for v in values["vulnerabilities"]]
        return data


class PersonCreateSerializer(PersonWriteSerializer):
    """A new person, registered in ``office`` (one of your offices where you may register persons)."""

    office = IdField(help_text="One of your offices where your role lets you register persons.")
    given_names = serializers.CharField(max_length=100)
    first_surname = serializers.CharField(max_length=100)

    def validate_office(self, value: int) -> Office:
        user = self.context["request"].user
        if value not in member_office_ids(user):
            raise serializers.ValidationError(_("Choose one of your offices."))
        office = Office.objects.get(pk=value)
        if not has_perm(user, Perm.ADD_PERSON, office.pk):
            # Checked again by the service; answering 403 here spares validating the rest.
            raise PermissionDenied
        return office


class PersonAnonymiseSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the person's data is removed (kept in the audit trail)."
    )


class PersonQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Name, document number or phone; accents and case are ignored, every word must match "
        "the start of a word.",
    )
