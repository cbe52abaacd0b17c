"""Name variation rules that matching will rely on."""

import pytest

from rumbo.people.names import given_name_forms, phonetic, phonetic_keys, surname_words


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("María Guadalupe", {"maria", "guadalupe"}),
        ("Ma. Guadalupe", {"maria", "guadalupe"}),
        ("Lupita", {"lupita", "guadalupe"}),
        ("Chuy", {"chuy", "jesus"}),
        ("Pepe", {"pepe", "jose"}),
        ("Paco", {"paco", "francisco"}),
        ("Pancho", {"pancho", "francisco"}),
        ("Nacho", {"nacho", "ignacio"}),
        ("Chayo", {"chayo", "rosario"}),
        ("Lalo", {"lalo", "eduardo"}),
        ("Memo", {"memo", "guillermo"}),
        ("Quique", {"quique", "enrique"}),
        ("Concha", {"concha", "concepcion"}),
        ("María de los Ángeles", {"maria", "angeles"}),
    ],
)
def test_given_name_forms_cover_abbreviations_and_nicknames(written, expected):
    assert expected <= given_name_forms(written)


def test_beto_may_stand_for_several_names():
    assert {"alberto", "roberto", "humberto"} <= given_name_forms("Beto")


def test_surname_words_drop_particles_and_split_hyphens():
    assert surname_words("De la Cruz-Ávila", "del Río") == ["cruz", "avila", "rio"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hernández", "Ernandes"),  # silent h, s/z
        ("Vázquez", "Basques"),  # b/v, qu, s/z
        ("Cervantes", "Serbantes"),  # c/s before e, b/v
        ("Villalobos", "Biyalobos"),  # ll/y
        ("Ximena", "Jimena"),  # x/j
        ("Gerardo", "Jerardo"),  # g/j before e
        ("Ruiz", "Ruis"),
        ("Yáñez", "Llanes"),  # ll/y, ñ, s/z
        ("Guillermo", "Guiyermo"),
        ("Carrillo", "Cariyo"),
    ],
)
def test_phonetic_confusions_share_a_key(a, b):
    assert phonetic(a) == phonetic(b)


@pytest.mark.parametrize(("a", "b"), [("Hernández", "Fernández"), ("Ruiz", "Ríos"), ("Chávez", "Álvarez")])
def test_different_names_keep_different_keys(a, b):
    assert phonetic(a) != phonetic(b)


def test_initial_x_may_sound_like_s():
    assert phonetic("Sochitl") in phonetic_keys("Xóchitl")
    assert phonetic("Jochitl") in phonetic_keys("Xóchitl")
