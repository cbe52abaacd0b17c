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
