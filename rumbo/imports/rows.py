"""From a spreadsheet row to a :class:`~rumbo.people.data.PersonData`, its errors per field and its hash.

:class:`RowBuilder` reads the mapped cells of a row (dates, sex, countries, languages, places), builds the
person and validates it with :func:`rumbo.people.services.person_data_clean`; the validator's error keys
("documents.0.number", "phones.1.number") are reported at the import field the value came from ("curp",
"phone2"). Places (INEGI codes or names) are resolved against ``rumbo.geo``'s areas, loaded once.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.geo.models import AdminArea
from rumbo.imports.fields import (
    TARGET_NAMES,
    CellError,
    cell_text,
    normalised,
    parse_bool,
    parse_country,
    parse_date,
    parse_language,
    parse_sex,
    sex_convention,
    split_list,
    split_surnames,
)
from rumbo.lib.text import fold
from rumbo.people.data import AddressData, DocumentData, PersonData, PhoneData
from rumbo.people.models import DocumentKind, Phone
from rumbo.people.services import person_data_clean

DOCUMENT_TARGETS: tuple[tuple[str, str], ...] = (
    ("curp", DocumentKind.CURP),
    ("passport", DocumentKind.PASSPORT),
    ("matricula", DocumentKind.MATRICULA),
    ("inm_constancia", DocumentKind.INM_CONSTANCIA),
    ("hn_dni", DocumentKind.HN_DNI),
)
ErrorDict = dict[str, list[str]]


def validate_mapping(mapping: Sequence[str], headers: Sequence[str]) -> list[str]:
    """The mapping, one target (or "") per header; ValidationError (at "mapping") when it cannot work."""
    problems: list[Any] = []
    values = [str(t or "") for t in mapping]
    if len(values) != len(headers):
        raise ValidationError({"mapping": [_("Choose a field (or none) for every column.")]})
    unknown = [t for t in values if t and t not in TARGET_NAMES]
    if unknown:
        problems.append(_("Unknown field: %(names)s.") % {"names": ", ".join(sorted(set(unknown)))})
    chosen = [t for t in values if t]
    twice = sorted({t for t in chosen if chosen.count(t) > 1})
    if twice:
        problems.append(_("Each field can take one column only: %(names)s.") % {"names": ", ".join(twice)})
    if "given_names" not in chosen:
        problems.append(_("Choose the column with the given names."))
    if "first_surname" not in chosen and "surnames" not in chosen:
        problems.append(_("Choose the column with the first surname, or the one with both surnames."))
    if problems:
        raise ValidationError({"mapping": problems})
    return values


class AreaResolver:
    """Places written as national codes (INEGI, INE, FIPS; also ISO 3166-2) or as names.

    The areas of the country are loaded once, on first use (a few thousand rows of ``geo.AdminArea``), so a
    file of any size costs one query; each distinct value is resolved once.
    """

    def __init__(self, country: str) -> None:
        self.requested = country or "MX"
        self._loaded = False
        self.country = self.requested
        self._by_code: dict[tuple[int, str], AdminArea] = {}
        self._names: dict[str, list[AdminArea]] = defaultdict(list)
        self._states: list[AdminArea] = []
        self._suffix = 3  # digits of a municipality code after the state's (INEGI: 3)
        self._state_cache: dict[str, AdminArea | None] = {}
        self._places: dict[tuple[str, int | None], AdminArea | str | None] = {}

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        fields = ("id", "country", "level", "code", "iso_3166_2", "name_folded", "parent_id", "population")
        areas = list(AdminArea.objects.filter(country=self.requested).only(*fields))
        if not areas:
            self.country = "MX"
            areas = list(AdminArea.objects.filter(country="MX").only(*fields))
        codes = {a.pk: a.code for a in areas}
        for area in areas:
            self._by_code[(area.level, area.code)] = area
            if area.iso_3166_2:
                self._by_code.setdefault((area.level, area.iso_3166_2.upper()), area)
            if area.level == AdminArea.Level.STATE:
                self._states.append(area)
            else:
                self._names[area.name_folded].append(area)
                parent_code = codes.get(area.parent_id or 0)
                if parent_code and area.code.startswith(parent_code):
                    self._suffix = len(area.code) - len(parent_code)

    def state(self, value: str) -> AdminArea | None:
        key = fold(value)
        if key not in self._state_cache:
            self._load()
            self._state_cache[key] = self._find_state(value)
        return self._state_cache[key]

    def _find_state(self, value: str) -> AdminArea | None:
        text = value.strip()
        code = text.zfill(2) if text.isdigit() and len(text) <= 2 else text.upper()
        area = self._by_code.get((AdminArea.Level.STATE, code))
        if area is not None:
            return area
        key = fold(text).replace(" ", "")
        for candidate in self._states:
            name = candidate.name_folded.replace(" ", "")
            if name == key or (name.startswith(key) and len(key) >= 3):
                return candidate
        return None

    def municipality(self, value: str, state: AdminArea | None) -> AdminArea | str:
        """The municipality, or a reason (translated) why none could be chosen."""
        key = (fold(value), state.pk if state else None)
        if key not in self._places:
            self._load()
            self._places[key] = self._find_municipality(value, state)
        found = self._places[key]
        return found if found is not None else str(_("No municipality with this name or code was found."))

    def _find_municipality(self, value: str, state: AdminArea | None) -> AdminArea | str | None:
        text = value.strip()
        level = AdminArea.Level.MUNICIPALITY
        if text.isdigit():
            if state is not None and len(text) <= self._suffix:
                text = state.code + text.zfill(self._suffix)
            area = self._by_code.get((level, text))
            if area is None and len(text) < self._suffix + 2:  # a leading zero lost in a spreadsheet
                area = self._by_code.get((level, text.zfill(self._suffix + 2)))
            return area
        found = self._names.get(fold(text), [])
        if state is not None:
            found = [a for a in found if a.parent_id == state.pk]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return str(_("Several municipalities have this name: add the state."))
        return None


@dataclass
class BuiltRow:
    """A row read through the mapping: the person (not yet validated), errors of reading its cells, the
    import field each child row came from, and the row hash."""

    number: int
    values: list[Any]
    sha256: str
    data: PersonData
    errors: ErrorDict = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # "documents.0" → "curp"
    clean: PersonData | None = None

    def add_error(self, target: str, message: Any) -> None:
        self.errors.setdefault(target, []).append(str(message))


class RowBuilder:
    """Reads rows of one file through one mapping."""

    def __init__(
        self,
        headers: Sequence[str],
        mapping: Sequence[str],
        *,
        region: str = "MX",
        sex_values: Iterable[str] = (),
        today: datetime.date | None = None,
    ) -> None:
        self.headers = list(headers)
        self.columns = [(i, t) for i, t in enumerate(mapping) if t]
        self.targets = sorted(t for _, t in self.columns)
        self.region = region or "MX"
        self.convention = sex_convention(sex_values)
        self.today = today or timezone.localdate()
        self.areas = AreaResolver(self.region)

    def row_hash(self, text: dict[str, str], birth: tuple[datetime.date, str] | None = None) -> str:
        """SHA-256 of the normalised mapped values (by field name, so column order does not matter); a
        readable birth date counts as the date it stands for, however it was written."""
        parts: list[str] = []
        for target in self.targets:
            if target == "birth_date" and birth is not None:
                value = f"{birth[0].isoformat()}/{birth[1]}"
            else:
                value = normalised(text[target])
            parts.append(f"{target}={value}")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def build(self, number: int, values: Sequence[Any]) -> BuiltRow:
        cells = {t: values[i] for i, t in self.columns}
        text = {t: cell_text(v) for t, v in cells.items()}
        data = PersonData(
            given_names=text.get("given_names", ""),
            first_surname=text.get("first_surname", ""),
            second_surname=text.get("second_surname", ""),
        )
        birth: tuple[datetime.date, str] | None = None
        birth_error: CellError | None = None
        if text.get("birth_date"):
            try:
                birth = parse_date(cells["birth_date"], today=self.today)
            except CellError as exc:
                birth_error = exc
        row = BuiltRow(number, list(values), self.row_hash(text, birth), data)
        if "surnames" in cells:
            first, second = split_surnames(text["surnames"])
            if "first_surname" not in cells:
                row.origins["first_surname"] = "surnames"
            if "second_surname" not in cells:
                row.origins["second_surname"] = "surnames"
            if not data.first_surname:
                data.first_surname = first
            if not data.second_surname and "second_surname" not in cells:
                data.second_surname = second
        if "sex" in cells:
            data.sex = parse_sex(text["sex"], self.convention)
        if birth is not None:
            data.birth_date, data.birth_date_precision = birth
        elif birth_error is not None:
            row.add_error("birth_date", birth_error.message)
        if text.get("birth_country"):
            data.birth_country = parse_country(text["birth_country"])
        self._birth_place(row, text)
        data.email = text.get("email", "")
        if text.get("preferred_language"):
            data.preferred_language = parse_language(text["preferred_language"])
        for i, item in enumerate(split_list(text.get("nationality", ""))):
            data.nationalities.append(parse_country(item))
            row.origins[f"nationalities.{i}"] = "nationality"
        for i, item in enumerate(split_list(text.get("language", ""))):
            data.languages.append(parse_language(item))
            row.origins[f"languages.{i}"] = "language"
        for target, kind in DOCUMENT_TARGETS:
            if text.get(target):
                row.origins[f"documents.{len(data.documents)}"] = target
                data.documents.append(DocumentData(kind=kind, number=text[target]))
        self._phones(row, text)
        self._address(row, text)
        return row

    def _birth_place(self, row: BuiltRow, text: dict[str, str]) -> None:
        state = None
        if text.get("birth_state"):
            state = self.areas.state(text["birth_state"])
            if state is None:
                row.add_error("birth_state", _("No state with this name or code was found."))
        if text.get("birth_municipality"):
            found = self.areas.municipality(text["birth_municipality"], state)
            if isinstance(found, str):
                row.add_error("birth_municipality", found)
            else:
                row.data.birth_place_id = found.pk
                row.origins["birth_place_id"] = "birth_municipality"
        elif state is not None:
            row.data.birth_place_id = state.pk
            row.origins["birth_place_id"] = "birth_state"

    def _phones(self, row: BuiltRow, text: dict[str, str]) -> None:
        phones = row.data.phones
        for target, kind in (("phone", Phone.Kind.MOBILE), ("phone2", Phone.Kind.OTHER)):
            if text.get(target):
                row.origins[f"phones.{len(phones)}"] = target
                phones.append(PhoneData(number=text[target], kind=kind, region=self.region))
        whatsapp = text.get("whatsapp", "")
        if not whatsapp:
            return
        flag = parse_bool(whatsapp)
        if flag is not None:
            if flag and phones:
                phones[0].whatsapp = True
            return
        digits = "".join(ch for ch in whatsapp if ch.isdigit())
        for phone in phones:
            own = "".join(ch for ch in phone.number if ch.isdigit())
            if own and digits and (own.endswith(digits[-10:]) or digits.endswith(own[-10:])):
                phone.whatsapp = True
                return
        row.origins[f"phones.{len(phones)}"] = "whatsapp"
        phones.append(PhoneData(number=whatsapp, whatsapp=True, region=self.region))

    def _address(self, row: BuiltRow, text: dict[str, str]) -> None:
        if not (text.get("state") or text.get("municipality") or text.get("address")):
            return
        area: AdminArea | None = None
        state = None
        if text.get("state"):
            state = self.areas.state(text["state"])
            if state is None:
                row.add_error("state", _("No state with this name or code was found."))
            area = state
        if text.get("municipality"):
            found = self.areas.municipality(text["municipality"], state)
            if isinstance(found, str):
                row.add_error("municipality", found)
            else:
                area = found
        row.data.addresses.append(
            AddressData(
                country=area.country if area is not None else self.areas.country,
                admin_area_id=area.pk if area is not None else None,
                text=text.get("address", ""),
            )
        )
        row.origins["addresses.0.text"] = "address"
        row.origins["addresses.0"] = "municipality" if text.get("municipality") else "state"

    def target_of(self, row: BuiltRow, key: str) -> str:
        """The import field an error key of ``person_data_clean`` belongs to."""
        if key in row.origins:
            return row.origins[key]
        parts = key.split(".")
        if len(parts) >= 2 and ".".join(parts[:2]) in row.origins:
            return row.origins[".".join(parts[:2])]
        return {"birth_date_precision": "birth_date", "__all__": "row"}.get(key, key)

    def validate(self, row: BuiltRow) -> BuiltRow:
        """Validate the row's person with ``person_data_clean``; ``row.clean`` is set when it is valid.

        Every error is kept at its import field, cell-reading errors first."""
        try:
            clean = person_data_clean(row.data)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                target = self.target_of(row, key)
                for message in messages:
                    if message not in row.errors.get(target, []):
                        row.add_error(target, message)
            return row
        if not row.errors:
            row.clean = clean
        return row
