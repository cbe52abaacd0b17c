"""The RQ/Redis task backend (django-tasks-rq) against the local Redis: a campaign queued with
``RUMBO_TASKS_BACKEND=rq`` puts its sending batches on Redis, and an RQ worker in another process (burst
mode) sends every message to the local SMTP server."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from rumbo.messaging.tests.test_engine_crash import _pg_admin_url

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "messaging"))
from deploy import ROOT, Deployment

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/13"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_db():
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def test_rq_worker_in_another_process_sends_the_campaign(tmp_path, redis_db, smtp_peer):
    kind = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with Deployment.create(kind, tmp_path / "deployment", pg_admin_url=_pg_admin_url()) as deployment:
        deployment.settings.update({"RUMBO_TASKS_BACKEND": "rq", "RUMBO_REDIS_URL": REDIS_URL})
        deployment.run_scenario(
            "prepare", "--persons", "200", "--email-share", "1", "--smtp", f"127.0.0.1:{smtp_peer.port}"
        )
        queued = deployment.run_scenario("queue")
        assert queued["queued"] == 200 and queued["tasks"] == 1  # batches of 250
        assert redis_db.llen("rq:queue:messaging") == 1  # the batch waits in Redis, not in the database
        assert deployment.query("SELECT COUNT(*) FROM django_tasks_database_dbtaskresult")[0][0] == 0

        env = deployment.env(RUMBO_TASKS_BACKEND="rq", RUMBO_REDIS_URL=REDIS_URL)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "rumbo",
                "rqworker",
                "--burst",
                "--job-class",
                "django_tasks_rq.Job",
                "--worker-class",
                "rq.worker.SimpleWorker",
                "messaging",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert deployment.counts() == {"sent": 200}
        assert len(smtp_peer.wait_for(200)) == 200
        assert max(smtp_peer.deliveries().values()) == 1

        # ``rumbo worker`` picks the RQ worker itself when the backend is RQ (with the sweeper thread).
        # Not covered here: `rumbo worker` itself with the RQ backend. In CI on SQLite its sweeper thread
        # once used the worker's database connection across threads and the second step was never sent
        # (see the closing note of 2026-11-29); the burst worker above is what this test shows.
