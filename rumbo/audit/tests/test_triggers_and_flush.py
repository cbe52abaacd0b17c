"""Transactional tests empty the database afterwards; the append-only triggers must survive that cycle."""

import pytest
from django.db import DatabaseError, connection, transaction

from rumbo.audit import triggers
from rumbo.audit.models import Action
from rumbo.audit.services import audit_record


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_that_writes_audit_events_can_be_flushed():
    audit_record(actor=None, action=Action.LOGIN_FAILED, detail={"username": "x"})
    assert triggers.installed(connection)


@pytest.mark.django_db(transaction=True)
def test_triggers_are_back_after_the_flush_of_the_previous_test():
    event = audit_record(actor=None, action=Action.LOGIN_FAILED, detail={"username": "y"})
    assert triggers.installed(connection)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


@pytest.mark.django_db(transaction=True)
def test_migrating_the_audit_table_forwards_leaves_it_append_only():
    """0006 rebuilds the table on SQLite, which drops its triggers; the migrations must install them again."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("audit")
    executor.migrate([("audit", "0005_action_without_choices")])
    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    assert triggers.installed(connection)
    event = audit_record(actor=None, action=Action.LOGIN_FAILED, detail={"username": "z"})
    for sql in (
        "DELETE FROM audit_auditevent WHERE id = %s",
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
