"""Check after ``migrate`` that the audit table is still append-only; connected in ``AuditConfig.ready()``.

On SQLite, any migration that rebuilds ``audit_auditevent`` (AlterField and the like) silently drops its
triggers; such a migration must install them again (as 0007 does after 0006). This makes forgetting it fail
loudly instead of leaving the audit trail editable.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils.translation import gettext as _

from rumbo.audit import triggers

TRIGGERS_MIGRATION = ("audit", "0002_append_only_triggers")


def check_triggers_after_migrate(sender: Any, *, using: str, plan: Any = None, **kwargs: Any) -> None:
    """Raise when the triggers' migration is applied but the triggers are missing."""
    if plan is None:
        return  # ``flush`` sends post_migrate too (without a plan): the tests drop the triggers before it
    connection = connections[using]
    if TRIGGERS_MIGRATION not in MigrationRecorder(connection).applied_migrations():
        return  # not installed yet, or migrated back before them
    if not triggers.installed(connection):
        raise CommandError(
            _(
                "The audit table has lost its append-only triggers (a migration rebuilt it). Add a migration "
                "that installs them again (see audit/migrations/0007)."
            )
        )
