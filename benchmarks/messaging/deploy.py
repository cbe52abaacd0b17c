"""A throw-away Rumbo deployment driven from outside: its own database, ``rumbo worker`` processes, and the
database read directly (no Django in the caller). Used by the crash tests and the dispatch benchmark.

    with Deployment.create("sqlite", workdir) as deployment:
        deployment.run_scenario("prepare", "--persons", "10000", "--smtp", "127.0.0.1:2525")
        deployment.run_scenario("queue")
        worker = deployment.start_worker()
        deployment.wait(lambda counts: counts.get("sent", 0) >= 3000)
        deployment.kill(worker)                      # SIGKILL, mid-batch
        ...
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIO = Path(__file__).resolve().parent / "scenario.py"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class Deployment:
    """One database (SQLite file or a fresh PostgreSQL database) plus the environment to run Rumbo on it."""

    def __init__(
        self, *, db: str, url: str, workdir: Path, pg_name: str = "", settings: dict[str, str]
    ) -> None:
        self.db = db
        self.url = url
        self.workdir = workdir
        self.pg_name = pg_name
        self.settings = settings
        self.workers: list[subprocess.Popen[bytes]] = []

    @classmethod
    def create(
        cls,
        db: str,
        workdir: Path,
        *,
        pg_admin_url: str = PG_ADMIN_URL,
        pg_prefix: str = "rumbo_h_engine_e2e",
    ) -> Deployment:
        workdir.mkdir(parents=True, exist_ok=True)
        settings = {
            "RUMBO_MESSAGING_LEASE_SECONDS": "5",
            "RUMBO_MESSAGING_SWEEP_SECONDS": "2",
            "RUMBO_MESSAGING_BATCH_SIZE": "250",
            "RUMBO_CREDENTIALS_KEYS": "crash-test-key-" + uuid.uuid4().hex,
        }
        if db == "sqlite":
            return cls(
                db=db, url=f"sqlite:///{workdir / 'rumbo.sqlite3'}", workdir=workdir, settings=settings
            )
        import psycopg

        name = f"{pg_prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        host = pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgres://")
        return cls(db=db, url=f"{host}/{name}", workdir=workdir, pg_name=name, settings=settings)

    # --- environment -----------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "RUMBO_"))}
        keep.update(
            {
                "DATABASE_URL": self.url,
                "DJANGO_SETTINGS_MODULE": "rumbo.settings",
                "RUMBO_DATA_DIR": str(self.workdir / "data"),
                "RUMBO_TASKS_BACKEND": "database",
                "PYTHONPATH": str(ROOT),
            }
        )
        keep.update(self.settings)
        keep.update(extra)
        return keep

    def run_scenario(self, *args: str, timeout: float = 600) -> dict[str, Any]:
        done = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(SCENARIO), *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scenario {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # --- workers ---------------------------------------------------------------------------------------
    def start_worker(
        self, name: str = "worker", *, args: Sequence[str] = (), **extra: str
    ) -> subprocess.Popen[bytes]:
        """``rumbo worker`` (either task backend: they take the same options) with extra ``args``, its output
        in ``<workdir>/<name>.log``; ``extra``: environment variables."""
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own command; ``args`` come from the caller's code
            [sys.executable, "-m", "rumbo", "worker", "--interval", "0.1", "--no-startup-delay", *args],
            env=self.env(**extra),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Kill a worker and everything it started (SIGKILL: no clean-up, like a crash or the OOM killer)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(30)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        self.workers.clear()

    # --- reading the database --------------------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.db == "sqlite":
            path = self.url.removeprefix("sqlite:///")
            lite = sqlite3.connect(path, timeout=30)
            try:
                return lite.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                lite.close()
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, COUNT(*) FROM messaging_message GROUP BY status")
        return {str(status): int(count) for status, count in rows}

    def wait(
        self, done: Callable[[dict[str, int]], bool], *, timeout: float = 300, every: float = 0.05
    ) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        counts = self.counts()
        while not done(counts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"not done after {timeout} s: {counts}")
            time.sleep(every)
            counts = self.counts()
        return counts

    # --- clean-up -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self.stop_workers()
        if self.pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
