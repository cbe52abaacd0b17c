from rumbo.lib.testing.texts import random_texts
from rumbo.lib.text import fold, prefix_upper_bound, tokens


def test_fold_removes_accents_case_and_punctuation():
    assert fold("  José  NÚÑEZ-Pérez ") == "jose nunez perez"
    assert fold("Güémez D'Ávila") == "guemez d avila"


def test_tokens_are_unique_and_ordered():
    assert tokens("María María de la Luz") == ["maria", "de", "la", "luz"]


def test_prefix_upper_bound_is_just_above_every_extension():
    upper = prefix_upper_bound("hern")
    assert "hern" < "hernandez" < upper
    assert upper <= "hero"


def _reference_fold(value: str) -> str:
    """``fold`` as it was written first, for every input: decompose, drop the accents, keep letters and
    digits."""
    import re
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", stripped).strip()


def test_fold_short_ways_give_the_general_answer():
    """ASCII text skips the decomposition: the result is the same for every kind of character."""
    texts = random_texts(30_000, seed=3)
    assert sum(t.isascii() for t in texts) > 1000  # both ways taken
    assert [fold(t) for t in texts] == [_reference_fold(t) for t in texts]


def test_clean_text_collapses_every_kind_of_white_space():
    """Text without a run of spaces or any non-printable character skips the regular expression: same
    result as always running it, for tabs, line breaks and Unicode spaces too."""
    import re

    from rumbo.lib.validation import clean_text

    spaces = re.compile(r"\s+")
    texts = random_texts(30_000, seed=3)
    assert [clean_text(t, 100) for t in texts] == [spaces.sub(" ", t).strip() for t in texts]
    assert clean_text("a\u00a0b", 10) == "a b" and clean_text(" a\tb ", 10) == "a b"
