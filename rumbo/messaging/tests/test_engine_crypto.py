"""Channel credentials encrypted at rest: round trip, key rotation, a key derived in development."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings

from rumbo.messaging.crypto import (
    CredentialsError,
    decrypt_config,
    encrypt_config,
    keys_from_secret_key,
    reencrypt,
)

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_config_round_trips_and_is_not_readable_at_rest():
    with override_settings(RUMBO_CREDENTIALS_KEYS=[OLD]):
        token = encrypt_config({"password": "hunter2-largo", "host": "smtp.example"})
        assert "hunter2" not in token
        assert decrypt_config(token) == {"password": "hunter2-largo", "host": "smtp.example"}


def test_empty_token_is_an_empty_config():
    assert decrypt_config("") == {}


def test_rotation_new_key_first_old_still_decrypts_then_reencrypt():
    with override_settings(RUMBO_CREDENTIALS_KEYS=[OLD]):
        token = encrypt_config({"token": "abc"})
    with override_settings(RUMBO_CREDENTIALS_KEYS=[NEW, OLD]):
        assert decrypt_config(token) == {"token": "abc"}
        rotated = reencrypt(token)
    with override_settings(RUMBO_CREDENTIALS_KEYS=[NEW]):
        assert decrypt_config(rotated) == {"token": "abc"}
        with pytest.raises(CredentialsError):
            decrypt_config(token)


def test_a_passphrase_is_stretched_into_a_key():
    with override_settings(RUMBO_CREDENTIALS_KEYS=["una frase larga cualquiera"]):
        assert decrypt_config(encrypt_config({"a": "b"})) == {"a": "b"}


def test_without_keys_a_development_key_comes_from_secret_key():
    with override_settings(RUMBO_CREDENTIALS_KEYS=[], SECRET_KEY="dev-secret-1"):
        assert keys_from_secret_key()
        token = encrypt_config({"a": "b"})
        assert decrypt_config(token) == {"a": "b"}
    with (
        override_settings(RUMBO_CREDENTIALS_KEYS=[], SECRET_KEY="another-secret"),
        pytest.raises(CredentialsError),
    ):
        decrypt_config(token)
