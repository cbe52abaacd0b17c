"""After ``migrate``, missing append-only triggers fail loudly."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from rumbo.audit import triggers


def test_migrate_fails_loudly_when_the_audit_triggers_are_missing(db):
    call_command("migrate", verbosity=0)  # nothing to do: passes with the triggers in place
    triggers.remove(connection)  # rolled back with the test's transaction
    with pytest.raises(CommandError, match="append-only triggers"):
        call_command("migrate", verbosity=0)


def test_flush_does_not_check_the_triggers(db):
    from rumbo.audit.apps import AuditConfig
    from rumbo.audit.receivers import check_triggers_after_migrate

    triggers.remove(connection)
    check_triggers_after_migrate(AuditConfig, using="default")  # no plan: sent by flush
