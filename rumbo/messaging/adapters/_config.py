"""What each adapter reads from a channel's (decrypted) ``config``, declared once for forms and checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class ConfigField:
    """One setting of a channel kind. ``secret`` values are never shown back in full (passwords, tokens).
    ``number`` (``int`` or ``float``): the adapter reads the setting as a number from ``minimum`` to
    ``maximum``, checked when the channel is saved."""

    name: str
    label: str | Promise
    required: bool = False
    secret: bool = False
    default: str = ""
    help_text: str | Promise = ""
    number: type[int] | type[float] | None = None
    minimum: float = 0
    maximum: float = 0


def config_str(config: Mapping[str, str], name: str, default: str = "") -> str:
    value = config.get(name)
    return default if value is None or str(value).strip() == "" else str(value).strip()


def config_bool(config: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = config.get(name)
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def config_float(config: Mapping[str, str], name: str, default: float) -> float:
    value = config.get(name)
    if value is None or str(value).strip() == "":
        return default
    return float(value)


def config_int(config: Mapping[str, str], name: str, default: int) -> int:
    value = config.get(name)
    if value is None or str(value).strip() == "":
        return default
    return int(value)


def missing_fields(fields: tuple[ConfigField, ...], config: Mapping[str, str]) -> list[str]:
    """Names of the required settings ``config`` lacks."""
    return [f.name for f in fields if f.required and not config_str(config, f.name)]
