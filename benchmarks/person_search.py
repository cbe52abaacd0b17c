#!/usr/bin/env python
"""Person-search benchmark: a fresh database, N synthetic persons, a realistic query mix, latency percentiles.

    python benchmarks/person_search.py --db sqlite --persons 1000000
    python benchmarks/person_search.py --db postgres --persons 1000000
    python benchmarks/person_search.py --db sqlite --reuse          # search again on the last database

SQLite: a file under /tmp (``--path``). PostgreSQL: the database ``rumbo_bench`` on 127.0.0.1:5432, user
postgres (trust auth), dropped and created again. Migrations run, ``rumbo.demo`` generates the persons (its
rate is reported), then ~500 queries run through ``rumbo.people.selectors.person_search`` inside the office
scope a request would have, as a caseworker of one office and as a user who is caseworker in every office.
Results are printed and, with ``--json FILE``, saved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"

# Query kinds and the queries built for them (see build_queries).
KINDS = [
    "common name",  # common given name + common surname
    "full name",  # given names and both surnames of a registered person
    "rare surname",
    "accent misspelt",  # a registered name typed without / with wrong accents
    "prefix",  # first letters of a surname, as typed so far
    "curp",
    "phone +52",
    "phone national",
    "no hit",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500, help="Measured queries per user (after warm-up).")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", default="/tmp/rumbo_bench/rumbo_bench.sqlite3", help="SQLite file.")  # noqa: S108
    parser.add_argument("--pg-name", default="rumbo_bench", help="PostgreSQL database name.")
    parser.add_argument("--reuse", action="store_true", help="Keep the existing database: only search.")
    parser.add_argument("--json", default="", help="Write the results to this file as JSON.")
    return parser.parse_args()


def database_url(args: argparse.Namespace) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{args.path}"
    return PG_URL.format(name=args.pg_name)


def fresh_database(args: argparse.Namespace) -> None:
    if args.db == "sqlite":
        path = Path(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.pg_name}"')


def setup_django(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = database_url(args)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rumbo.settings"
    os.environ.setdefault("RUMBO_DATA_DIR", str(Path(args.path).parent))
    Path(os.environ["RUMBO_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


def machine() -> dict[str, Any]:
    import sqlite3

    from django.db import connection

    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    info = {
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": os.getloadavg(),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    return info


def database_size(args: argparse.Namespace) -> int:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
    return sum(
        Path(str(args.path) + s).stat().st_size for s in ("", "-wal") if Path(str(args.path) + s).exists()
    )


def generate(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django_scopes import scopes_disabled
    from tqdm import tqdm

    from rumbo.demo.services import demo_generate

    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    migrate_s = time.perf_counter() - started
    with scopes_disabled(), tqdm(total=args.persons, unit=" persons", unit_scale=True, mininterval=5) as bar:
        cpu = time.process_time()
        result = demo_generate(
            persons=args.persons, seed=args.seed, batch_size=args.batch_size, progress=bar.update
        )
        cpu = time.process_time() - cpu
    stats = result.stats
    assert stats is not None
    out = {
        "migrate_seconds": round(migrate_s, 1),
        "persons": stats.persons,
        "seconds": round(stats.seconds, 1),
        "rate_per_s": round(stats.rate),
        "cpu_seconds": round(cpu, 1),
        "rate_per_cpu_s": round(stats.persons / cpu) if cpu else None,
        "writer": result.writer,
        "indexes_rebuilt": result.detail.get("indexes_rebuilt"),
        "rows": stats.rows,
        "timings": {k: round(v, 1) for k, v in stats.timings.items()},
    }
    print(
        f"generated {stats.persons:,} persons in {stats.seconds:.1f} s: {stats.rate:,.0f} persons/s "
        f"({out['rate_per_cpu_s']:,} per CPU-second of this process; writer {result.writer})",
        flush=True,
    )
    return out


def users() -> dict[str, Any]:
    """The demo caseworker of OFAM Michoacán, and a caseworker in every office that holds persons."""
    from django.contrib.auth import get_user_model

    from rumbo.offices.models import Membership, Office, Role
    from rumbo.people.models import Person

    user_model = get_user_model()
    one = user_model.objects.get(username="caseworker.michoacan")
    everywhere, _ = user_model.objects.get_or_create(username="bench.all-offices")
    holding = Person.objects.values_list("office_id", flat=True).distinct()
    for office in Office.objects.filter(pk__in=holding):
        Membership.objects.get_or_create(user=everywhere, office=office, role=Role.CASEWORKER)
    return {"one office (OFAM Michoacán)": one, "all offices": everywhere}


def _misspell(rng: random.Random, name: str) -> str:
    """Drop every accent, or move one to a wrong vowel: what people type."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
    if rng.random() < 0.5:
        return plain.lower()
    vowels = [i for i, c in enumerate(plain) if c in "aeiou"]
    if not vowels:
        return plain
    i = rng.choice(vowels)
    return plain[:i] + {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú"}[plain[i]] + plain[i + 1 :]


def build_queries(rng: random.Random, user: Any, count: int) -> list[tuple[str, str]]:
    """``count`` (kind, query) pairs, drawn evenly across KINDS from persons the user can see."""
    from rumbo.offices.permissions import Perm, offices_with_perm
    from rumbo.people.models import Document, Person, Phone

    offices = list(offices_with_perm(user, Perm.VIEW_PERSON))
    top = (
        Person.objects.filter(office_id__in=offices).order_by("-id").values_list("id", flat=True).first() or 0
    )
    sample: list[Any] = []
    while len(sample) < 200:
        ids = [rng.randint(1, top) for _ in range(400)]
        sample.extend(
            Person.objects.filter(pk__in=ids, office_id__in=offices).only(
                "given_names", "first_surname", "second_surname"
            )
        )
    curps = list(
        Document.objects.filter(person__in=sample, kind="curp").values_list("number", flat=True)[:100]
    )
    phones = list(
        Phone.objects.filter(person__in=sample, e164__startswith="+52").values_list("e164", flat=True)
    )
    common = [
        "maría hernández", "josé luis garcía", "juan martínez", "maria guadalupe lopez",
        "jose hernandez", "juan carlos gonzalez", "miguel angel perez", "guadalupe sanchez",
    ]  # fmt: skip
    rare = ["Iturbide", "Xochihua", "Urquiza", "Tzintzun", "Huitrón", "Ñeco", "Patishtán", "Laboriel"]
    prefixes = ["hern", "gonz", "mart", "rodr", "ram", "guad", "flo", "ju"]
    nohit = ["zzyzx", "kowalski", "wojciechowska", "qqq zzz", "smithson", "5555555555"]

    def make(kind: str) -> str:
        p = rng.choice(sample)
        if kind == "common name":
            return rng.choice(common)
        if kind == "full name":
            return " ".join(x for x in (p.given_names, p.first_surname, p.second_surname) if x)
        if kind == "rare surname":
            return rng.choice(rare)
        if kind == "accent misspelt":
            return _misspell(rng, f"{p.given_names.split()[0]} {p.first_surname}")
        if kind == "prefix":
            return rng.choice(prefixes)
        if kind == "curp":
            return rng.choice(curps) if curps else "HEGG560427MVZRRL04"
        if kind == "phone +52":
            n = rng.choice(phones)[3:]
            return f"+52 {n[:3]} {n[3:6]} {n[6:]}"
        if kind == "phone national":
            return rng.choice(phones)[3:]
        return rng.choice(nohit)

    return [(kind, make(kind)) for kind in (KINDS[i % len(KINDS)] for i in range(count))]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[k]

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(pct(95), 1),
        "p99": round(pct(99), 1),
        "max": round(ordered[-1], 1),
    }


def run_searches(args: argparse.Namespace) -> dict[str, Any]:
    from django_scopes import scope, scopes_disabled

    from rumbo.offices.permissions import member_office_ids
    from rumbo.people.selectors import person_search

    rng = random.Random(args.seed)
    results: dict[str, Any] = {}
    with scopes_disabled():
        bench_users = users()
    for label, user in bench_users.items():
        with scopes_disabled():
            queries = build_queries(rng, user, args.warmup + args.queries)
        timings: dict[str, list[float]] = {k: [] for k in KINDS}
        hits: dict[str, list[int]] = {k: [] for k in KINDS}
        with scope(office=list(member_office_ids(user))):
            for n, (kind, query) in enumerate(queries):
                started = time.perf_counter()
                page = person_search(user, query)
                elapsed = (time.perf_counter() - started) * 1000
                if n >= args.warmup:
                    timings[kind].append(elapsed)
                    hits[kind].append(page.total)
        everything = [t for values in timings.values() for t in values]
        results[label] = {
            "overall": percentiles(everything),
            "kinds": {
                k: {**percentiles(v), "median_hits": statistics.median(hits[k])}
                for k, v in timings.items()
                if v
            },
        }
    return results


def print_results(results: dict[str, Any]) -> None:
    for label, data in results.items():
        print(f"\n{label}")
        print(f"  {'query kind':18s} {'n':>4s} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'max':>7s}  hits(median)")
        rows = [*data["kinds"].items(), ("OVERALL", data["overall"])]
        for kind, s in rows:
            hits = s.get("median_hits", "")
            figures = f"{s['n']:4d} {s['p50']:7.1f} {s['p95']:7.1f} {s['p99']:7.1f} {s['max']:7.1f}"
            print(f"  {kind:18s} {figures}  {hits}")


def main() -> None:
    args = parse_args()
    if not args.reuse:
        fresh_database(args)
    setup_django(args)
    report: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "db": args.db}
    report["machine"] = machine()
    if not args.reuse:
        report["generation"] = generate(args)
    report["database_bytes"] = database_size(args)
    print(f"database size: {report['database_bytes'] / 2**20:,.0f} MiB", flush=True)
    report["search"] = run_searches(args)
    report["load_average_at_end"] = os.getloadavg()
    print_results(report["search"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
