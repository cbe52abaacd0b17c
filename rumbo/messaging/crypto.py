"""Channel credentials encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256, from ``cryptography``).

Keys come from ``settings.RUMBO_CREDENTIALS_KEYS`` (the environment variable ``RUMBO_CREDENTIALS_KEYS``, comma
separated). The **first** key encrypts; every key decrypts, so a key is rotated by putting the new one first,
running ``rumbo messaging_rotate_keys`` (re-encrypts every channel with the first key) and then dropping the
old one. A key is a Fernet key (``python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``); any other string is stretched into one with HKDF.

When no key is set (development, a single machine) one is derived from ``SECRET_KEY`` with HKDF, so a fresh
install works without configuration. **Production must set RUMBO_CREDENTIALS_KEYS**: with the derived key,
anyone who learns SECRET_KEY can read every gateway password, and changing SECRET_KEY makes the stored
credentials unreadable.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"rumbo.messaging.credentials"


class CredentialsError(Exception):
    """Stored credentials cannot be decrypted with any configured key (key removed or SECRET_KEY changed)."""


def _derive(material: str, info: bytes) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(material.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def _as_fernet_key(value: str) -> bytes:
    """A Fernet key as given, or one derived from an arbitrary passphrase."""
    try:
        if len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32:
            return value.encode("ascii")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        pass
    return _derive(value, b"passphrase")


def configured_keys() -> tuple[bytes, ...]:
    """The Fernet keys in use, first = the one that encrypts."""
    given = [k.strip() for k in getattr(settings, "RUMBO_CREDENTIALS_KEYS", []) if k and k.strip()]
    if given:
        return tuple(_as_fernet_key(k) for k in given)
    return (_derive(str(settings.SECRET_KEY), b"secret-key"),)


def keys_from_secret_key() -> bool:
    """True when no key is configured and the development key derived from SECRET_KEY is used."""
    return not any(k.strip() for k in getattr(settings, "RUMBO_CREDENTIALS_KEYS", []))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def encrypt_config(data: dict[str, str]) -> str:
    """Encrypt a channel's settings (a flat mapping of strings) with the first key."""
    payload = json.dumps({str(k): str(v) for k, v in data.items()}, sort_keys=True).encode("utf-8")
    return _fernet(configured_keys()).encrypt(payload).decode("ascii")


def decrypt_config(token: str) -> dict[str, str]:
    """The settings encrypted by :func:`encrypt_config`; an empty token is an empty mapping."""
    if not token:
        return {}
    try:
        payload = _fernet(configured_keys()).decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        raise CredentialsError(
            "Channel credentials cannot be decrypted with the configured RUMBO_CREDENTIALS_KEYS."
        ) from exc
    data = json.loads(payload)
    return {str(k): str(v) for k, v in data.items()}


def reencrypt(token: str) -> str:
    """The same settings encrypted with the current first key (for key rotation)."""
    if not token:
        return token
    try:
        return _fernet(configured_keys()).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise CredentialsError("Channel credentials cannot be decrypted with the configured keys.") from exc
