"""``rumbo createadmin``: create a platform administrator (staff and superuser).

Non-interactive with ``--username --email --password`` (the password may instead come from the
``RUMBO_ADMIN_PASSWORD`` environment variable, which keeps it out of the process list); missing values are
asked for when the command runs on a terminal. The password must pass Django's validators. An existing
username is a clear error: nothing is changed.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rumbo.accounts.services import admin_create

PASSWORD_ENV = "RUMBO_ADMIN_PASSWORD"  # noqa: S105  (the variable's name, not a password)


class Command(BaseCommand):
    help = "Create a platform administrator (staff and superuser), e.g. rumbo createadmin --username ana."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", help="Login name of the new administrator.")
        parser.add_argument("--email", default=None, help="E-mail address (optional).")
        parser.add_argument(
            "--password", help=f"Password (or set {PASSWORD_ENV}; asked for when on a terminal)."
        )
        parser.add_argument(
            "--no-input", "--noinput", dest="interactive", action="store_false", help="Never prompt."
        )

    def _interactive(self, options: dict[str, Any]) -> bool:
        return bool(options.get("interactive", True)) and sys.stdin is not None and sys.stdin.isatty()

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = self._interactive(options)
        username = (options.get("username") or "").strip()
        email = options.get("email")
        password = options.get("password") or os.environ.get(PASSWORD_ENV, "")
        if not username and interactive:
            username = input(_("Username: ")).strip()
        if email is None:
            email = input(_("E-mail address (optional): ")).strip() if interactive else ""
        if not password and interactive:
            password = getpass.getpass(_("Password: "))
            if password != getpass.getpass(_("Password (again): ")):
                raise CommandError(_("The two passwords differ. Nothing was created."))
        missing = [name for name, value in (("--username", username), ("--password", password)) if not value]
        if missing:
            raise CommandError(
                _("Missing %(options)s (not on a terminal, so not asked). Nothing was created.")
                % {"options": ", ".join(missing)}
            )
        try:
            user = admin_create(username=username, email=email, password=password)
        except ValidationError as exc:
            lines = [
                f"{field}: {message}" for field, messages in exc.message_dict.items() for message in messages
            ]
            raise CommandError("\n".join([_("Nothing was created."), *lines])) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Platform administrator “%(username)s” created. "
                    "They will set up two-factor authentication at their first login."
                )
                % {"username": user.get_username()}
            )
        )
