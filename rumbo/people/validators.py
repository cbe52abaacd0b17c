"""Validation of person data, shared by forms, DRF serializers and services.

Every function raises :class:`django.core.exceptions.ValidationError` with a translated message (and a stable
``code``) and returns the value in its canonical form, so callers store what the validator returns.
Serializers can call them directly: DRF turns a Django ``ValidationError`` raised inside ``validate_<field>``
into a field error when wrapped with :func:`rest_framework.fields.get_error_detail` or re-raised.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.mx import curp as stdnum_curp

from rumbo.lib import dates
from rumbo.lib.text import fold

# --- CURP ---------------------------------------------------------------------------------------------

_STATES_CSV = Path(__file__).resolve().parent.parent / "geo" / "data" / "mx_states.csv"


def _load_curp_state_codes() -> dict[str, str]:
    """INEGI state code ("16") → CURP state code ("MN"), read from the shipped INEGI table at import."""
    with _STATES_CSV.open(encoding="utf-8-sig", newline="") as fh:
        return {row["cve_ent"]: row["curp_code"] for row in csv.DictReader(fh)}


#: INEGI ``cve_ent`` → the two letters RENAPO writes in positions 12–13 of a CURP.
CURP_STATE_BY_INEGI: dict[str, str] = _load_curp_state_codes()
#: Positions 12–13 of the CURP of a person born abroad ("nacido en el extranjero").
CURP_BORN_ABROAD = "NE"

#: Flags written to ``Document.flags`` by :func:`curp_inconsistencies`, with their human labels.
CURP_FLAG_LABELS: dict[str, Any] = {
    "birth_date": _("date of birth"),
    "sex": _("sex"),
    "name": _("name"),
    "birth_state": _("state of birth"),
}

# Given names RENAPO skips when the person has more than one (position 4 uses the next name).
_SKIPPED_GIVEN_NAMES = frozenset({"maria", "ma", "jose", "j"})
# Particles RENAPO skips at the start of compound surnames ("de la Cruz" → C).
_SURNAME_PARTICLES = frozenset(
    {"da", "das", "de", "del", "der", "di", "die", "dd", "el", "la", "los", "las", "le", "les", "mac", "mc",
     "van", "von", "y"}
)  # fmt: skip


_COMPACT_CURP = re.compile(r"[0-9A-Z]{18}")


def _compact_curp(value: str) -> str:
    """``stdnum``'s compact form of a CURP (no separators, upper case), without running its character
    filter over a value already in that form (most of them: an import validates a hundred thousand)."""
    return value if _COMPACT_CURP.fullmatch(value) else stdnum_curp.compact(value)


_CURP_FORMAT = re.compile(r"[A-Z]{4}[0-9]{6}[A-Z]{6}[0-9A-Z][0-9]")
# stdnum's own tables (rude words RENAPO replaces, state codes). Should a release drop them, every CURP is
# checked by ``stdnum_curp.validate`` itself.
_STDNUM_CURP_TABLES: tuple[frozenset[str], frozenset[str]] | None = (
    (frozenset(stdnum_curp._name_blacklist), frozenset(stdnum_curp._valid_states))
    if hasattr(stdnum_curp, "_name_blacklist") and hasattr(stdnum_curp, "_valid_states")
    else None
)


def _curp_date(number: str) -> datetime.date:
    """``stdnum_curp.get_birth_date`` of a compact CURP, without compacting it again."""
    year = int(number[4:6]) + (1900 if number[16].isdigit() else 2000)
    try:
        return datetime.date(year, int(number[6:8]), int(number[8:10]))
    except ValueError:
        raise stdnum_exceptions.InvalidComponent() from None


def _stdnum_validate(number: str, validate_check_digits: bool = True) -> None:
    """``stdnum_curp.validate(number)``; for a number already compact (``_COMPACT_CURP``, most of them) the
    same checks in the same order, raising the same exceptions, without the three character filters stdnum
    runs over it again (a tenth of an import's validation). ``test_validators.test_curp_checks_match_stdnum``
    compares the two on thousands of good and damaged CURPs."""
    if _STDNUM_CURP_TABLES is None or not _COMPACT_CURP.fullmatch(number):
        stdnum_curp.validate(number, validate_check_digits=validate_check_digits)
        return
    rude_words, states = _STDNUM_CURP_TABLES
    if len(number) != 18:
        raise stdnum_exceptions.InvalidLength()
    if not _CURP_FORMAT.fullmatch(number):
        raise stdnum_exceptions.InvalidFormat()
    if number[:4] in rude_words:
        raise stdnum_exceptions.InvalidComponent()
    _curp_date(number)
    if number[10] not in "HM" or number[11:13] not in states:
        raise stdnum_exceptions.InvalidComponent()
    if validate_check_digits and number[-1] != stdnum_curp.calc_check_digit(number):
        raise stdnum_exceptions.InvalidChecksum()


def validate_curp(value: str) -> str:
    """A valid CURP in upper case without separators, or a ValidationError.

    Format, date, sex letter, state code and check digit are checked with ``stdnum.mx.curp``. RENAPO also
    issues CURPs with ``X`` in position 11 (non-binary), which stdnum does not know yet: those are checked
    with the sex letter replaced and the check digit computed on the real value.
    """
    number = _compact_curp(str(value or ""))
    try:
        if len(number) == 18 and number[10] == "X":
            _stdnum_validate(number[:10] + "H" + number[11:], validate_check_digits=False)
            if number[-1] != stdnum_curp.calc_check_digit(number):
                raise stdnum_exceptions.InvalidChecksum()
        else:
            _stdnum_validate(number)
    except stdnum_exceptions.InvalidLength as exc:
        raise ValidationError(_("A CURP has exactly 18 characters."), code="curp_length") from exc
    except stdnum_exceptions.InvalidChecksum as exc:
        raise ValidationError(
            _("This CURP's check digit is wrong: check that every character was copied correctly."),
            code="curp_checksum",
        ) from exc
    except stdnum_exceptions.ValidationError as exc:
        raise ValidationError(
            _(
                "This is not a valid CURP "
                "(4 letters, 6 digits of the birth date, sex, state, 5 more characters)."
            ),
            code="curp_format",
        ) from exc
    return number


def curp_birth_date(curp: str) -> datetime.date:
    """Birth date written in a (valid) CURP; position 17 tells the century (digit: 1900s, letter: 2000s)."""
    return _curp_date(curp) if _COMPACT_CURP.fullmatch(curp) else stdnum_curp.get_birth_date(curp)


def _surname_initial(surname: str) -> str:
    words = fold(surname.replace("ñ", "x").replace("Ñ", "X")).split()
    while len(words) > 1 and words[0] in _SURNAME_PARTICLES:
        words.pop(0)
    return words[0][:1].upper() if words else ""


def _given_name_initial(given_names: str) -> str:
    words = fold(given_names.replace("ñ", "x").replace("Ñ", "X")).split()
    while len(words) > 1 and words[0] in _SKIPPED_GIVEN_NAMES:
        words.pop(0)
    while len(words) > 1 and words[0] in _SURNAME_PARTICLES:
        words.pop(0)
    return words[0][:1].upper() if words else ""


def _sex_letter(sex: str) -> str | None:
    """The CURP letter for a ``Person.sex`` value; None when the sex was not recorded."""
    return {"M": "H", "F": "M", "X": "X"}.get(sex)


def curp_inconsistencies(
    curp: str,
    *,
    given_names: str,
    first_surname: str,
    second_surname: str = "",
    birth_date: datetime.date | None,
    sex: str,
    birth_place_state_code: str | None = None,
    birth_date_precision: str = "day",
    birth_country: str | None = None,
) -> list[str]:
    """Which of "birth_date", "sex", "name", "birth_state" a valid CURP contradicts (empty list: consistent).

    What is compared, and how tolerantly:

    * **name** — only position 1 (initial of the first surname, skipping particles such as "de la"; Ñ → X)
      and position 4 (initial of the given name, skipping a leading MARÍA/MA./JOSÉ/J. when there is another
      given name, as RENAPO does). Positions 2 (first internal vowel) and 3 (second surname) are *not*
      compared: RENAPO replaces rude words there and registrars spell compound names inconsistently, so
      they would flag too many good records. ``second_surname`` is accepted for a future stricter rule.
    * **birth_date** — positions 5–10 (YYMMDD) with the century from position 17. Only the known parts of an
      approximate date are compared: ``month`` precision compares year and month, ``year`` the year;
      ``estimated`` dates (a guess from the person's age) are never compared. No date: not compared.
    * **sex** — position 11: H (male), M (female), X (non-binary). Sex "not recorded" is not compared.
    * **birth_state** — positions 12–13 against ``birth_place_state_code`` (the INEGI code of the Mexican
      state of birth, e.g. "16"), or against "NE" (born abroad) when ``birth_country`` is given and is not
      MX. Nothing known about the place of birth: not compared.

    ``curp`` must already be valid (see :func:`validate_curp`).
    """
    curp = _compact_curp(curp)
    out: list[str] = []
    if birth_date is not None and birth_date_precision != "estimated":
        written = curp_birth_date(curp)
        if birth_date_precision == "year":
            same = written.year == birth_date.year
        elif birth_date_precision == "month":
            same = (written.year, written.month) == (birth_date.year, birth_date.month)
        else:
            same = written == birth_date
        if not same:
            out.append("birth_date")
    expected_sex = _sex_letter(sex)
    if expected_sex is not None and curp[10] != expected_sex:
        out.append("sex")
    surname_letter, given_letter = _surname_initial(first_surname), _given_name_initial(given_names)
    if (surname_letter and curp[0] != surname_letter) or (given_letter and curp[3] != given_letter):
        out.append("name")
    expected_state: str | None = None
    if birth_place_state_code:
        expected_state = CURP_STATE_BY_INEGI.get(birth_place_state_code)
    elif birth_country and birth_country.upper() != "MX":
        expected_state = CURP_BORN_ABROAD
    if expected_state is not None and curp[11:13] != expected_state:
        out.append("birth_state")
    return out


def curp_flag_labels(flags: Iterable[str]) -> list[str]:
    """Human, translated labels of CURP flags ("date of birth", "sex"), in the order given."""
    return [str(CURP_FLAG_LABELS.get(f, f)) for f in flags]


# --- Honduran DNI -------------------------------------------------------------------------------------

_HN_DNI = re.compile(r"^(\d{4})-?(\d{4})-?(\d{5})$")


def validate_hn_dni(value: str) -> str:
    """A structurally valid Honduran DNI as "DDMM-YYYY-NNNNN", or a ValidationError.

    The DNI (13 digits) is the municipality where the birth was registered (department + municipality, as in
    the INE/RNP code list loaded into ``geo.AdminArea``), the year of registration, and a 5-digit serial.
    Accepted input: "0801-1990-12345", "0801199012345" or with spaces. There is no check digit to verify.
    """
    from rumbo.geo.models import AdminArea

    compact = re.sub(r"[\s.]", "", str(value or ""))
    match = _HN_DNI.match(compact)
    if match is None:
        raise ValidationError(
            _("A Honduran DNI has 13 digits, written 0801-1990-12345 or 0801199012345."), code="dni_format"
        )
    municipality, year, serial = match.groups()
    if not AdminArea.objects.filter(country="HN", level=2, code=municipality).exists():
        raise ValidationError(
            _("The first four digits of a Honduran DNI must be a Honduran municipality code (e.g. 0801)."),
            code="dni_municipality",
        )
    if not 1900 <= int(year) <= dates.today().year:
        raise ValidationError(
            _("Digits 5 to 8 of a Honduran DNI must be a year between 1900 and this year."), code="dni_year"
        )
    return f"{municipality}-{year}-{serial}"


# --- Other documents ----------------------------------------------------------------------------------

_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")
_MATRICULA = re.compile(r"^[A-Z0-9]{5,20}$")
_CONSTANCIA = re.compile(r"^[A-Z0-9][A-Z0-9/\-]{3,39}$")
_SEPARATORS = re.compile(r"[\s\-.]")


def validate_passport(value: str) -> str:
    """Passport number, lenient: 5–20 letters or digits once spaces, dashes and dots are removed (the
    formats of all issuing countries differ; Mexico: 1 letter + 8 digits, Honduras: 1–2 letters + 7
    digits). Returned upper-case without separators."""
    number = _SEPARATORS.sub("", str(value or "")).upper()
    if not _PASSPORT.match(number):
        raise ValidationError(_("A passport number has 5 to 20 letters or digits."), code="passport_format")
    return number


def validate_matricula(value: str) -> str:
    """Matrícula consular number, lenient: 5–20 letters or digits once separators are removed (current
    high-security matrículas print 9–10 digits; older ones mix letters). Returned upper-case."""
    number = _SEPARATORS.sub("", str(value or "")).upper()
    if not _MATRICULA.match(number):
        raise ValidationError(
            _("A matrícula consular number has 5 to 20 letters or digits."), code="matricula_format"
        )
    return number


def validate_inm_constancia(value: str) -> str:
    """INM "constancia de recepción de mexicanos repatriados" folio, lenient: 4–40 characters of letters,
    digits, "-" and "/" (folios differ between repatriation points), spaces removed, upper-case."""
    number = re.sub(r"\s", "", str(value or "")).upper()
    if not _CONSTANCIA.match(number):
        raise ValidationError(
            _("A constancia folio has 4 to 40 letters, digits, dashes or slashes."), code="constancia_format"
        )
    return number


def validate_other_document(value: str) -> str:
    """Any other document: 1–40 characters, surrounding spaces removed."""
    number = str(value or "").strip()
    if not number or len(number) > 40:
        raise ValidationError(_("Enter a document number of at most 40 characters."), code="document_format")
    return number


def validate_document_number(kind: str, value: str) -> str:
    """Validate ``value`` as a document of ``kind`` (a ``DocumentKind`` value); returns the canonical form."""
    validators = {
        "curp": validate_curp,
        "passport": validate_passport,
        "matricula": validate_matricula,
        "inm_constancia": validate_inm_constancia,
        "hn_dni": validate_hn_dni,
        "other": validate_other_document,
    }
    if kind not in validators:
        raise ValidationError(_("Choose a valid document type."), code="document_kind")
    return validators[kind](value)


# --- Phones -------------------------------------------------------------------------------------------


#: A number written with digits and the usual separators only, with or without a leading "+".
_PLAIN_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]*")
_NON_DIGIT = re.compile(r"[^0-9]")


@lru_cache(maxsize=256)  # bounded: the region may come from a request
def _plain_region(region: str) -> tuple[int, str, frozenset[int]] | None:
    """(country code, the same as text, national number lengths) of a region whose numbers are read
    without a national prefix (Mexico since 2019, Central America); None for the others (the US strips a
    leading "1"), and for an unknown region."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or metadata.national_prefix_for_parsing or metadata.country_code is None:
        return None
    if metadata.general_desc is None:
        return None
    lengths = frozenset(metadata.general_desc.possible_length or ())
    return metadata.country_code, str(metadata.country_code), lengths


def parse_phone(raw: str, region: str) -> phonenumbers.PhoneNumber:
    """``phonenumbers.parse(raw, region)``, with a short way for the plain forms most numbers come in
    ("443 123 4567", "(443) 123-4567", "+52 443 123 4567" in Mexico): the national number of a region that
    uses no national prefix is then the digits themselves. The result is the same ``PhoneNumber``
    (``test_validators.test_parse_phone_matches_phonenumbers`` compares the two on many spellings); every
    other form goes to phonenumbers' general parser, which costs about 25 µs a number (an import reads a
    hundred thousand)."""
    plain = _plain_region(region) if _PLAIN_PHONE.fullmatch(raw) else None
    if plain is not None:
        code, code_text, lengths = plain
        digits = _NON_DIGIT.sub("", raw)
        national: str | None = digits
        if raw.startswith("+"):
            national = digits[len(code_text) :] if digits.startswith(code_text) else None
        elif digits.startswith(code_text):
            national = None  # perhaps the country code written without "+": phonenumbers decides
        if national and national[0] != "0" and len(national) in lengths:
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return phonenumbers.parse(raw, region)


#: The number types phonenumbers tries, in its order (``phonenumberutil._number_type_helper``): a number is
#: valid when it matches the region's general pattern and one of these.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_Desc = tuple[frozenset[int], re.Pattern[str]]


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


@lru_cache(maxsize=256)
def _validity_rules(country_code: int) -> tuple[_Desc | None, tuple[_Desc, ...]] | None:
    """The general pattern and the number types' patterns of the one region of ``country_code``, compiled
    once; None for a code shared by several regions (+1, +7, +44…: phonenumbers first finds the region) or
    unknown."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1 or regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0])
    if metadata is None:
        return None
    types = (_desc(getattr(metadata, name)) for name in _NUMBER_TYPES)
    return _desc(metadata.general_desc), tuple(t for t in types if t is not None)


def _matches(nsn: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


def is_valid_phone(parsed: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number(parsed)``, with each pattern of a one-region country code compiled
    once and tried directly: phonenumbers looks every pattern up again for each number (a valid Mexican
    number: 13.8 µs there, 4.9 µs here). ``test_validators.test_is_valid_phone_matches_phonenumbers``
    compares the two."""
    rules = None if parsed.italian_leading_zero else _validity_rules(parsed.country_code)
    if rules is None:
        return bool(phonenumbers.is_valid_number(parsed))
    general, types = rules
    nsn = str(parsed.national_number)
    if general is None or not _matches(nsn, general):
        return False
    return any(_matches(nsn, desc) for desc in types)


def normalize_phone(value: str, default_region: str = "MX") -> str:
    """The number in E.164 ("+524431234567"), or a ValidationError.

    Numbers without a "+" are read as numbers of ``default_region``. Mexican mobiles typed the pre-2019 way
    (044/045 or "+52 1" before the ten digits) are accepted and rewritten without the old prefix.
    """
    raw = str(value or "").strip()
    if not raw:
        raise ValidationError(_("Enter a phone number."), code="phone_required")
    try:
        parsed = parse_phone(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _(
                "This is not a phone number. "
                "Write it with its area code, e.g. 443 123 4567 or +1 310 555 1234."
            ),
            code="phone_format",
        ) from exc
    valid = is_valid_phone(parsed)  # checked once: it tries every number type's pattern
    if not valid and parsed.country_code == 52:
        national = str(parsed.national_number)
        if len(national) == 11 and national.startswith("1"):
            parsed = phonenumbers.parse("+52" + national[1:], None)
            valid = is_valid_phone(parsed)
    if not valid:
        raise ValidationError(
            _("This phone number does not exist in its country: check the digits and the country code."),
            code="phone_invalid",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_can_receive_sms(e164: str) -> bool:
    """True when the number is a mobile (or may be one: Mexico and the US do not tell fixed and mobile
    numbers apart)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


# --- Countries and languages --------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a row names three or four countries: a lookup each costs microseconds
def _is_country(alpha_2: str) -> bool:
    return pycountry.countries.get(alpha_2=alpha_2) is not None


@lru_cache(maxsize=4096)
def _is_language(alpha_3: str) -> bool:
    return pycountry.languages.get(alpha_3=alpha_3) is not None


def validate_country(code: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-case ("mx" → "MX"), or a ValidationError."""
    value = str(code or "").strip().upper()
    if len(value) != 2 or not _is_country(value):
        raise ValidationError(_("Choose a valid country."), code="country")
    return value


#: English and Spanish names of the languages most often met in Mexico and Central America. pycountry has
#: no Spanish names for most Indigenous languages, and some ISO names are of one variety ("mix" is
#: Mixtepec Mixtec): offices use the family name, so these labels say what caseworkers say. ``nah`` and
#: ``oto`` are ISO 639-5 collective codes (Nahuatl, Otomian), accepted because no single ISO 639-3 code
#: stands for "Náhuatl" or "Otomí" as people name them.
COMMON_LANGUAGES: dict[str, tuple[str, str]] = {
    "spa": ("Spanish", "Español"),
    "eng": ("English", "Inglés"),
    "nah": ("Nahuatl", "Náhuatl"),
    "yua": ("Yucatec Maya", "Maya yucateco"),
    "tzo": ("Tsotsil", "Tsotsil"),
    "tzh": ("Tseltal", "Tseltal"),
    "mix": ("Mixtec", "Mixteco"),
    "zap": ("Zapotec", "Zapoteco"),
    "oto": ("Otomi", "Otomí"),
    "maz": ("Mazahua", "Mazahua"),
    "tsz": ("Purépecha", "Purépecha (p'urhépecha)"),
    "top": ("Totonac", "Totonaco"),
    "ctu": ("Ch'ol", "Ch'ol"),
    "toj": ("Tojolabal", "Tojolabal"),
    "hch": ("Huichol (Wixárika)", "Huichol (wixárika)"),
    "tar": ("Tarahumara (Rarámuri)", "Tarahumara (rarámuri)"),
    "amu": ("Amuzgo", "Amuzgo"),
    "tcf": ("Tlapanec (Me'phaa)", "Tlapaneco (me'phaa)"),
    "mto": ("Mixe (Ayuuk)", "Mixe (ayuuk)"),
    "maa": ("Mazatec", "Mazateco"),
    "quc": ("K'iche'", "K'iche'"),
    "kek": ("Q'eqchi'", "Q'eqchi'"),
    "mam": ("Mam", "Mam"),
    "cak": ("Kaqchikel", "Kaqchikel"),
    "ixl": ("Ixil", "Ixil"),
    "cab": ("Garifuna", "Garífuna"),
    "miq": ("Miskito", "Misquito"),
    "jic": ("Tol (Tolupan)", "Tol (tolupán)"),
    "pay": ("Pech", "Pech"),
    "ppl": ("Pipil (Nawat)", "Pipil (náhuat)"),
    "fra": ("French", "Francés"),
    "hat": ("Haitian Creole", "Criollo haitiano"),
    "por": ("Portuguese", "Portugués"),
}
_COLLECTIVE_LANGUAGES = frozenset({"nah", "oto"})


def validate_language(code: str) -> str:
    """An ISO 639-3 language code, lower-case ("TZO" → "tzo"), or a ValidationError.

    Also accepts the ISO 639-5 collective codes listed in :data:`COMMON_LANGUAGES` (``nah``, ``oto``).
    """
    value = str(code or "").strip().lower()
    if len(value) == 3 and (value in _COLLECTIVE_LANGUAGES or _is_language(value)):
        return value
    raise ValidationError(_("Choose a valid language (ISO 639-3 code, e.g. spa, tzo, cab)."), code="language")


def _ui_language() -> str:
    return (get_language() or "es").split("-")[0]


@cache
def _pycountry_gettext(domain: str, lang: str) -> Any:
    import gettext

    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True).gettext


def language_name(code: str) -> str:
    """Name of a language in the UI language: the hand-written names first, then pycountry's translation."""
    lang = _ui_language()
    if code in COMMON_LANGUAGES:
        english, spanish = COMMON_LANGUAGES[code]
        return spanish if lang == "es" else english
    record = pycountry.languages.get(alpha_3=code)
    if record is None:
        return code
    return str(_pycountry_gettext("iso639-3", lang)(record.name))


def language_choices(*, full: bool = False) -> list[tuple[str, str]]:
    """(code, name) pairs for pickers, names in the UI language.

    By default the common languages of Mexico and Central America (Spanish and English first, then by
    name); ``full=True`` appends every living ISO 639-3 language.
    """
    common = [(c, language_name(c)) for c in COMMON_LANGUAGES]
    choices = common[:2] + sorted(common[2:], key=lambda pair: fold(pair[1]))
    if full:
        rest = [
            (lang.alpha_3, language_name(lang.alpha_3))
            for lang in pycountry.languages
            if getattr(lang, "type", "") == "L" and lang.alpha_3 not in COMMON_LANGUAGES
        ]
        choices += sorted(rest, key=lambda pair: fold(pair[1]))
    return choices


def country_name(code: str) -> str:
    """Name of an ISO 3166-1 alpha-2 country in the UI language (pycountry's translations)."""
    record = pycountry.countries.get(alpha_2=code)
    if record is None:
        return code
    return str(_pycountry_gettext("iso3166-1", _ui_language())(record.name))


#: Countries listed first in country pickers.
COMMON_COUNTRIES = ("MX", "US", "GT", "HN", "SV", "NI", "CU", "HT", "VE", "CO", "EC", "CA")


def country_choices() -> list[tuple[str, str]]:
    """(alpha-2, name) pairs in the UI language: the countries of the region first, then all by name."""
    first = [(c, country_name(c)) for c in COMMON_COUNTRIES]
    rest = sorted(
        (
            (c.alpha_2, country_name(c.alpha_2))
            for c in pycountry.countries
            if c.alpha_2 not in COMMON_COUNTRIES
        ),
        key=lambda pair: fold(pair[1]),
    )
    return first + rest


# --- Dates of birth -----------------------------------------------------------------------------------

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


def validate_birth_date(value: datetime.date | None, precision: str = "day") -> datetime.date | None:
    """A plausible date of birth, with the unknown parts set to 1 as ``DatePrecision`` says, or None.

    Not in the future (today in the current time zone), not before 1900. ``month`` precision keeps year and
    month (day → 1); ``year`` keeps the year (1 January); ``day`` and ``estimated`` keep the date as given.
    """
    if value is None:
        return None
    if precision not in ("day", "month", "year", "estimated"):
        raise ValidationError(_("Choose how precise the date of birth is."), code="birth_precision")
    if value > dates.today():
        raise ValidationError(_("The date of birth cannot be in the future."), code="birth_future")
    if value < EARLIEST_BIRTH_DATE:
        raise ValidationError(_("The date of birth cannot be before 1900."), code="birth_too_early")
    if precision == "month":
        return value.replace(day=1)
    if precision == "year":
        return value.replace(month=1, day=1)
    return value


def birth_date_from_age(age: int, *, today: datetime.date | None = None) -> datetime.date:
    """An estimated date of birth (1 January) for someone who says they are ``age`` years old."""
    if not 0 <= age <= 120:
        raise ValidationError(_("Enter an age between 0 and 120."), code="age_range")
    today = today or dates.today()
    return datetime.date(today.year - age, 1, 1)


# --- Error shapes -------------------------------------------------------------------------------------


def error_tree(error: ValidationError) -> dict[str, Any]:
    """Turn a ValidationError with dotted keys ("phones.1.number") into nested dicts and lists.

    ``{"phones.1.number": ["…"]}`` → ``{"phones": [{}, {"number": ["…"]}]}``, the shape DRF uses for nested
    serializers. Errors without a field go under ``"non_field_errors"``.
    """
    tree: dict[str, Any] = {}
    messages: Mapping[str, list[str]] = (
        error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
    )
    for key, msgs in messages.items():
        parts = key.split(".") if key != "__all__" else ["non_field_errors"]
        node: Any = tree
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = parts[i + 1] if not last else None
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append({})
                if last:
                    node[idx] = list(msgs)
                else:
                    if nxt is not None and nxt.isdigit() and not isinstance(node[idx], list):
                        node[idx] = node[idx] or []
                    node = node[idx]
            else:
                if last:
                    node[part] = list(msgs)
                else:
                    default: Any = [] if nxt is not None and nxt.isdigit() else {}
                    node = node.setdefault(part, default)
    return tree
