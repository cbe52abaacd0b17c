#!/usr/bin/env python
"""Inbound benchmark: replies to a campaign ingested, matched to person and campaign (target: ≥ 1,000/s).

    python benchmarks/messaging/bench_inbound.py --db sqlite --persons 100000 --replies 20000
    python benchmarks/messaging/bench_inbound.py --db postgres --http

A fresh database, N persons with a mobile phone, an SMS channel (Kannel adapter) and one campaign step
"sent" to all of them (the outbox rows are written by ``queue_campaign`` and marked sent in bulk). Then:

* **record_events**: R replies (``InboundEvent`` as the Kannel adapter parses them: sender, text, gateway id),
  from random recipients, 5 % of them "BAJA" (opt-outs: a consent withdrawal and an audit event each), fed
  to ``rumbo.messaging.services.record_events`` in batches of 1,000 — the bulk path a worker uses;
* **--http**: the same kind of replies as Kannel delivers them, one HTTP GET per reply
  (``/hooks/messaging/<token>/sms/?type=mo&from=…&text=…``) to Rumbo served by gunicorn (2 processes × 4
  threads) on this machine, from 16 client threads with keep-alive connections. Each call goes through
  ``rumbo.wsgi`` (the short middleware stack of ``/hooks/``), the channel lookup by token, the adapter's
  ``parse_webhook`` and, with the deferred ingest (the default; ``RUMBO_MESSAGING_DEFERRED_INGEST=0`` turns it
  off), one insert of the call; then the stored calls are applied as the worker does
  (``ingest_pending``), timed apart.

Afterwards every reply must be stored once, matched to its person and to the campaign.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CpuMeter, add_db_arguments, fresh_database, load_average, use_database  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(persons: int) -> dict[str, object]:
    import scenario
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from rumbo.messaging.models import Campaign, Channel, Message
    from rumbo.messaging.services import queue_campaign
    from rumbo.people.models import Person, Phone

    prepared = scenario.prepare(
        argparse.Namespace(
            persons=persons,
            email_share=0.0,
            phone_prefix="+52443",
            smtp="",
            kannel="http://127.0.0.1:13013",
            kannel_user="rumbo",
            kannel_pass="rumbo",  # noqa: S106 - a local test gateway
            kannel_webhook="",
            rate=1000,
            no_migrate=False,
        )
    )
    with scopes_disabled():
        campaign = Campaign.objects.get(pk=prepared["campaign"])
        admin = get_user_model().objects.get(username=scenario.ADMIN)
        ids = list(Person.objects.filter(office=campaign.office).values_list("id", flat=True))
        queue_campaign(actor=admin, campaign=campaign, person_ids=ids)
        Message.objects.filter(campaign=campaign).update(status="sent", sent_at=timezone.now())
        numbers = list(Phone.objects.filter(person__office=campaign.office).values_list("e164", flat=True))
        channel = Channel.objects.get(pk=prepared["channels"]["sms"])
    # A database in use has planner statistics; a freshly bulk-loaded one gets them now.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"campaign": campaign.pk, "channel": channel, "numbers": numbers}


def bench_record_events(
    channel: object, numbers: list[str], replies: int, rng: random.Random
) -> dict[str, object]:
    from rumbo.messaging.adapters.base import InboundEvent, InboundKind
    from rumbo.messaging.services import record_events

    events = [
        InboundEvent(
            kind=InboundKind.REPLY,
            sender=rng.choice(numbers),
            body="BAJA" if rng.random() < 0.05 else "Estoy bien, gracias",
            provider_id=f"bench-{n}",
        )
        for n in range(replies)
    ]
    load_before = load_average()
    started = time.perf_counter()
    matched = opt_outs = 0
    with CpuMeter() as cpu:
        for start in range(0, replies, 1000):
            result = record_events(channel=channel, events=events[start : start + 1000])  # type: ignore[arg-type]
            matched += result.matched
            opt_outs += result.opt_outs
    seconds = time.perf_counter() - started
    return {
        "replies": replies,
        "seconds": round(seconds, 2),
        "per_second": round(replies / seconds),
        "matched": matched,
        "opt_outs": opt_outs,
        "cpu_python": round(cpu.python, 1),
        "cpu_database": round(cpu.database, 1),
        "load_average": [load_before, load_average()],
    }


def bench_http(
    channel: object, numbers: list[str], replies: int, rng: random.Random, *, with_worker: bool = False
) -> dict[str, object]:
    port = _free_port()
    env = dict(os.environ)
    worker = None
    if with_worker:
        # The deferred ingest's worker, on the same machine: it applies the stored calls while they arrive.
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rumbo",
                "worker",
                "--queue-name",
                "messaging",
                "--interval",
                "0.1",
                "--no-startup-delay",
                "--no-sweep",
                "-v",
                "0",
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    server = subprocess.Popen(  # noqa: S603 - gunicorn from this virtualenv
        [
            sys.executable,
            "-m",
            "gunicorn",
            "rumbo.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--no-control-socket",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        path = f"/hooks/messaging/{channel.webhook_token}/sms/"  # type: ignore[attr-defined]
        queries = [
            path
            + "?"
            + urlencode(
                {
                    "type": "mo",
                    "from": rng.choice(numbers),
                    "to": "+524430000000",
                    "text": "Estoy bien, gracias",
                    "coding": "0",
                    "charset": "UTF-8",
                    "smsc": "mo",
                    "id": f"http-{n}",
                    "ts": str(int(time.time())),
                }
            )
            for n in range(replies)
        ]
        failures: list[int] = []
        cursor = iter(range(replies))
        lock = threading.Lock()

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    conn.close()
                    return
                conn.request("GET", queries[index], headers={"Host": "127.0.0.1"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failures.append(response.status)

        # Warm-up: the first requests of each process import and connect.
        for query in queries[:20]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", query.replace("id=http-", "id=warm-"), headers={"Host": "127.0.0.1"})
            conn.getresponse().read()
            conn.close()
        load_before = load_average()
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        applied_seconds = None
        if worker is not None:
            from django.db import connection

            from rumbo.messaging.models import InboundPending

            while InboundPending.objects.exists():  # the worker applies the last calls
                time.sleep(0.05)
            applied_seconds = time.perf_counter() - started
            connection.close()
    finally:
        server.terminate()
        server.wait(30)
        if worker is not None:
            worker.terminate()
            worker.wait(30)
    figures: dict[str, object] = {
        "replies": replies,
        "seconds": round(seconds, 2),
        "per_second": round(replies / seconds),
        "failures": len(failures),
        "load_average": [load_before, load_average()],
    }
    if applied_seconds is not None:
        figures["applied_seconds"] = round(applied_seconds, 2)
        figures["applied_per_second"] = round(replies / applied_seconds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_arguments(parser, name="inbound")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--replies", type=int, default=20_000)
    parser.add_argument("--http", action="store_true", help="Also through the webhook (gunicorn).")
    parser.add_argument("--http-replies", type=int, default=5_000)
    parser.add_argument(
        "--with-worker",
        action="store_true",
        help="Run the deferred ingest's worker during the webhook load and time until every call is applied.",
    )
    parser.add_argument("--json", default="", help="Write the figures to this file too.")
    args = parser.parse_args()
    fresh_database(args)
    use_database(args)
    os.environ.setdefault("RUMBO_LOCAL_HTTP", "1")
    import django

    django.setup()
    from django_scopes import scopes_disabled

    from rumbo.messaging.models import Inbound

    rng = random.Random(7)
    started = time.perf_counter()
    world = prepare(args.persons)
    print(
        f"prepared {args.persons:,} persons, a campaign sent to all in {time.perf_counter() - started:.1f} s"
    )
    figures: dict[str, object] = {"db": args.db, "persons": args.persons}
    with scopes_disabled():
        figures["record_events"] = bench_record_events(world["channel"], world["numbers"], args.replies, rng)  # type: ignore[arg-type]
        print(f"record_events: {figures['record_events']}", flush=True)
        if args.http:
            from django.db import connection

            connection.close()  # the server processes need the database (SQLite: no lock held here)
            numbers: list[str] = world["numbers"]  # type: ignore[assignment]
            figures["http"] = bench_http(
                world["channel"], numbers, args.http_replies, rng, with_worker=args.with_worker
            )
            print(f"HTTP webhook: {figures['http']}", flush=True)
            # Deferred ingest (the default): the calls were stored; apply them as the worker does.
            from rumbo.messaging.services.inbound import ingest_pending, pending_count

            waiting = pending_count()
            drain_started = time.perf_counter()
            applied = ingest_pending()
            drain_seconds = time.perf_counter() - drain_started
            figures["http_drain"] = {
                "calls_waiting": waiting,
                "applied": applied,
                "seconds": round(drain_seconds, 2),
                "per_second": round(applied / drain_seconds) if applied else 0,
            }
            print(f"applied the stored calls as a worker does: {figures['http_drain']}", flush=True)
        replies = Inbound.objects.filter(kind="reply")
        figures["stored"] = replies.count()
        figures["matched_to_campaign"] = replies.filter(campaign_id=world["campaign"]).count()
        figures["unmatched"] = replies.filter(person__isnull=True).count()
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    main()
