"""Tests of the shared validators: CURP and its cross-checks, Honduran DNI, phones, documents, countries,
languages, dates of birth, error shapes."""

from __future__ import annotations

import datetime
import random
from typing import Any

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from stdnum import exceptions as stdnum_exceptions
from stdnum.mx import curp as stdnum_curp

from rumbo.people.tests.utils import JOSE_BIRTH, JOSE_CURP, make_curp
from rumbo.people.validators import (
    CURP_STATE_BY_INEGI,
    _stdnum_validate,
    birth_date_from_age,
    country_choices,
    curp_birth_date,
    curp_inconsistencies,
    error_tree,
    is_valid_phone,
    language_choices,
    language_name,
    normalize_phone,
    parse_phone,
    phone_can_receive_sms,
    validate_birth_date,
    validate_country,
    validate_curp,
    validate_document_number,
    validate_hn_dni,
    validate_inm_constancia,
    validate_language,
    validate_matricula,
    validate_passport,
)


def code_of(exc: pytest.ExceptionInfo[ValidationError]) -> str | None:
    return exc.value.code


# --- CURP -------------------------------------------------------------------------------------------


def test_valid_curp_is_returned_upper_case_without_separators():
    spaced = f"{JOSE_CURP[:4]} {JOSE_CURP[4:10]}-{JOSE_CURP[10:]}".lower()
    assert validate_curp(spaced) == JOSE_CURP


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("HELJ900115HMNRPS0", "curp_length"),
        ("1ELJ900115HMNRPS04", "curp_format"),
        ("HELJ901315HMNRPS04", "curp_format"),  # month 13
        ("HELJ900115HZZRPS04", "curp_format"),  # no such state
        ("", "curp_length"),
    ],
)
def test_malformed_curps_are_rejected_with_a_reason(value, code):
    with pytest.raises(ValidationError) as exc:
        validate_curp(value)
    assert code_of(exc) == code


def test_curp_with_a_wrong_check_digit_is_rejected():
    wrong = JOSE_CURP[:-1] + str((int(JOSE_CURP[-1]) + 1) % 10)
    with pytest.raises(ValidationError) as exc:
        validate_curp(wrong)
    assert code_of(exc) == "curp_checksum"


def test_non_binary_curp_is_accepted():
    curp = make_curp(given_names="Alex", first_surname="Ruiz", birth_date=JOSE_BIRTH, sex="X")
    assert curp[10] == "X"
    assert validate_curp(curp) == curp


def test_curp_state_codes_come_from_the_inegi_table():
    assert CURP_STATE_BY_INEGI["16"] == "MN"
    assert CURP_STATE_BY_INEGI["09"] == "DF"
    assert len(CURP_STATE_BY_INEGI) == 32


def _check(curp: str = JOSE_CURP, **kw: Any) -> list[str]:
    values: dict[str, Any] = {
        "given_names": "José",
        "first_surname": "Hernández",
        "second_surname": "López",
        "birth_date": JOSE_BIRTH,
        "sex": "M",
    }
    values.update(kw)
    return curp_inconsistencies(curp, **values)


def test_consistent_curp_has_no_flags():
    assert _check(birth_place_state_code="16") == []


def test_curp_disagreeing_with_birth_date_and_sex_is_flagged():
    assert _check(birth_date=datetime.date(1990, 1, 16), sex="F") == ["birth_date", "sex"]


def test_curp_disagreeing_with_name_initials_is_flagged():
    assert _check(first_surname="Martínez") == ["name"]
    assert _check(given_names="Pedro") == ["name"]


def test_curp_name_check_skips_jose_maria_and_particles():
    curp = make_curp(
        given_names="María Guadalupe", first_surname="de la Cruz", birth_date=JOSE_BIRTH, sex="F"
    )
    assert curp.startswith("D")  # the helper is naive about particles; RENAPO writes C
    renapo = "C" + curp[1:3] + "G" + curp[4:17]
    from stdnum.mx import curp as stdnum_curp

    renapo += stdnum_curp.calc_check_digit(renapo)
    assert (
        curp_inconsistencies(
            renapo,
            given_names="María Guadalupe",
            first_surname="de la Cruz",
            birth_date=JOSE_BIRTH,
            sex="F",
        )
        == []
    )
    assert curp_inconsistencies(
        renapo, given_names="María", first_surname="Cruz", birth_date=JOSE_BIRTH, sex="F"
    ) == ["name"]  # a lone María is not skipped: M expected, G written


def test_curp_with_n_tilde_surname_uses_x():
    curp = make_curp(given_names="Ana", first_surname="Xolo", birth_date=JOSE_BIRTH, sex="F")
    assert (
        curp_inconsistencies(curp, given_names="Ana", first_surname="Ñuñez", birth_date=JOSE_BIRTH, sex="F")
        == []
    )


def test_curp_birth_state_is_compared_with_the_state_or_abroad():
    assert _check(birth_place_state_code="14") == ["birth_state"]
    assert _check(birth_country="US") == ["birth_state"]  # a person born abroad has NE
    abroad = make_curp(
        given_names="José",
        first_surname="Hernández",
        second_surname="López",
        birth_date=JOSE_BIRTH,
        state="NE",
    )
    assert _check(abroad, birth_country="US") == []
    assert _check() == []  # nothing known about the place: not compared


def test_approximate_birth_dates_compare_only_known_parts():
    assert _check(birth_date=datetime.date(1990, 1, 1), birth_date_precision="month") == []
    assert _check(birth_date=datetime.date(1990, 2, 1), birth_date_precision="month") == ["birth_date"]
    assert _check(birth_date=datetime.date(1990, 1, 1), birth_date_precision="year") == []
    assert _check(birth_date=datetime.date(1991, 1, 1), birth_date_precision="year") == ["birth_date"]
    assert _check(birth_date=datetime.date(1980, 1, 1), birth_date_precision="estimated") == []
    assert _check(birth_date=None) == []


def test_unrecorded_sex_is_not_compared():
    assert _check(sex="U") == []


def test_curp_century_comes_from_position_17():
    born_2005 = datetime.date(2005, 3, 4)
    curp = make_curp(given_names="Luis", first_surname="Pérez", birth_date=born_2005)
    assert curp[16] == "A"
    assert (
        curp_inconsistencies(curp, given_names="Luis", first_surname="Pérez", birth_date=born_2005, sex="M")
        == []
    )


# --- Honduran DNI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0801-1990-12345", "0801199012345", " 0801 1990 12345 "])
def test_honduran_dni_is_canonical(db, value):
    assert validate_hn_dni(value) == "0801-1990-12345"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0801-1990-1234", "dni_format"),
        ("08011990123456", "dni_format"),
        ("AB01-1990-12345", "dni_format"),
        ("9999-1990-12345", "dni_municipality"),
        ("0801-1899-12345", "dni_year"),
    ],
)
def test_bad_honduran_dni_is_rejected_with_a_reason(db, value, code):
    with pytest.raises(ValidationError) as exc:
        validate_hn_dni(value)
    assert code_of(exc) == code


def test_honduran_dni_year_cannot_be_in_the_future(db):
    next_year = timezone.localdate().year + 1
    with pytest.raises(ValidationError) as exc:
        validate_hn_dni(f"0801{next_year}12345")
    assert code_of(exc) == "dni_year"


# --- other documents --------------------------------------------------------------------------------


def test_lenient_document_checks():
    assert validate_passport("g 1234-5678") == "G12345678"
    assert validate_matricula("123 456 789") == "123456789"
    assert validate_inm_constancia("tij/2024-00123") == "TIJ/2024-00123"
    for func, bad in (
        (validate_passport, "AB1"),
        (validate_matricula, "12#45678"),
        (validate_inm_constancia, "a"),
    ):
        with pytest.raises(ValidationError):
            func(bad)


def test_document_number_dispatches_on_kind(db):
    assert validate_document_number("curp", JOSE_CURP.lower()) == JOSE_CURP
    assert validate_document_number("other", "  Acta 123 ") == "Acta 123"
    with pytest.raises(ValidationError) as exc:
        validate_document_number("driving_licence", "X")
    assert code_of(exc) == "document_kind"


def _damaged_curps(rng: random.Random) -> list[str]:
    """Good CURPs, and the same with one part spoilt the ways stdnum tells apart."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(3000):
        body = (
            "".join(rng.choice(letters) for _ in range(4))
            + f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + rng.choice("HMX")
            + rng.choice(["MN", "DF", "NE", "JC", "ZZ", "XX"])
            + "".join(rng.choice(letters) for _ in range(3))
            + rng.choice("0123456789A")
        )
        curp = body + stdnum_curp.calc_check_digit(body)
        damage = rng.random()
        if damage < 0.1:
            curp = rng.choice(["BUEI", "CACA", "PUTO", "MAME"]) + curp[4:]  # words RENAPO replaces
        elif damage < 0.2:
            curp = curp[:6] + rng.choice(["13", "00", "02"]) + rng.choice(["30", "31", "00"]) + curp[10:]
        elif damage < 0.3:
            curp = curp[:-1] + str((int(curp[-1]) + 1) % 10)  # check digit
        elif damage < 0.4:
            i = rng.randrange(18)
            curp = curp[:i] + rng.choice("0123456789ÑABZ&") + curp[i + 1 :]
        elif damage < 0.45:
            curp = curp[: rng.randint(10, 17)]
        out.append(curp)
    return out


def test_curp_checks_match_stdnum():
    """The checks run on compact CURPs without stdnum's compaction raise exactly what stdnum raises."""
    rng = random.Random(18)
    outcomes = set()
    for curp in [*_damaged_curps(rng), JOSE_CURP]:
        try:
            stdnum_curp.validate(curp)
            expected: Any = None
        except stdnum_exceptions.ValidationError as exc:
            expected = type(exc)
        try:
            _stdnum_validate(curp)
            got: Any = None
        except stdnum_exceptions.ValidationError as exc:
            got = type(exc)
        assert got is expected, curp
        outcomes.add(expected)
        if expected is None:
            assert curp_birth_date(curp) == stdnum_curp.get_birth_date(curp)
    # Every outcome was met: good, wrong length, wrong format, wrong part, wrong check digit.
    assert len(outcomes) == 5


# --- phones -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("443 123 4567", "MX", "+524431234567"),
        ("(443) 123-4567", "MX", "+524431234567"),
        ("+52 1 55 1234 5678", "MX", "+525512345678"),  # pre-2019 mobile prefix
        ("+1 (310) 555-1234", "MX", "+13105551234"),
        ("3123-4567", "HN", "+50431234567"),
    ],
)
def test_phones_are_normalised_to_e164(value, region, expected):
    assert normalize_phone(value, region) == expected


@pytest.mark.parametrize(
    ("value", "code"), [("12345", "phone_invalid"), ("hola", "phone_format"), ("", "phone_required")]
)
def test_invalid_phones_are_rejected(value, code):
    with pytest.raises(ValidationError) as exc:
        normalize_phone(value)
    assert code_of(exc) == code


def _spellings(rng: random.Random) -> list[str]:
    """Numbers written the ways people write them, and many ways they should not."""
    out = []
    for _ in range(4000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 14)))
        if rng.random() < 0.6:  # mostly of a plausible length, with a plausible first digit
            digits = rng.choice("23456789") + digits[: rng.choice([7, 9, 10])]
        prefix = rng.choice(
            ["", "", "+", "+52", "+52 ", "52", "+504 ", "504", "+1 ", "1", "0", "044 ", "+52 1 "]
        )
        text = prefix + digits
        style = rng.random()
        if style < 0.25 and len(digits) == 10:
            text = f"{prefix}({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        elif style < 0.5:
            text = f"{prefix}{digits[:3]} {digits[3:6]} {digits[6:]}".strip()
        elif style < 0.6:
            text = f"{prefix}{digits[:4]}.{digits[4:]}-"
        elif style < 0.65:
            text = f" {text} ext. 12"
        elif style < 0.7:
            text = text.replace("1", "l", 1)
        out.append(text)
    return out


@pytest.mark.parametrize("region", ["MX", "HN", "GT", "SV", "US", "CO"])
def test_parse_phone_matches_phonenumbers(region, monkeypatch):
    """The short way for plain numbers gives exactly what phonenumbers' parser gives (or fails alike)."""
    rng = random.Random(region)
    spellings = [*_spellings(rng), "443 123 4567", "(443) 123-4567", "+52 443 123 4567", "+524431234567"]
    expected: list[Any] = []
    for text in spellings:
        try:
            expected.append(phonenumbers.parse(text, region))
        except phonenumbers.NumberParseException as exc:
            expected.append(exc.error_type)
    general = phonenumbers.parse
    calls: list[str] = []
    monkeypatch.setattr(phonenumbers, "parse", lambda text, *a: calls.append(text) or general(text, *a))
    for text, want in zip(spellings, expected, strict=True):
        try:
            got: Any = parse_phone(text, region)
        except phonenumbers.NumberParseException as exc:
            got = exc.error_type
        assert got == want, text
    short_ways = len(spellings) - len(calls)
    if region in ("US", "CO"):  # they strip a national prefix ("1", "0…"): always the general parser
        assert short_ways == 0
    else:
        assert short_ways > 200  # the short way was really taken


def test_is_valid_phone_matches_phonenumbers():
    """The compiled validity check answers as ``phonenumbers.is_valid_number`` for numbers of every length
    under every country code (one-region codes take the short way, shared ones phonenumbers' own)."""
    rng = random.Random(7)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    numbers = [
        phonenumbers.PhoneNumber(country_code=code, national_number=int(str(rng.randint(1, 9)) + digits))
        for code in codes
        for length in range(3, 14)
        for digits in ("".join(rng.choice("0123456789") for _ in range(length)) for _ in range(12))
    ]
    # Real numbers too, so that both answers occur often: examples of every type of every region.
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(example)
    numbers.append(phonenumbers.parse("+39 06 1234 5678", None))  # Italian leading zero: phonenumbers' way
    answers = [(is_valid_phone(n), bool(phonenumbers.is_valid_number(n))) for n in numbers]
    assert [mine for mine, _ in answers] == [theirs for _, theirs in answers]
    valid = sum(theirs for _, theirs in answers)
    assert valid > 2000 and len(answers) - valid > 20000


def test_sms_capability_by_number_type():
    assert phone_can_receive_sms("+524431234567")  # Mexico: fixed line or mobile
    assert phone_can_receive_sms("+50431234567")  # Honduran mobile
    assert not phone_can_receive_sms("+50422345678")  # Honduran landline
    assert not phone_can_receive_sms("not a number")


# --- countries and languages ------------------------------------------------------------------------


def test_country_codes():
    assert validate_country("mx") == "MX"
    for bad in ("XX", "MEX", ""):
        with pytest.raises(ValidationError):
            validate_country(bad)


def test_language_codes_include_indigenous_and_collective_codes():
    for code in ("spa", "TZO", "tzh", "mix", "zap", "cab", "yua", "maz", "nah", "oto"):
        assert validate_language(code) == code.lower()
    for bad in ("es", "xxx", ""):
        with pytest.raises(ValidationError):
            validate_language(bad)


def test_language_names_follow_the_ui_language():
    with translation.override("es"):
        names = dict(language_choices())
        assert names["tzo"] == "Tsotsil"
        assert names["cab"] == "Garífuna"
        assert names["mix"] == "Mixteco"
        assert language_name("deu") == "Alemán"  # from pycountry's catalogue
        assert list(names)[:2] == ["spa", "eng"]
    with translation.override("en"):
        assert dict(language_choices())["mix"] == "Mixtec"
        assert language_name("deu") == "German"


def test_full_language_list_has_every_living_language():
    full = language_choices(full=True)
    assert len(full) > 7000
    assert len({code for code, _name in full}) == len(full)


def test_country_choices_put_the_region_first_in_the_ui_language():
    with translation.override("es"):
        choices = country_choices()
        assert choices[0] == ("MX", "México")
        assert dict(choices)["DE"] == "Alemania"
        assert len(choices) == len({c for c, _ in choices}) > 240


# --- dates of birth ---------------------------------------------------------------------------------


def test_birth_date_bounds():
    today = timezone.localdate()
    assert validate_birth_date(today) == today
    with pytest.raises(ValidationError) as exc:
        validate_birth_date(today + datetime.timedelta(days=1))
    assert code_of(exc) == "birth_future"
    with pytest.raises(ValidationError) as exc:
        validate_birth_date(datetime.date(1899, 12, 31))
    assert code_of(exc) == "birth_too_early"
    assert validate_birth_date(None) is None


def test_birth_date_keeps_only_the_known_parts():
    value = datetime.date(1985, 7, 23)
    assert validate_birth_date(value, "day") == value
    assert validate_birth_date(value, "month") == datetime.date(1985, 7, 1)
    assert validate_birth_date(value, "year") == datetime.date(1985, 1, 1)
    assert validate_birth_date(value, "estimated") == value
    with pytest.raises(ValidationError):
        validate_birth_date(value, "century")


def test_birth_date_from_age():
    assert birth_date_from_age(30, today=datetime.date(2025, 6, 1)) == datetime.date(1995, 1, 1)
    with pytest.raises(ValidationError):
        birth_date_from_age(121)


# --- error shapes -----------------------------------------------------------------------------------


def test_error_tree_nests_dotted_keys():
    error = ValidationError({"phones.1.number": ["bad"], "given_names": ["x"], "nationalities.0": ["y"]})
    assert error_tree(error) == {
        "phones": [{}, {"number": ["bad"]}],
        "given_names": ["x"],
        "nationalities": [["y"]],
    }
    assert error_tree(ValidationError("whole")) == {"non_field_errors": ["whole"]}
