"""Database triggers that make the audit table append-only, whatever code path tries to change it.

Installed by migration ``audit/0002``, and again by ``audit/0007`` (on SQLite, 0006 rebuilt the table and
dropped them). After ``migrate``, ``receivers.check_triggers_after_migrate`` fails loudly if they are missing.
The test suite removes them just before Django empties the database after a transactional test (``flush``
must delete rows) and puts them back before the next test; otherwise it only checks they are there.
"""

from __future__ import annotations

from typing import Any

SQLITE_INSTALL = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_event_no_update;",
    "DROP TRIGGER IF EXISTS audit_event_no_delete;",
]

POSTGRES_INSTALL = [
    """CREATE OR REPLACE FUNCTION audit_event_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$;""",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent;",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_auditevent
       FOR EACH ROW EXECUTE FUNCTION audit_event_refuse();""",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse();""",
]
POSTGRES_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent;",
]


def _run(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: Any) -> None:
    _run(connection, POSTGRES_INSTALL if connection.vendor == "postgresql" else SQLITE_INSTALL)


def remove(connection: Any) -> None:
    _run(connection, POSTGRES_REMOVE if connection.vendor == "postgresql" else SQLITE_REMOVE)


def installed(connection: Any) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'audit_event_no_%%'")
            return bool(cursor.fetchone()[0] == 2)
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_event_no_%'"
        )
        return bool(cursor.fetchone()[0] == 2)
