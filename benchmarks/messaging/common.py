"""What the messaging benchmarks share: a fresh database per run, SQLite or PostgreSQL."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
BENCH_DIR = Path("/tmp/rumbo_bench_messaging")  # noqa: S108 - a scratch folder for benchmark databases


def add_db_arguments(parser: argparse.ArgumentParser, *, name: str) -> None:
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--path", default=str(BENCH_DIR / f"{name}.sqlite3"), help="SQLite file.")
    parser.add_argument("--pg-name", default=f"rumbo_bench_messaging_{name}", help="PostgreSQL database.")


def database_url(args: argparse.Namespace) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{args.path}"
    return PG_URL.format(name=args.pg_name)


def fresh_database(args: argparse.Namespace) -> None:
    """Remove the SQLite file, or drop and create the PostgreSQL database."""
    if args.db == "sqlite":
        path = Path(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.pg_name}"')


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment for this process and for worker subprocesses."""
    data_dir = BENCH_DIR / f"data-{args.db}"
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "DATABASE_URL": database_url(args),
        "DJANGO_SETTINGS_MODULE": "rumbo.settings",
        "RUMBO_DATA_DIR": str(data_dir),
    }


def use_database(args: argparse.Namespace) -> dict[str, str]:
    env = environment(args)
    os.environ.update(env)
    return env


def backend_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the given local processes, e.g. PostgreSQL backends."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class CpuMeter:
    """CPU seconds of this process and of the PostgreSQL backends serving it (sampled in a thread, since a
    backend's figures vanish when its connection closes). Wall time on a loaded machine says little; CPU
    seconds say what the work costs."""

    def __init__(self) -> None:
        import resource
        import threading

        self._resource = resource
        self._pids: set[int] = set()
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CpuMeter:
        from django.db.backends.signals import connection_created

        connection_created.connect(self._created, weak=False)
        from django.db import connection

        if connection.vendor == "postgresql":
            connection.ensure_connection()
            self._created(connection=connection)
        self._start = self._own()
        self._base = dict(self._last)
        self._thread.start()
        return self

    def _created(self, sender: object = None, connection: Any = None, **kwargs: object) -> None:
        if getattr(connection, "vendor", "") != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = int(cursor.fetchone()[0])
        self._pids.add(pid)
        self._last[pid] = backend_cpu_seconds([pid])

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for pid in list(self._pids):
                value = backend_cpu_seconds([pid])
                if value:
                    self._last[pid] = value

    def _own(self) -> float:
        usage = self._resource.getrusage(self._resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __exit__(self, *exc: object) -> None:
        for pid in list(self._pids):
            value = backend_cpu_seconds([pid])
            if value:
                self._last[pid] = value
        self._stop.set()
        self.python = self._own() - self._start
        self.database = sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())
