"""Crash tests: real worker processes (``rumbo worker``) against the real local peers — the aiosmtpd server and
Kannel with fakesmsc — on their own database (a SQLite file, or a fresh PostgreSQL database when the suite
runs on PostgreSQL).

1. 10,000 messages (5,000 email, 5,000 SMS) are queued; the worker is killed with SIGKILL in the middle of a
   batch, after thousands were sent; a new worker starts. When the outbox is drained, the SMTP server has
   accepted every Message-ID exactly once and fakesmsc has received every SMS exactly once.
2. (PostgreSQL) two workers drain the same queue at the same time: nothing is sent twice.

The worker settings make recovery quick: leases of 5 s, the sweeper every 2 s, batches of 250.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from rumbo.messaging.peers.kannel import KannelPeer
from rumbo.messaging.peers.smtp import SmtpPeerProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "messaging"))
from deploy import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("kannel")]

PERSONS = 10_000


def _pg_admin_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


@pytest.fixture
def deployment(tmp_path: Path):
    kind = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with Deployment.create(kind, tmp_path / "deployment", pg_admin_url=_pg_admin_url()) as deployment:
        yield deployment


@pytest.fixture
def smtp(tmp_path: Path):
    with SmtpPeerProcess(out=tmp_path / "smtp.jsonl") as peer:
        yield peer


def _prepare(deployment: Deployment, smtp: SmtpPeerProcess, kannel: KannelPeer, prefix: str) -> None:
    config = kannel.channel_config()
    deployment.run_scenario(
        "prepare",
        "--persons",
        str(PERSONS),
        "--email-share",
        "0.5",
        "--phone-prefix",
        prefix,
        "--smtp",
        f"127.0.0.1:{smtp.port}",
        "--kannel",
        config["url"],
        # "--option=value": a generated password may start with "-", which argparse would take for an option
        f"--kannel-user={config['username']}",
        f"--kannel-pass={config['password']}",
    )
    queued = deployment.run_scenario("queue")
    assert queued["queued"] == PERSONS, queued
    assert queued["by_channel"] == {"sms": PERSONS // 2, "email": PERSONS // 2}, queued


def _received_once(deployment: Deployment, smtp: SmtpPeerProcess, kannel: KannelPeer, prefix: str) -> None:
    """Every email Message-ID and every SMS receiver exactly once at the peers."""
    half = PERSONS // 2
    deadline = time.monotonic() + 60
    while True:
        sms = [m for m in kannel.received() if m.receiver.startswith(prefix)]
        mails = smtp.records()
        if (len(sms) >= half and len(mails) >= half) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # anything sent twice would be here by now
    sms = [m for m in kannel.received() if m.receiver.startswith(prefix)]
    per_number = Counter(m.receiver for m in sms)
    per_message_id = smtp.deliveries()
    assert len(per_number) == half, f"{len(per_number)} numbers reached"
    assert max(per_number.values()) == 1, [n for n, c in per_number.items() if c > 1][:10]
    assert len(per_message_id) == half, f"{len(per_message_id)} emails accepted"
    assert max(per_message_id.values()) == 1, [m for m, c in per_message_id.items() if c > 1][:10]
    provider_ids = {
        f"<{pid}>"
        for (pid,) in deployment.query("SELECT provider_id FROM messaging_message WHERE \"to\" LIKE '%%@%%'")
    }
    assert provider_ids == set(per_message_id)


def test_worker_killed_mid_batch_every_message_arrives_exactly_once(deployment, smtp, kannel):
    prefix = "+52449" if connection.vendor == "sqlite" else "+52446"
    _prepare(deployment, smtp, kannel, prefix)

    worker = deployment.start_worker("worker-1")
    # Thousands sent and a batch in progress (claimed, partly sent): now. 6,000 is a batch boundary (24 × 250),
    # where the worker is claiming, not sending; at 6,100 it is in the middle of sending a batch — where
    # a kill between a message's "sent" mark and its last piece would lose it.
    before_kill = deployment.wait(
        lambda c: c.get("sent", 0) >= 6100 and c.get("sending", 0) > 0, timeout=240, every=0.01
    )
    deployment.kill(worker)  # SIGKILL: no clean-up, its claimed batch stays "sending" with a lease
    after_kill = deployment.counts()
    in_flight = after_kill.get("sending", 0)
    assert in_flight > 0 and after_kill.get("sent", 0) < PERSONS, after_kill

    deployment.start_worker("worker-2")
    final = deployment.wait(lambda c: c.get("sent", 0) == PERSONS, timeout=300)
    assert final == {"sent": PERSONS}
    deployment.stop_workers()

    _received_once(deployment, smtp, kannel, prefix)
    retried = deployment.query("SELECT COUNT(*) FROM messaging_message WHERE attempts > 1")[0][0]
    # The batch the first worker held was taken over after its lease ran out (attempt 2).
    assert retried >= in_flight
    print(
        f"\nkilled at {before_kill}; left {after_kill} ({in_flight} claimed by the dead worker); "
        f"{retried} sent by the second worker after the lease ran out"
    )


@pytest.mark.postgres_only
def test_two_workers_draining_the_same_queue_never_send_twice(deployment, smtp, kannel):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (several workers share the queue through SELECT … FOR UPDATE SKIP LOCKED)"
        )
    prefix = "+52447"
    _prepare(deployment, smtp, kannel, prefix)
    deployment.start_worker("worker-a")
    deployment.start_worker("worker-b")
    final = deployment.wait(lambda c: c.get("sent", 0) == PERSONS, timeout=300)
    assert final == {"sent": PERSONS}
    owners = deployment.query(
        "SELECT split_part(lease_owner, ':', 2), COUNT(*) FROM messaging_message GROUP BY 1"
    )
    deployment.stop_workers()
    assert len(owners) == 2, f"both workers sent: {owners}"
    _received_once(deployment, smtp, kannel, prefix)
    assert deployment.query("SELECT MAX(attempts) FROM messaging_message")[0][0] == 1


def test_sigterm_lets_the_worker_finish_its_batch(deployment, smtp, kannel):
    """A normal stop (SIGTERM) finishes the running task: nothing is left claimed."""
    prefix = "+52448" if connection.vendor == "sqlite" else "+52445"
    _prepare(deployment, smtp, kannel, prefix)
    worker = deployment.start_worker("worker-1")
    deployment.wait(lambda c: c.get("sent", 0) >= 1000, timeout=240, every=0.02)
    worker.send_signal(signal.SIGTERM)
    worker.wait(120)
    counts = deployment.counts()
    assert counts.get("sending", 0) == 0, counts
