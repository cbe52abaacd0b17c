"""The ``rumbo`` console command: Django's management commands plus serve, worker, demo and createadmin.

``rumbo serve``   migrations, static files, the background worker and gunicorn, in one command.
``rumbo worker``  one background worker (django-tasks database queue); run several on several machines.
``rumbo demo``    a realistic demo network (``--persons N`` for bulk synthetic data).
``rumbo createadmin``  a platform administrator.
Anything else is passed to Django (``rumbo migrate``, ``rumbo shell`` …).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    import django

    django.setup()


def _call(*args: str) -> None:
    from django.core.management import call_command

    call_command(*args)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rumbo serve", description="Migrate, then serve Rumbo with its worker."
    )
    parser.add_argument("--host", default=os.environ.get("RUMBO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3")))
    parser.add_argument("--no-worker", action="store_true", help="Do not start the background worker here.")
    parser.add_argument(
        "--demo", action="store_true", help="Load the demo network first (if not loaded yet)."
    )
    args = parser.parse_args(argv)
    _django_setup()
    _call("migrate", "--noinput", "-v", "0")
    _call("collectstatic", "--noinput", "-v", "0")
    if args.demo:
        _call("demo", "--if-empty")
    children: list[subprocess.Popen[bytes]] = []
    if not args.no_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "rumbo", "worker"]))
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "rumbo.wsgi:application",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.web_workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        # gunicorn's control socket lives in the home folder: two Rumbo servers on one machine would clash.
        "--no-control-socket",
        "--forwarded-allow-ips",
        os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]
    web = subprocess.Popen(gunicorn)  # noqa: S603
    children.append(web)
    print(f"Rumbo is serving at http://{args.host}:{args.port}/  (Ctrl+C to stop)", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = web.wait()
    stop(signal.SIGTERM, None)
    for child in children:
        child.wait(timeout=30)
    return code


def _start_messaging_sweeper() -> None:
    """Database backend: run the messaging sweep now and every ``RUMBO_MESSAGING_SWEEP_SECONDS`` in a daemon
    thread, so a restarted worker finishes what a killed one left (see ``rumbo.messaging.tasks``).

    A thread is fine next to django-tasks-db's ``db_worker``, which never forks, as long as the thread uses
    only what it creates itself: Django's connections are per thread, so ``sweep`` opens the thread's own, and
    the thread closes it after every sweep (nothing held while it sleeps). The sweep's module is imported
    here, in the main thread, before the thread starts, so the two threads never import it at the same time.
    The RQ worker does *not* use this thread: RQ forks its scheduler from the worker process, and forking a
    process that has a second thread is unsafe; it sweeps in its own loop instead (see
    ``rumbo.messaging.rq_worker``).
    """
    import threading
    import time

    from django.db import connections

    from rumbo.messaging.tasks import sweep_in_worker, sweep_interval

    interval = sweep_interval()
    if interval <= 0:
        return

    def loop() -> None:
        while True:
            sweep_in_worker()  # logs a failure and keeps sweeping: a hiccup must not end recovery for good
            connections.close_all()  # this thread's connections only
            time.sleep(interval)

    threading.Thread(target=loop, name="rumbo-messaging-sweeper", daemon=True).start()


def _worker_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rumbo worker",
        description=(
            "One background worker for every task queue (imports, messaging…), plus the messaging sweep. "
            "The same options with either task backend (RUMBO_TASKS_BACKEND=database or rq)."
        ),
    )
    parser.add_argument(
        "--batch",
        "--burst",
        dest="batch",
        action="store_true",
        help="Sweep once, run every task that is ready now, then exit (tests, cron jobs).",
    )
    parser.add_argument(
        "--queue-name", default="", help="Comma-separated queues to work on (default: every queue of TASKS)."
    )
    parser.add_argument("--max-tasks", type=int, default=None, help="Exit after running this many tasks.")
    parser.add_argument(
        "--worker-id", default=None, help="A name for this worker, unique among the running workers."
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="Database backend: seconds between polls of an idle queue. RQ: unused (Redis wakes the worker).",
    )
    parser.add_argument(
        "--no-startup-delay",
        action="store_true",
        help="Database backend: poll at once instead of after a random delay. RQ: there is no delay.",
    )
    parser.add_argument(
        "--no-sweep",
        action="store_true",
        help="Do not run the messaging sweep in this worker (another worker or a cron job runs it).",
    )
    parser.add_argument("-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=1)
    return parser


def _rq_worker(args: argparse.Namespace, queues: list[str]) -> int:
    """django-rq's worker on the RQ queues, with django-tasks-rq's job class, the scheduler (deferred retries
    come back through it) and the messaging sweep in its own loop (``SweepingWorker``)."""
    from django_rq.utils import reset_db_connections
    from django_rq.workers import get_worker
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq.logutils import setup_loghandlers

    level = "WARNING" if args.verbosity == 0 else "DEBUG" if args.verbosity >= 2 else "INFO"
    setup_loghandlers(level)
    try:
        rq_worker = get_worker(
            *queues,
            job_class="django_tasks_rq.Job",
            worker_class="rumbo.messaging.rq_worker.SweepingWorker",
            name=args.worker_id,
            sweep_seconds=0 if args.no_sweep else None,
        )
        # As django-rq's rqworker: no database connection of this process is carried into RQ's fork.
        reset_db_connections()
        rq_worker.work(burst=args.batch, with_scheduler=True, logging_level=level, max_jobs=args.max_tasks)
    except RedisConnectionError as exc:
        print(f"rumbo worker: cannot reach Redis: {exc}", file=sys.stderr)
        return 1
    return 0


def _db_worker(args: argparse.Namespace, queues: list[str]) -> int:
    """django-tasks-db's ``db_worker`` on the given queues, with the messaging sweep in a thread (or once
    before a batch)."""
    from django.core.management import execute_from_command_line

    from rumbo.messaging.tasks import sweep_in_worker

    command = ["rumbo", "db_worker", "--queue-name", ",".join(queues), "-v", str(args.verbosity)]
    if args.batch:
        command.append("--batch")
    if args.interval is not None:
        command += ["--interval", str(args.interval)]
    if args.no_startup_delay:
        command.append("--no-startup-delay")
    if args.max_tasks is not None:
        command += ["--max-tasks", str(args.max_tasks)]
    if args.worker_id:
        command += ["--worker-id", args.worker_id]
    if not args.no_sweep:
        if args.batch:
            sweep_in_worker()  # in this thread, before the drain: what it enqueues is run before the exit
        else:
            _start_messaging_sweeper()
    execute_from_command_line(command)
    return 0


def worker(argv: list[str]) -> int:
    """One background worker for every queue of TASKS (imports, messaging…), plus the messaging sweep.

    With the database backend (default) this is django-tasks-db's ``db_worker`` and the sweep runs in a
    thread; with ``RUMBO_TASKS_BACKEND=rq`` it is django-rq's worker (in-process jobs, with RQ's scheduler for
    deferred retries) and the sweep runs in the worker's own loop (see ``rumbo.messaging.rq_worker`` for
    why not in a thread there). Both take the same options (``rumbo worker --help``); ``--batch`` drains what
    is ready and exits.
    """
    args = _worker_parser().parse_args(argv)
    _django_setup()
    from django.conf import settings

    queues: list[str] = list(settings.TASKS["default"]["QUEUES"])
    if args.queue_name:
        queues = [name.strip() for name in args.queue_name.split(",") if name.strip()]
    if settings.TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
        return _rq_worker(args, queues)
    return _db_worker(args, queues)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command == "serve":
        sys.exit(serve(argv[1:]))
    if command == "worker":
        sys.exit(worker(argv[1:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["rumbo", *argv])
