#!/usr/bin/env python
"""Queue benchmark: one campaign step to N persons, through ``queue_campaign`` (target: 1,000,000 in ≤ 60 s).

    python benchmarks/messaging/bench_queue.py --db sqlite --persons 1000000
    python benchmarks/messaging/bench_queue.py --db postgres --persons 1000000

A fresh database (SQLite file ``/tmp/rumbo_bench_messaging/queue.sqlite3``, or the PostgreSQL database
``rumbo_bench_messaging`` on 127.0.0.1, dropped and created again), migrated; an office with an SMS channel
(priority 1) and an email channel; N persons written in bulk (``scenario.make_persons``: 90 % with a mobile
phone, 10 % with an email address, 10 % English speakers). Then the timed part, exactly what the "queue"
button does: ``queue_campaign`` as the office admin with every person id of the office — recipients loaded,
channel, address and language chosen, texts rendered, rows written, one sending task per batch of 500
messages enqueued (django-tasks-db, same database). No worker runs meanwhile. A second call (everything
already queued: the idempotency path) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CpuMeter, add_db_arguments, fresh_database, load_average, use_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_arguments(parser, name="queue")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--email-share", type=float, default=0.1)
    parser.add_argument("--no-requeue", action="store_true", help="Skip the second (idempotent) call.")
    parser.add_argument("--json", default="", help="Write the figures to this file too.")
    args = parser.parse_args()
    fresh_database(args)
    use_database(args)

    import django

    django.setup()
    import scenario
    from django.contrib.auth import get_user_model
    from django_scopes import scopes_disabled
    from django_tasks_db.models import DBTaskResult

    from rumbo.messaging.models import Campaign, Message
    from rumbo.messaging.services import queue_campaign
    from rumbo.people.models import Person

    prepare_args = argparse.Namespace(
        persons=args.persons,
        email_share=args.email_share,
        phone_prefix="+52443",
        smtp="127.0.0.1:2525",
        kannel="http://127.0.0.1:13013",
        kannel_user="rumbo",
        kannel_pass="rumbo",  # noqa: S106 - the local test gateway
        kannel_webhook="",
        rate=1000,
        no_migrate=False,
    )
    started = time.perf_counter()
    prepared = scenario.prepare(prepare_args)
    print(f"prepared {prepared['persons']:,} persons in {time.perf_counter() - started:.1f} s", flush=True)

    figures: dict[str, object] = {"db": args.db, "persons": args.persons}
    with scopes_disabled():
        campaign = Campaign.objects.select_related("office", "template").get(pk=prepared["campaign"])
        admin = get_user_model().objects.get(username=scenario.ADMIN)
        ids = list(Person.objects.filter(office=campaign.office).values_list("id", flat=True))
        load_before = load_average()
        started = time.perf_counter()
        with CpuMeter() as cpu:
            result = queue_campaign(actor=admin, campaign=campaign, person_ids=ids)
        seconds = time.perf_counter() - started
        figures.update(
            cpu_python=round(cpu.python, 1),
            cpu_database=round(cpu.database, 1),
            load_average=[load_before, load_average()],
            queued=result.queued,
            skipped=dict(result.skipped),
            by_channel=dict(result.by_channel),
            tasks=result.tasks,
            seconds=round(seconds, 1),
            per_second=round(result.queued / seconds),
            messages_in_db=Message.objects.count(),
            task_rows=DBTaskResult.objects.count(),
        )
        print(
            f"queued {result.queued:,} messages in {seconds:.1f} s = {result.queued / seconds:,.0f}/s "
            f"({result.tasks:,} tasks; by channel {dict(result.by_channel)})",
            flush=True,
        )
        print(
            f"CPU: Python {cpu.python:.1f} s, database server {cpu.database:.1f} s "
            f"(load average {load_before} → {load_average()} on {os.cpu_count()} cores)",
            flush=True,
        )
        if not args.no_requeue:
            started = time.perf_counter()
            again = queue_campaign(actor=admin, campaign=campaign, person_ids=ids)
            seconds = time.perf_counter() - started
            figures.update(requeue_seconds=round(seconds, 1), requeue_already=again.already_queued)
            print(f"queued again: {again.already_queued:,} already queued, nothing new, in {seconds:.1f} s")
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    main()
