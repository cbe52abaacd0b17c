"""The fields a column can be imported into, how headers are recognised, and how cell values are read.

Pure functions and data, no models: what a spreadsheet cell means ("15/01/1990", "Hombre", "mexicana",
"náhuatl") before :func:`rumbo.people.services.person_data_clean` validates the person built from it.
"""

from __future__ import annotations

import datetime
import gettext
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pycountry
from django.utils.translation import gettext_lazy as _

from rumbo.lib.text import fold
from rumbo.people.names import PARTICLES
from rumbo.people.validators import COMMON_LANGUAGES


@dataclass(frozen=True)
class Target:
    """A field a column can be imported into."""

    name: str
    label: Any  # lazy translated label
    headers: tuple[str, ...]  # folded header spellings that suggest it (Spanish and English)


TARGETS: tuple[Target, ...] = (
    Target(
        "given_names",
        _("Given names"),
        ("nombre", "nombres", "nombre s", "nombre de pila", "nombres de pila", "given names", "given name",
         "first name", "first names", "forename", "forenames"),
    ),
    Target(
        "first_surname",
        _("First surname"),
        ("primer apellido", "apellido paterno", "paterno", "ap paterno", "apellido 1", "apellido1",
         "first surname", "paternal surname", "father s surname"),
    ),
    Target(
        "second_surname",
        _("Second surname"),
        ("segundo apellido", "apellido materno", "materno", "ap materno", "apellido 2", "apellido2",
         "second surname", "maternal surname", "mother s surname"),
    ),
    Target(
        "surnames",
        _("Surnames (both, split into first and second)"),
        ("apellidos", "apellido", "apellido s", "surnames", "surname", "last name", "last names",
         "family name", "family names"),
    ),
    Target("sex", _("Sex"), ("sexo", "sex", "genero", "gender")),
    Target(
        "birth_date",
        _("Date of birth"),
        ("fecha de nacimiento", "fecha nacimiento", "fecha nac", "f nacimiento", "f nac", "nacimiento",
         "date of birth", "birth date", "birthdate", "dob", "fecha de nac"),
    ),
    Target(
        "birth_country",
        _("Country of birth"),
        ("pais de nacimiento", "pais nacimiento", "pais de origen", "country of birth", "birth country"),
    ),
    Target(
        "birth_state",
        _("State of birth"),
        ("estado de nacimiento", "entidad de nacimiento", "entidad de nac", "state of birth"),
    ),
    Target(
        "birth_municipality",
        _("Municipality of birth"),
        ("municipio de nacimiento", "lugar de nacimiento", "municipality of birth", "place of birth"),
    ),
    Target(
        "email",
        _("Email"),
        ("correo", "correo electronico", "email", "e mail", "mail", "email address", "correo e"),
    ),
    Target(
        "phone",
        _("Phone"),
        ("telefono", "tel", "celular", "cel", "movil", "telefono celular", "numero de telefono",
         "telefono 1", "phone", "phone number", "mobile", "cell", "cell phone", "telephone", "phone 1"),
    ),
    Target(
        "phone2",
        _("Second phone"),
        ("telefono 2", "otro telefono", "telefono alterno", "telefono fijo", "tel 2", "phone 2",
         "other phone", "landline", "telefono de contacto", "contacto"),
    ),
    Target("whatsapp", _("WhatsApp (number, or yes/no for the phone)"), ("whatsapp", "whats app", "wa")),
    Target("curp", _("CURP"), ("curp", "clave curp")),
    Target("passport", _("Passport"), ("pasaporte", "numero de pasaporte", "passport", "passport number")),
    Target("matricula", _("Matrícula consular"), ("matricula", "matricula consular", "consular id")),
    Target(
        "inm_constancia",
        _("INM repatriation certificate"),
        ("constancia", "constancia inm", "folio inm", "constancia de repatriacion", "folio constancia"),
    ),
    Target(
        "hn_dni",
        _("Honduran DNI"),
        ("dni", "identidad", "tarjeta de identidad", "numero de identidad", "dni honduras"),
    ),
    Target("nationality", _("Nationality"), ("nacionalidad", "nacionalidades", "nationality", "citizenship")),
    Target(
        "language",
        _("Languages spoken"),
        ("lengua", "lenguas", "idioma", "idiomas", "lengua indigena", "lengua materna", "language",
         "languages"),
    ),
    Target(
        "preferred_language",
        _("Preferred language"),
        ("idioma preferido", "lengua preferida", "preferred language"),
    ),
    Target(
        "state",
        _("State (of the address)"),
        ("estado", "entidad", "entidad federativa", "estado de residencia", "state", "departamento"),
    ),
    Target(
        "municipality",
        _("Municipality (of the address)"),
        ("municipio", "municipio de residencia", "alcaldia", "municipality", "county", "ciudad", "city"),
    ),
    Target(
        "address",
        _("Address"),
        ("domicilio", "direccion", "calle", "domicilio actual", "address", "street", "street address"),
    ),
)  # fmt: skip

TARGET_NAMES = frozenset(t.name for t in TARGETS)
TARGETS_BY_NAME: dict[str, Target] = {t.name: t for t in TARGETS}
_HEADER_INDEX: dict[str, str] = {h: t.name for t in TARGETS for h in t.headers}
# Substrings that suggest a target when no header spelling matches exactly (checked in this order).
_HEADER_HINTS: tuple[tuple[str, str], ...] = (
    ("curp", "curp"),
    ("pasaporte", "passport"),
    ("passport", "passport"),
    ("matricula", "matricula"),
    ("whatsapp", "whatsapp"),
    ("correo", "email"),
    ("email", "email"),
    ("paterno", "first_surname"),
    ("materno", "second_surname"),
    ("nacimiento", "birth_date"),
    ("birth", "birth_date"),
    ("telefono", "phone"),
    ("celular", "phone"),
    ("phone", "phone"),
    ("nacionalidad", "nationality"),
    ("apellido", "surnames"),
    ("nombre", "given_names"),
    ("sexo", "sex"),
    ("municipio", "municipality"),
    ("domicilio", "address"),
    ("direccion", "address"),
)


def target_choices() -> list[tuple[str, Any]]:
    """(name, label) of every target, for the mapping selects; "" means "do not import"."""
    return [("", _("— do not import —")), *((t.name, t.label) for t in TARGETS)]


def target_label(name: str) -> str:
    target = TARGETS_BY_NAME.get(name)
    return str(target.label) if target else name


def suggest_mapping(headers: Iterable[str]) -> list[str]:
    """A target per header ("" when none fits), each target used once: exact spellings first, then hints.

    >>> suggest_mapping(["Nombre(s)", "Apellido paterno", "Apellido materno", "Fecha de nacimiento", "Tel."])
    ['given_names', 'first_surname', 'second_surname', 'birth_date', 'phone']
    """
    folded = [fold(str(h or "")) for h in headers]
    out = [""] * len(folded)
    used: set[str] = set()
    for i, header in enumerate(folded):
        target = _HEADER_INDEX.get(header)
        if target and target not in used:
            out[i] = target
            used.add(target)
    for i, header in enumerate(folded):
        if out[i] or not header:
            continue
        for hint, target in _HEADER_HINTS:
            if hint in header and target not in used:
                out[i] = target
                used.add(target)
                break
    # "Apellidos" and separate surname columns together: keep the separate ones.
    if "surnames" in used and ("first_surname" in used or "second_surname" in used):
        out = ["" if t == "surnames" else t for t in out]
    return out


# --- Cell values ----------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def cell_text(value: Any) -> str:
    """The text of a cell: numbers without a spurious ".0", dates as ISO, spaces collapsed."""
    # Text (every CSV cell, most spreadsheet cells) needs no conversion, only the spaces seen to.
    text = value if type(value) is str else _written(value)
    if "\n" in text or "\t" in text or "  " in text or text[:1].isspace() or text[-1:].isspace():
        text = _SPACES.sub(" ", text).strip()
    return text


def _written(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def normalised(value: str) -> str:
    """The form of a value that the row hash is computed from: NFC, case-folded, spaces collapsed."""
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    return " ".join(value.split()).casefold()


# --- Dates ----------------------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read as its field: ``message`` is the translated reason."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")
_YMD = re.compile(r"^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_MY = re.compile(r"^(\d{1,2})[/.\-](\d{4})$")
_Y = re.compile(r"^(\d{4})$")
_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
DATE_FORMAT_ERROR = _("Write the date as dd/mm/yyyy or yyyy-mm-dd.")


def parse_date(value: Any, *, today: datetime.date) -> tuple[datetime.date, str]:
    """(date, precision) of a birth-date cell; precision as ``DatePrecision`` ("day", "month", "year").

    Accepts dd/mm/yyyy (also with "-" or "."), dd/mm/yy, yyyy-mm-dd (with a time, as spreadsheets export),
    mm/yyyy and yyyy (approximate dates), spreadsheet dates and spreadsheet day numbers.
    """
    if isinstance(value, datetime.datetime):
        return value.date(), "day"
    if isinstance(value, datetime.date):
        return value, "day"
    text = cell_text(value)
    try:
        if m := _DMY.match(text):
            day, month, year = int(m[1]), int(m[2]), int(m[3])
            if len(m[3]) == 2:  # two-digit year: the latest century that keeps the date in the past
                year += 2000 if 2000 + year <= today.year else 1900
            return datetime.date(year, month, day), "day"
        if m := _YMD.match(text):
            return datetime.date(int(m[1]), int(m[2]), int(m[3])), "day"
        if m := _MY.match(text):
            return datetime.date(int(m[2]), int(m[1]), 1), "month"
        if m := _Y.match(text):
            return datetime.date(int(m[1]), 1, 1), "year"
        if _SERIAL.match(text):
            return _EXCEL_EPOCH + datetime.timedelta(days=int(float(text))), "day"
    except (ValueError, OverflowError) as exc:
        raise CellError(_("This date does not exist.")) from exc
    raise CellError(DATE_FORMAT_ERROR)


# --- Sex ------------------------------------------------------------------------------------------------

_SEX_WORDS: dict[str, str] = {
    "hombre": "M", "masculino": "M", "varon": "M", "male": "M", "man": "M", "h": "M", "masc": "M",
    "mujer": "F", "femenino": "F", "female": "F", "woman": "F", "fem": "F",
    "x": "X", "otro": "X", "otra": "X", "no binario": "X", "no binaria": "X", "non binary": "X", "other": "X",
    "nb": "X",
    "u": "U", "nd": "U", "n d": "U", "no especificado": "U", "no registrado": "U", "desconocido": "U",
    "unknown": "U", "sin dato": "U",
}  # fmt: skip


def sex_convention(values: Iterable[str]) -> str:
    """How a sex column uses the letter M: "es" (H/M, Hombre/Mujer, as on the CURP) or "en" (M/F).

    Decided for the whole column: H present → Spanish; F present → English; otherwise Spanish when the
    column also holds Spanish words, else Spanish by default (the CURP convention most Mexican files use).
    """
    seen = {fold(v) for v in values if v}
    if "h" in seen or "hombre" in seen or "mujer" in seen:
        return "es"
    if "f" in seen or "female" in seen or "male" in seen:
        return "en"
    return "es"


def parse_sex(value: str, convention: str) -> str:
    """A ``Sex`` value, "" for an empty cell, or the cell itself when unknown (the validator reports it)."""
    word = fold(value)
    if not word:
        return "U"
    if word == "m":
        return "F" if convention == "es" else "M"
    if word == "f":
        return "F"
    return _SEX_WORDS.get(word, value)


# --- Yes / no -------------------------------------------------------------------------------------------

_YES = frozenset({"si", "s", "yes", "y", "x", "1", "true", "verdadero", "v", "ok"})
_NO = frozenset({"no", "n", "0", "false", "falso", "f", "-"})


def parse_bool(value: str) -> bool | None:
    """True/False for yes/no words; None when the cell is something else (e.g. a phone number)."""
    word = fold(value)
    if word in _YES:
        return True
    if word in _NO or not word:
        return False
    return None


# --- Countries and languages ----------------------------------------------------------------------------

_DEMONYMS: dict[str, str] = {
    "mexicana": "MX", "mexicano": "MX", "mexican": "MX", "mex": "MX",
    "hondurena": "HN", "hondureno": "HN", "honduran": "HN",
    "guatemalteca": "GT", "guatemalteco": "GT", "guatemalan": "GT",
    "salvadorena": "SV", "salvadoreno": "SV", "salvadoran": "SV", "el salvador": "SV",
    "nicaraguense": "NI", "nicaraguan": "NI",
    "cubana": "CU", "cubano": "CU", "cuban": "CU",
    "haitiana": "HT", "haitiano": "HT", "haitian": "HT",
    "venezolana": "VE", "venezolano": "VE", "venezuelan": "VE",
    "colombiana": "CO", "colombiano": "CO", "colombian": "CO",
    "ecuatoriana": "EC", "ecuatoriano": "EC", "ecuadorian": "EC",
    "estadounidense": "US", "norteamericana": "US", "norteamericano": "US", "american": "US",
    "estados unidos": "US", "eua": "US", "eeuu": "US", "ee uu": "US", "usa": "US", "us": "US",
    "canadiense": "CA", "canadian": "CA",
}  # fmt: skip


@cache
def _country_index() -> dict[str, str]:
    """Folded alpha-2, alpha-3, English and Spanish names (and common demonyms) → alpha-2."""
    spanish = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["es"], fallback=True).gettext
    index: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        names = {country.name, getattr(country, "common_name", ""), getattr(country, "official_name", "")}
        names |= {spanish(n) for n in list(names) if n}
        for name in names:
            if name:
                index.setdefault(fold(name), code)
        index[code.lower()] = code
        index[country.alpha_3.lower()] = code
    index.update(_DEMONYMS)
    return index


def parse_country(value: str) -> str:
    """An alpha-2 code for a code, a name (Spanish or English) or a demonym; the cell itself when unknown
    (the validator then reports it)."""
    return _country_index().get(fold(value), value)


@cache
def _language_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, (english, spanish) in COMMON_LANGUAGES.items():
        index[code] = code
        for name in (english, spanish):
            index.setdefault(fold(name), code)
            index.setdefault(fold(name.split("(")[0]), code)
    for language in pycountry.languages:
        alpha_3 = language.alpha_3
        if getattr(language, "type", "") != "L":
            continue
        index.setdefault(alpha_3, alpha_3)
        alpha_2 = getattr(language, "alpha_2", "")
        if alpha_2:
            index.setdefault(alpha_2, alpha_3)
        index.setdefault(fold(language.name), alpha_3)
    index.update({"espanol": "spa", "castellano": "spa", "ingles": "eng", "nahuatl": "nah"})
    return index


def parse_language(value: str) -> str:
    """An ISO 639-3 code for a code (639-3 or 639-1) or a name; the cell itself when unknown."""
    return _language_index().get(fold(value), value)


_LIST_SEPARATORS = re.compile(r"\s*[,;/|]\s*|\s+y\s+|\s+and\s+")


def split_list(value: str) -> list[str]:
    """The items of a cell that lists several values ("MX, US", "español y náhuatl")."""
    return [part for part in _LIST_SEPARATORS.split(value.strip()) if part]


# --- Surnames -------------------------------------------------------------------------------------------


def split_surnames(value: str) -> tuple[str, str]:
    """First and second surname of a "surnames" cell, keeping particles with their surname.

    >>> split_surnames("García López")
    ('García', 'López')
    >>> split_surnames("de la Cruz Hernández")
    ('de la Cruz', 'Hernández')
    >>> split_surnames("Pérez")
    ('Pérez', '')
    """
    words = value.split()
    first: list[str] = []
    i = 0
    while i < len(words) and fold(words[i]) in PARTICLES and i < len(words) - 1:
        first.append(words[i])
        i += 1
    if i < len(words):
        first.append(words[i])
        i += 1
    return " ".join(first), " ".join(words[i:])
