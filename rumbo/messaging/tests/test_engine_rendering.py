"""Template variables: checked when saved, rendered fast without the template engine; SMS segments."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rumbo.messaging.rendering import VARIABLES, check_text, compile_text, variables_in
from rumbo.messaging.segments import sms_segments


def test_known_variables_render():
    render = compile_text("Hola {{ given_names }} {{first_surname}}, {{ office_name }}.")
    assert (
        render({"given_names": "Ana", "first_surname": "Ruiz", "office_name": "OFAM"})
        == "Hola Ana Ruiz, OFAM."
    )


def test_missing_value_renders_empty_and_literal_braces_survive():
    render = compile_text("{x} {{ link }} }{")
    assert render({}) == "{x}  }{"


def test_unknown_variable_is_named_in_the_error():
    with pytest.raises(ValidationError) as caught:
        check_text("Hola {{ nombre }} y {{ given_names }}")
    (message,) = caught.value.messages
    assert "{{ nombre }}" in message
    assert "given_names" in message  # the known ones are listed


def test_bad_syntax_is_an_error():
    for text in ("Hola {{ given_names", "Hola }} x", "{{ given_names|upper }}", "{{ }}", "{% if x %}"):
        with pytest.raises(ValidationError):
            check_text(text)


def test_variables_in_lists_each_once():
    assert variables_in("{{ link }} {{ given_names }} {{ link }}") == ["link", "given_names"]
    assert set(variables_in(" ".join(f"{{{{ {v} }}}}" for v in VARIABLES))) == set(VARIABLES)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters count twice
        ("€" * 81, "GSM-7", 162, 2),
        ("¿Estás bien? Ñandú", "UCS-2", 18, 1),  # "á" and "ú" are not GSM-7
        ("á" * 70, "UCS-2", 70, 1),
        ("á" * 71, "UCS-2", 71, 2),
        ("á" * 134, "UCS-2", 134, 2),
        ("á" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
    ],
)
def test_sms_segments(text, encoding, units, segments):
    info = sms_segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_segments_name_the_characters_that_force_ucs2():
    info = sms_segments("Hola María, ¿cómo estás? 🙂")
    assert info.non_gsm == ("í", "ó", "á", "🙂")
    assert info.per_segment == 70
    assert sms_segments("Hola Maria, ¿como estas?").encoding == "GSM-7"
