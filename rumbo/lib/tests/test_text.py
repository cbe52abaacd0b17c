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
