"""The import runs as a django-tasks task on the "imports" queue: enqueued when the start commits, run by
the database backend's worker (the backend of the settings, as in production)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from rumbo.imports.models import ImportBatch
from rumbo.imports.services import import_set_mapping, import_start, import_upload
from rumbo.imports.tests.conftest import csv_bytes, upload
from rumbo.imports.tests.utils import rows
from rumbo.offices.models import Membership, Role
from rumbo.offices.permissions import forget


@pytest.fixture(autouse=True)
def keep_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker closes "old" connections between tasks; inside a test that would end the test's
    transaction (Django's test client disconnects the same handler)."""
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def run_worker() -> None:
    run_worker()


def _start(world, django_capture_on_commit_callbacks) -> ImportBatch:
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    with django_capture_on_commit_callbacks(execute=True):
        import_start(actor=world.admin, batch=batch)
    return batch


def test_start_enqueues_the_task_on_the_imports_queue_and_the_worker_runs_it(
    world, django_capture_on_commit_callbacks
):
    assert settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"
    batch = _start(world, django_capture_on_commit_callbacks)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.RUNNING and batch.started_at is None
    task = DBTaskResult.objects.get()
    assert task.queue_name == "imports" and str(task.id) == batch.task_id
    assert task.args_kwargs["kwargs"] == {"batch_id": batch.pk}
    call_command(
        "db_worker", "--batch", "--queue-name", "imports", "--no-startup-delay", "--no-reload", "-v", "0"
    )
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.created_count, batch.failed_count) == (3, 3)
    task.refresh_from_db()
    assert task.status == "SUCCESSFUL"
    assert task.task_result.return_value["created"] == 3


def test_task_fails_the_batch_when_the_uploader_lost_the_permission(
    world, django_capture_on_commit_callbacks
):
    batch = _start(world, django_capture_on_commit_callbacks)
    Membership.objects.filter(user=world.admin, role=Role.OFFICE_ADMIN).delete()
    forget(world.admin)
    call_command(
        "db_worker", "--batch", "--queue-name", "imports", "--no-startup-delay", "--no-reload", "-v", "0"
    )
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.error == "The person who uploaded this file may no longer import persons."
