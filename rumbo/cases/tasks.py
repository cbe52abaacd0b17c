"""Background work of the cases app (django-tasks, queue "default")."""

from __future__ import annotations

from django_tasks import task

from rumbo.cases.services.tasks import task_reminders_send


@task(queue_name="default")
def send_task_reminders() -> dict[str, int]:
    """E-mail every worker a digest of their follow-ups due tomorrow, today or overdue (at most once a day
    per task; see ``task_reminders_send``). Run daily: ``rumbo send_task_reminders`` enqueues it."""
    run = task_reminders_send()
    return {"emails": run.emails, "tasks": run.tasks, "failed": run.failed}
