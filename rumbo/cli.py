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
    """Run the messaging sweep now and every ``RUMBO_MESSAGING_SWEEP_SECONDS`` in a background thread, so a
    restarted worker finishes what a killed one left (see ``rumbo.messaging.tasks``)."""
    import logging
    import threading
    import time

    from django.conf import settings
    from django.db import connection

    interval = float(getattr(settings, "RUMBO_MESSAGING_SWEEP_SECONDS", 30))
    if interval <= 0:
        return
    logger = logging.getLogger("rumbo.messaging.sweeper")

    def loop() -> None:
        from rumbo.messaging.tasks import sweep

        while True:
            try:
                sweep()
            except Exception:  # keep sweeping: a database hiccup must not end recovery for good
                logger.exception("messaging sweep failed")
            finally:
                connection.close()
            time.sleep(interval)

    threading.Thread(target=loop, name="rumbo-messaging-sweeper", daemon=True).start()


def worker(argv: list[str]) -> int:
    """One background worker for every queue of TASKS (imports, messaging…), plus the messaging sweeper.

    With the database backend (default) this is django-tasks-db's ``db_worker``; with
    ``RUMBO_TASKS_BACKEND=rq`` it is django-rq's ``rqworker`` (in-process jobs, with the scheduler for
    deferred retries).
    """
    _django_setup()
    from django.conf import settings
    from django.core.management import execute_from_command_line

    queues: list[str] = list(settings.TASKS["default"]["QUEUES"])
    _start_messaging_sweeper()
    if settings.TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
        rq_args = [a for a in argv if not a.startswith("--queue-name")]
        execute_from_command_line(
            [
                "rumbo",
                "rqworker",
                "--job-class",
                "django_tasks_rq.Job",
                "--worker-class",
                "rq.worker.SimpleWorker",
                "--with-scheduler",
                *rq_args,
                *queues,
            ]
        )
        return 0
    if not any(arg.startswith("--queue-name") for arg in argv):
        argv = ["--queue-name", ",".join(queues), *argv]
    execute_from_command_line(["rumbo", "db_worker", *argv])
    return 0


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
