#!/usr/bin/env python
"""A messaging deployment to measure or to break: an office, its channels, N persons, a campaign.

Used by the messaging benchmarks and by the crash tests (which run it in a subprocess against their own
database). Everything runs in *this* process against ``DATABASE_URL`` (``rumbo.settings``), so set that, and
``RUMBO_DATA_DIR``, in the environment:

    python benchmarks/messaging/scenario.py prepare --persons 10000 --email-share 0.5 \\
        --smtp 127.0.0.1:2525 --kannel http://127.0.0.1:13013 --kannel-user rumbo --kannel-pass secret
    python benchmarks/messaging/scenario.py queue        # the campaign, to every person of the office
    python benchmarks/messaging/scenario.py status       # messages per status, as JSON

Persons are written in bulk with the demo writers (SQLite multi-row INSERT, PostgreSQL COPY): each has either
a mobile phone (+52 443 …, SMS) or an email address (``p<id>@example.org``), never both, so the channel each
message takes is known in advance. ``prepare`` prints a JSON object with the ids it made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OFFICE_CODE = "bench-msg"
ADMIN = "bench-msg-admin"
GIVEN = ["María", "José", "Guadalupe", "Juan", "Rosa", "Luis", "Ana", "Miguel", "Carmen", "Jesús"]
SURNAMES = ["Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez"]


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    import django

    django.setup()


def make_persons(
    office_id: int,
    count: int,
    email_share: float,
    batch: int = 20_000,
    phone_prefix: str = "+52443",
    email_prefix: str = "p",
) -> int:
    """``count`` persons of the office, in bulk: phone only (``phone_prefix`` and 7 digits from the person id)
    or email only (every ``1/email_share``-th, ``<email_prefix><id>@example.org``)."""
    from django.db import transaction
    from django.utils import timezone

    from rumbo.demo.writers import writer_for
    from rumbo.people.models import Person, Phone

    writer = writer_for()
    now = writer.datetime(timezone.now())
    every = round(1 / email_share) if email_share > 0 else 0
    done = 0
    person_columns = (
        "id",
        "office_id",
        "given_names",
        "first_surname",
        "second_surname",
        "email",
        "preferred_language",
        "created_at",
        "updated_at",
    )
    phone_columns = ("person_id", "e164", "kind", "whatsapp", "is_primary")
    while done < count:
        size = min(batch, count - done)
        with transaction.atomic():
            ids = writer.allocate_ids(Person, size)
            persons = []
            phones = []
            for offset, pid in enumerate(ids):
                n = done + offset
                email = f"{email_prefix}{pid}@example.org" if every and n % every == every - 1 else ""
                language = "eng" if n % 10 == 9 else "spa"
                persons.append(
                    (pid, office_id, GIVEN[n % 10], SURNAMES[n % 8], "", email, language, now, now)
                )
                if not email:
                    phones.append((pid, f"{phone_prefix}{pid % 10_000_000:07d}", "mobile", False, True))
            writer.write(Person, person_columns, persons)
            writer.write(Phone, phone_columns, phones)
        done += size
    return done


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from rumbo.messaging.models import Campaign
    from rumbo.messaging.services import create_channel, save_template
    from rumbo.offices.models import Membership, Office, Role

    if not args.no_migrate:
        call_command("migrate", "--noinput", "-v", "0")
    with scopes_disabled():
        office, _created = Office.objects.get_or_create(
            code=OFFICE_CODE, defaults={"name": "OFAM Benchmark", "kind": Office.Kind.OFAM}
        )
        admin, _created = get_user_model().objects.get_or_create(username=ADMIN)
        Membership.objects.get_or_create(user=admin, office=office, role=Role.OFFICE_ADMIN)
        channels: dict[str, int] = {}
        suffix = f"{int(time.time())}"
        if args.smtp:
            host, port = args.smtp.rsplit(":", 1)
            channels["email"] = create_channel(
                actor=admin,
                office=office,
                kind="email",
                name=f"SMTP {suffix}",
                sender="avisos@ofam-bench.example",
                config={"host": host, "port": port, "use_tls": "no", "use_ssl": "no", "timeout": "30"},
                rate_per_second=args.rate,
                priority=20,
            ).pk
        if args.kannel:
            config = {"url": args.kannel, "username": args.kannel_user, "password": args.kannel_pass}
            if args.kannel_webhook:
                config["webhook_url"] = args.kannel_webhook
            channels["sms"] = create_channel(
                actor=admin,
                office=office,
                kind="sms",
                name=f"Kannel {suffix}",
                sender="+524430000000",
                config=config,
                rate_per_second=args.rate,
                priority=10,
            ).pk
        template = save_template(
            actor=admin,
            office=office,
            key=f"check-{suffix}",
            name="¿Estás bien?",
            emergency=True,
            texts={
                "spa": (
                    "{{ office_name }}: ¿estás bien?",
                    "{{ given_names }}, {{ office_name }} pregunta si estás bien. Responde SI o AYUDA.",
                ),
                "eng": (
                    "{{ office_name }}: are you safe?",
                    "{{ given_names }}, {{ office_name }} asks if you are safe. Reply YES or HELP.",
                ),
            },
        )
        campaign = Campaign.objects.create(
            office=office, name=f"Sismo {suffix}", template=template, emergency=True, created_by=admin
        )
        started = time.perf_counter()
        persons = (
            make_persons(
                office.pk,
                args.persons,
                args.email_share,
                phone_prefix=args.phone_prefix,
                email_prefix=getattr(args, "email_prefix", "p"),
            )
            if args.persons
            else 0
        )
        seconds = time.perf_counter() - started
    return {
        "office": office.pk,
        "admin": admin.pk,
        "channels": channels,
        "campaign": campaign.pk,
        "persons": persons,
        "persons_seconds": round(seconds, 2),
    }


def queue(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django_scopes import scopes_disabled

    from rumbo.messaging.models import Campaign
    from rumbo.messaging.services import queue_campaign
    from rumbo.people.models import Person

    with scopes_disabled():
        campaign = Campaign.objects.select_related("office").get(pk=args.campaign) if args.campaign else None
        if campaign is None:
            campaign = Campaign.objects.filter(office__code=OFFICE_CODE).latest("id")
        admin = get_user_model().objects.get(username=ADMIN)
        started = time.perf_counter()
        ids = list(Person.objects.filter(office=campaign.office).order_by("id").values_list("id", flat=True))
        loaded = time.perf_counter() - started
        result = queue_campaign(actor=admin, campaign=campaign, person_ids=ids, step=args.step)
        seconds = time.perf_counter() - started
    return {
        "campaign": campaign.pk,
        "recipients": result.recipients,
        "queued": result.queued,
        "already_queued": result.already_queued,
        "skipped": dict(result.skipped),
        "by_channel": dict(result.by_channel),
        "tasks": result.tasks,
        "ids_seconds": round(loaded, 2),
        "queue_seconds": round(result.seconds, 2),
        "seconds": round(seconds, 2),
        "per_second": round(result.queued / seconds) if seconds else 0,
    }


def status() -> dict[str, Any]:
    from django.db.models import Count
    from django_scopes import scopes_disabled

    from rumbo.messaging.models import Message

    with scopes_disabled():
        rows = Message.objects.values("status").annotate(n=Count("id")).values_list("status", "n").order_by()
        return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--persons", type=int, default=10_000)
    p.add_argument("--email-share", type=float, default=0.5)
    p.add_argument("--phone-prefix", default="+52443", help="Country code and area code of the phones")
    p.add_argument(
        "--email-prefix",
        default="p",
        help="Local part before the person id (the SMTP peer refuses bounce…, tempfail…, flaky… once)",
    )
    p.add_argument("--smtp", default="", help="host:port of the SMTP server")
    p.add_argument("--kannel", default="", help="smsbox URL, e.g. http://127.0.0.1:13013")
    p.add_argument("--kannel-user", default="rumbo")
    p.add_argument("--kannel-pass", default="rumbo")
    p.add_argument("--kannel-webhook", default="", help="Rumbo's webhook URL for delivery reports")
    p.add_argument("--rate", type=int, default=100_000, help="Rate limit of the channels (per second)")
    p.add_argument("--no-migrate", action="store_true")
    q = sub.add_parser("queue")
    q.add_argument("--campaign", type=int, default=0)
    q.add_argument("--step", type=int, default=0)
    sub.add_parser("status")
    args = parser.parse_args()
    setup_django()
    if args.command == "prepare":
        out = prepare(args)
    elif args.command == "queue":
        out = queue(args)
    else:
        out = status()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
