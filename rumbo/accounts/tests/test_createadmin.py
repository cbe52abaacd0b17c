"""``rumbo createadmin``: a platform administrator, created non-interactively or by prompting."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import translation

from rumbo.accounts.management.commands import createadmin
from rumbo.audit.models import Action, AuditEvent

GOOD = "a-long-admin-passphrase-77"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("createadmin", *args, "--no-input", stdout=out)
    return out.getvalue()


def test_creates_a_staff_superuser_and_audits_it(db):
    output = _run("--username", "plataforma", "--email", "plataforma@example.org", "--password", GOOD)
    user = get_user_model().objects.get(username="plataforma")
    assert user.is_staff and user.is_superuser and user.is_active
    assert user.email == "plataforma@example.org"
    assert user.check_password(GOOD)
    assert "“plataforma” created" in output
    event = AuditEvent.objects.get(action=Action.ADMIN_CREATE)
    assert event.object_id == str(user.pk)
    assert GOOD not in str(event.detail)


def test_password_can_come_from_the_environment(db, monkeypatch):
    monkeypatch.setenv(createadmin.PASSWORD_ENV, GOOD)
    _run("--username", "plataforma")
    assert get_user_model().objects.get(username="plataforma").check_password(GOOD)


def test_weak_password_is_refused_with_the_validators_messages(db):
    with pytest.raises(CommandError) as excinfo:
        _run("--username", "plataforma", "--password", "12345")
    message = str(excinfo.value)
    assert "password: This password is too short. It must contain at least 12 characters." in message
    assert "password: This password is entirely numeric." in message
    assert not get_user_model().objects.filter(username="plataforma").exists()


def test_password_similar_to_the_username_is_refused(db):
    with pytest.raises(CommandError, match="too similar"):
        _run("--username", "plataforma-rumbo", "--password", "plataforma-rumbo1")


def test_existing_username_is_a_clear_error_and_changes_nothing(db):
    _run("--username", "plataforma", "--password", GOOD)
    with pytest.raises(CommandError, match=r"A user named “Plataforma” already exists\."):
        _run("--username", "Plataforma", "--password", "another-long-passphrase-88")
    assert get_user_model().objects.count() == 1
    assert get_user_model().objects.get().check_password(GOOD)


def test_invalid_username_and_email_are_reported_by_field(db):
    with pytest.raises(CommandError) as excinfo:
        _run("--username", "no spaces allowed", "--email", "not-an-email", "--password", GOOD)
    assert "username: " in str(excinfo.value)
    assert "email: Enter a valid email address." in str(excinfo.value)


def test_missing_values_without_a_terminal_are_an_error(db):
    with pytest.raises(CommandError, match="Missing --username, --password"):
        _run()


def test_prompts_for_missing_values_on_a_terminal(db, monkeypatch):
    answers = iter(["plataforma", "plataforma@example.org"])
    passwords = iter([GOOD, GOOD])
    monkeypatch.setattr(createadmin.Command, "_interactive", lambda self, options: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr(createadmin.getpass, "getpass", lambda prompt: next(passwords))
    call_command("createadmin", stdout=io.StringIO())
    user = get_user_model().objects.get(username="plataforma")
    assert user.email == "plataforma@example.org"
    assert user.check_password(GOOD)


def test_differing_prompted_passwords_create_nothing(db, monkeypatch):
    passwords = iter([GOOD, GOOD + "x"])
    monkeypatch.setattr(createadmin.Command, "_interactive", lambda self, options: True)
    monkeypatch.setattr(createadmin.getpass, "getpass", lambda prompt: next(passwords))
    with pytest.raises(CommandError, match="The two passwords differ"):
        call_command("createadmin", "--username", "plataforma", "--email", "", stdout=io.StringIO())
    assert not get_user_model().objects.exists()


def test_rumbo_console_command_reaches_createadmin(tmp_path):
    """The real ``rumbo createadmin`` entry point, in a fresh process on its own SQLite file."""
    env = {
        "PATH": "/usr/bin:/bin",
        "RUMBO_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rumbo.sqlite3'}",
        "RUMBO_ADMIN_PASSWORD": GOOD,
    }
    run = [sys.executable, "-m", "rumbo"]
    subprocess.run([*run, "migrate", "-v", "0"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*run, "createadmin", "--username", "plataforma", "--no-input"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "plataforma" in result.stdout
    again = subprocess.run(
        [*run, "createadmin", "--username", "plataforma", "--no-input"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode != 0
    # The command speaks Spanish first (LANGUAGE_CODE), like the rest of Rumbo.
    assert "Ya existe un usuario" in again.stderr
