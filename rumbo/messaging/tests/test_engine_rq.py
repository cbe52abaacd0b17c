"""The RQ/Redis task backend (django-tasks-rq) against the local Redis: a campaign queued with
``RUMBO_TASKS_BACKEND=rq`` puts its sending batches on Redis, and an RQ worker in another process (burst
mode) sends every message to the local SMTP server; ``rumbo worker`` itself (the real command, with RQ's
scheduler and the messaging sweep in its loop) sends every step of a campaign exactly once, also a step whose
task was lost, and ``rumbo worker --batch`` sweeps, drains and exits."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from rumbo.messaging.tests.test_engine_crash import _pg_admin_url

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "messaging"))
from deploy import ROOT, Deployment

pytestmark = pytest.mark.e2e

# One Redis database per test: pytest-xdist runs these tests side by side, and two workers listening on the
# same "messaging" queue would take each other's jobs (a drain run against the other test's database).
REDIS_URL = "redis://127.0.0.1:6379/13"
WORKER_REDIS_URL = "redis://127.0.0.1:6379/12"  # the `rumbo worker` test's own database
RETRY_REDIS_URL = "redis://127.0.0.1:6379/11"  # the retry test's own database


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _flushed_redis(url: str):
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def redis_db():
    yield from _flushed_redis(REDIS_URL)


@pytest.fixture
def worker_redis():
    yield from _flushed_redis(WORKER_REDIS_URL)


@pytest.fixture
def retry_redis():
    yield from _flushed_redis(RETRY_REDIS_URL)


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


def _recipients(smtp_peer) -> Counter[str]:
    return Counter(to for record in smtp_peer.records() for to in record["to"])


def _message_states(deployment: Deployment) -> str:
    """What the messages look like, for a failure's message: status, attempts, times and last error."""
    rows = deployment.query(
        "SELECT status, attempts, MIN(next_attempt_at), MAX(next_attempt_at), MAX(last_error), COUNT(*)"
        " FROM messaging_message GROUP BY status, attempts"
    )
    return "\nmessages (status, attempts, next attempt from, to, last error, count): " + repr(rows)


def test_rumbo_worker_under_rq_sends_every_step_once_and_recovers_a_lost_task(
    tmp_path, worker_redis, smtp_peer
):
    persons = 60
    kind = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with Deployment.create(
        kind, tmp_path / "deployment", pg_admin_url=_pg_admin_url(), pg_prefix="rumbo_a_rq_worker"
    ) as deployment:
        # Sweep every 2 s; a due message waiting longer than that with nobody on it is stalled.
        deployment.settings.update({"RUMBO_TASKS_BACKEND": "rq", "RUMBO_REDIS_URL": WORKER_REDIS_URL})
        deployment.run_scenario(
            "prepare",
            "--persons",
            str(persons),
            "--email-share",
            "1",
            "--smtp",
            f"127.0.0.1:{smtp_peer.port}",
        )

        # Step 0, to a running `rumbo worker` (the options of the database worker are accepted as well).
        deployment.start_worker()
        assert deployment.run_scenario("queue", "--step", "0")["queued"] == persons
        deployment.wait(lambda counts: counts.get("sent", 0) >= persons, timeout=60)

        # Step 1 while no worker runs, and its task lost (Redis emptied): only the sweep can send it.
        deployment.stop_workers()
        assert deployment.run_scenario("queue", "--step", "1")["queued"] == persons
        assert worker_redis.delete("rq:queue:messaging") == 1
        deployment.start_worker(name="restarted")
        deployment.wait(lambda counts: counts.get("sent", 0) >= 2 * persons, timeout=60)
        deployment.stop_workers()

        # Step 2, task lost again, then `rumbo worker --batch`: it sweeps first, drains, and exits.
        assert deployment.run_scenario("queue", "--step", "2")["queued"] == persons
        assert worker_redis.delete("rq:queue:messaging") == 1
        time.sleep(2.5)  # past the sweep's grace: the step now counts as stalled
        done = subprocess.run(
            [sys.executable, "-m", "rumbo", "worker", "--batch"],
            env=deployment.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        logs = done.stdout + done.stderr
        assert done.returncode == 0, logs
        assert deployment.counts() == {"sent": 3 * persons}, logs + _message_states(deployment)

        records = smtp_peer.wait_for(3 * persons)
        assert len(records) == 3 * persons
        assert max(smtp_peer.deliveries().values()) == 1  # no message accepted twice
        assert set(_recipients(smtp_peer).values()) == {3}  # every person got each step once
        logs += "".join(log.read_text() for log in deployment.workdir.glob("*.log"))
        assert "Traceback" not in logs and "sweep failed" not in logs, logs
        assert "drains enqueued" in logs  # the sweep, not a task, sent steps 1 and 2


def test_rumbo_worker_under_rq_brings_retries_back_through_its_scheduler(tmp_path, retry_redis, smtp_peer):
    persons = 20
    kind = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with Deployment.create(
        kind, tmp_path / "deployment", pg_admin_url=_pg_admin_url(), pg_prefix="rumbo_a_rq_retry"
    ) as deployment:
        deployment.settings.update(
            {
                "RUMBO_TASKS_BACKEND": "rq",
                "RUMBO_REDIS_URL": RETRY_REDIS_URL,
                "RUMBO_MESSAGING_RETRY_SECONDS": "1",  # the first retry after about a second
            }
        )
        # flaky… addresses: the SMTP peer answers 451 to the first attempt and accepts the second.
        deployment.run_scenario(
            "prepare",
            "--persons",
            str(persons),
            "--email-share",
            "1",
            "--email-prefix",
            "flaky",
            "--smtp",
            f"127.0.0.1:{smtp_peer.port}",
        )
        # No sweep in this worker: only the deferred job, moved back to the queue by RQ's scheduler (a
        # process the worker forks), can send the retries.
        deployment.start_worker(args=["--no-sweep"])
        assert deployment.run_scenario("queue")["queued"] == persons
        deployment.wait(lambda counts: counts.get("sent", 0) >= persons, timeout=60)

        assert deployment.query("SELECT attempts, COUNT(*) FROM messaging_message GROUP BY attempts") == [
            (2, persons)
        ]
        records = smtp_peer.wait_for(persons)
        assert len(records) == persons
        assert max(smtp_peer.deliveries().values()) == 1
        assert set(_recipients(smtp_peer).values()) == {1}
        log = (deployment.workdir / "worker.log").read_text()
        assert "Scheduler for" in log and "Traceback" not in log, log
        assert "messaging sweep" not in log
