"""Template texts with variables written ``{{ name }}``: checked when saved, compiled once, rendered fast.

Only the names in :data:`VARIABLES` exist; there are no filters, tags or expressions, so a text can be checked
completely when it is saved (an unknown name is an error at the field, before anything is queued). Rendering
does not use the Django template engine: :func:`compile_text` turns a text into one ``str.format_map`` call,
which renders a million messages in about a second (the engine takes a minute).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: Variable name → what it is (shown next to the template editor).
VARIABLES: dict[str, Promise] = {
    "given_names": _("The person's given names"),
    "first_surname": _("The person's first surname"),
    "surnames": _("The person's surnames"),
    "full_name": _("The person's full name"),
    "office_name": _("The name of the office that sends the message"),
    "campaign_name": _("The name of the campaign"),
    "reply_hint": _("How to answer or stop the messages, in the person's language"),
    "link": _("A link given when the message is queued (for example a safety-check form)"),
}

_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_STRAY = re.compile(r"\{\{|\}\}|\{%|%\}")


def variables_in(text: str) -> list[str]:
    """The variable names used in ``text``, in order of first use (only well-formed ``{{ name }}``)."""
    seen: dict[str, None] = {}
    for match in _VARIABLE.finditer(text or ""):
        name = match.group(1).strip()
        if _NAME.match(name):
            seen[name] = None
    return list(seen)


def check_text(text: str) -> None:
    """Raise a ValidationError naming every unknown variable and every piece of bad syntax in ``text``."""
    errors: list[ValidationError] = []
    unknown: dict[str, None] = {}
    for match in _VARIABLE.finditer(text or ""):
        name = match.group(1).strip()
        if not name:
            errors.append(
                ValidationError(_("Empty variable “{{ }}”: write a name inside the braces."), "empty")
            )
        elif not _NAME.match(name):
            errors.append(
                ValidationError(
                    _(
                        "“%(text)s” is not a variable: write only a name between the braces, "
                        "e.g. {{ given_names }}."
                    ),
                    code="syntax",
                    params={"text": match.group(0)},
                )
            )
        elif name not in VARIABLES:
            unknown[name] = None
    for name in unknown:
        errors.append(
            ValidationError(
                _("Unknown variable “{{ %(name)s }}”. Variables you can use: %(known)s."),
                code="unknown_variable",
                params={"name": name, "known": ", ".join(VARIABLES)},
            )
        )
    rest = _VARIABLE.sub("", text or "")
    stray = _STRAY.search(rest)
    if stray:
        errors.append(
            ValidationError(
                _("Unmatched “%(braces)s”: a variable is written {{ name }}, with two braces on each side."),
                code="syntax",
                params={"braces": stray.group(0)},
            )
        )
    if errors:
        raise ValidationError(errors)


class _Blank(dict[str, str]):
    """A context where a variable nobody filled renders as nothing (never as an error mid-campaign)."""

    def __missing__(self, key: str) -> str:
        return ""


class Renderer:
    """A compiled text: ``renderer(context)`` → the text with its variables filled in."""

    __slots__ = ("_format", "names", "static")

    def __init__(self, text: str) -> None:
        check_text(text)
        parts: list[str] = []
        position = 0
        names: dict[str, None] = {}
        for match in _VARIABLE.finditer(text):
            parts.append(text[position : match.start()].replace("{", "{{").replace("}", "}}"))
            name = match.group(1).strip()
            names[name] = None
            parts.append("{" + name + "}")
            position = match.end()
        parts.append(text[position:].replace("{", "{{").replace("}", "}}"))
        self._format = "".join(parts)
        self.names = tuple(names)
        self.static = not names  # the same text for everyone: render once

    def __call__(self, context: Mapping[str, str]) -> str:
        if self.static:
            return self._format.format_map(_Blank())
        if isinstance(context, _Blank):
            return self._format.format_map(context)
        return self._format.format_map(_Blank(context))

    @property
    def format_string(self) -> str:
        """The ``str.format`` form of the text; ``format_string.format_map(context_of(values))`` renders it
        without the call overhead (the bulk path)."""
        return self._format


def context_of(values: Mapping[str, str]) -> _Blank:
    """A rendering context in which a variable nobody filled renders as nothing."""
    return _Blank(values)


@lru_cache(maxsize=256)
def compile_text(text: str) -> Renderer:
    """The compiled form of ``text`` (cached); raises ValidationError like :func:`check_text`."""
    return Renderer(text)
