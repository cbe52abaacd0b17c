"""Synthetic CURPs follow RENAPO's rules and pass stdnum's check; Honduran DNIs have the printed shape."""

from __future__ import annotations

import pytest
from stdnum.mx import curp as stdnum_curp

from rumbo.demo.identity import build_curp, hn_dni


def curp(**kwargs: object) -> str:
    values: dict[str, object] = {
        "second_surname": "",
        "birth_year": 1990,
        "birth_month": 5,
        "birth_day": 17,
        "sex": "M",
        "state_code": "MN",
    }
    values.update(kwargs)
    return build_curp(**values)  # type: ignore[arg-type]


def test_curp_matches_the_published_renapo_example():
    # Gloria Hernández García, born 27 April 1956 in Veracruz (the example RENAPO's rules are taught with).
    value = curp(
        given_names="Gloria",
        first_surname="Hernández",
        second_surname="García",
        birth_year=1956,
        birth_month=4,
        birth_day=27,
        sex="F",
        state_code="VZ",
    )
    assert value == "HEGG560427MVZRRL04"


def test_maria_and_jose_give_way_to_the_second_given_name():
    assert curp(given_names="María Guadalupe", first_surname="López", second_surname="Pérez")[3] == "G"
    assert curp(given_names="José de Jesús", first_surname="López", second_surname="Pérez")[3] == "J"
    assert curp(given_names="José Luis", first_surname="López", second_surname="Pérez")[3] == "L"
    assert curp(given_names="María", first_surname="López", second_surname="Pérez")[3] == "M"


def test_particles_of_compound_surnames_are_skipped():
    value = curp(given_names="Juan", first_surname="De la Cruz", second_surname="Del Ángel")
    assert value[:4] == "CUAJ"
    assert value[13:15] == "RN"


def test_missing_second_surname_and_enye_become_x():
    value = curp(given_names="Juan", first_surname="Núñez", second_surname="")
    assert value[:4] == "NUXJ"
    assert value[13:16] == "XXN"  # Ñ is written X, no second surname gives X


def test_inconvenient_words_get_an_x_as_second_letter():
    value = curp(given_names="Óscar", first_surname="Puente", second_surname="Torres")
    assert value[:4] == "PXTO"
    assert stdnum_curp.is_valid(value)


def test_differentiator_is_a_digit_before_2000_and_a_letter_after():
    before = curp(given_names="Ana", first_surname="Soto", birth_year=1999, sex="F")
    after = curp(given_names="Ana", first_surname="Soto", birth_year=2001, sex="F")
    assert before[16].isdigit()
    assert after[16].isalpha()
    assert stdnum_curp.get_birth_date(after).year == 2001


@pytest.mark.parametrize("state", ["AS", "DF", "MN", "JC", "OC", "GR", "CS", "NE"])
def test_every_built_curp_passes_stdnum(state):
    for index in range(10):
        value = curp(given_names="Miguel Ángel", first_surname="Ibarra", second_surname="Ñeco",
                     state_code=state, differentiator_index=index)  # fmt: skip
        assert stdnum_curp.is_valid(value), value
        assert value[11:13] == state


def test_honduran_dni_is_municipality_year_and_serial():
    assert hn_dni("0801", 1990, 123) == "0801-1990-00123"
