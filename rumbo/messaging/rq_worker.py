"""The RQ worker class of ``rumbo worker`` with ``RUMBO_TASKS_BACKEND=rq``: RQ's ``SimpleWorker`` that also
runs the messaging sweep (see ``rumbo.messaging.tasks``) in its own main loop.

**Why not a sweeper thread, as with the database backend.** ``rumbo worker`` used to start the sweep in a
daemon thread and then run django-rq's ``rqworker --with-scheduler`` in the main thread. Reading rq 3.0,
django-rq 4.2 and django-tasks-rq 0.12, that thread shares the process with code that assumes it is alone:

- ``--with-scheduler`` starts RQ's scheduler with ``fork()`` (``RQScheduler.start``:
  ``multiprocessing.get_context("fork").Process``), at start-up and again from the worker's maintenance
  whenever the scheduler process is found dead. A fork while the thread is sweeping (its first sweep starts
  together with the worker; the re-fork can come at any time) gives the child a copy of the thread's open
  database connection (an SQLite file handle, a PostgreSQL socket) and of every lock the thread held at that
  instant, without the thread that would release them. POSIX allows only async-signal-safe calls after
  forking a multi-threaded process; Python 3.12+ warns "This process is multi-threaded, use of fork() may
  lead to deadlocks in the child". A scheduler stuck that way never moves deferred jobs (retries) back to
  the queue.
- django-rq's ``rqworker`` closes "any opened DB connection before any fork" (``reset_db_connections()``),
  but Django's connections are per thread (``asgiref.local.Local``, tagged with the owning thread): that
  closes the main thread's only, never the sweeper's.
- In burst mode the daemon thread raced the worker's exit: a drain it enqueued after the worker's last
  dequeue stayed in Redis, unsent, and the interpreter could stop the thread in the middle of a sweep.

Here the sweep runs in the worker's main thread, between jobs, where the jobs themselves run and where RQ
forks from: Rumbo adds no thread. (RQ has one of its own, the pub/sub listener for worker commands, started
before the scheduler's fork; it holds only its own Redis connection and never touches the database.) The
worker wakes up at least every ``sweep_seconds`` to sweep (its blocking wait on Redis is cut to the time left
until the next sweep), and in burst mode it sweeps before the first dequeue, so what the sweep enqueues is
drained before the worker exits. Database connections are released before and after each job and after each
sweep, as Django does around a request and django-tasks-db around a task, so a long-lived worker does not
keep a connection the database has dropped.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.db import close_old_connections
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from rumbo.messaging.tasks import sweep_in_worker, sweep_interval


class SweepingWorker(SimpleWorker):
    """RQ's in-process worker (no fork per job) that runs the messaging sweep every ``sweep_seconds`` in its
    own loop (see the module docstring for why not in a thread). ``sweep_seconds=None``: the setting;
    0: never sweep."""

    def __init__(self, *args: Any, sweep_seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_seconds = sweep_interval() if sweep_seconds is None else float(sweep_seconds)
        self.next_sweep = 0.0  # monotonic time of the next sweep: the first dequeue sweeps
        self.sweeps = 0

    def sweep_if_due(self) -> None:
        if self.sweep_seconds <= 0 or time.monotonic() < self.next_sweep:
            return
        sweep_in_worker()
        self.sweeps += 1
        self.next_sweep = time.monotonic() + self.sweep_seconds

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """Sweep when due, then wait for a job, but never past the next sweep. ``timeout=None`` is burst
        mode (one look, no wait); ``max_idle_time`` still ends an idle worker."""
        if self.sweep_seconds <= 0:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        idle_since = time.monotonic()
        while True:
            self.sweep_if_due()
            if timeout is None:
                return super().dequeue_job_and_maintain_ttl(None, max_idle_time)
            wait = max(1, math.ceil(self.next_sweep - time.monotonic()))
            if max_idle_time is not None:
                idle_left = max_idle_time - (time.monotonic() - idle_since)
                if idle_left <= 0:
                    return None
                wait = min(wait, max(1, math.ceil(idle_left)))
            # With a max_idle_time RQ returns None once it has waited that long for nothing.
            result = super().dequeue_job_and_maintain_ttl(timeout, wait)
            if result is not None:
                return result

    def execute_job(self, job: Job, queue: Queue) -> None:
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()
