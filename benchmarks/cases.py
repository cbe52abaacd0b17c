#!/usr/bin/env python
"""Cases benchmark: the office dashboard and the case list with 1,000,000 persons and 300,000 cases.

    python benchmarks/cases.py --db sqlite   --persons 1000000 --cases 300000
    python benchmarks/cases.py --db postgres --persons 1000000 --cases 300000
    python benchmarks/cases.py --db sqlite --reuse          # measure again on the last database

Database: SQLite file ``--path`` (default /tmp/rumbo_bench_cases/rumbo.sqlite3) or the PostgreSQL database
``--pg-name`` (default ``rumbo_bench_cases``) on 127.0.0.1:5432, user postgres (trust auth), made afresh
unless ``--reuse``. The persons: when the person-search benchmark's database
(``benchmarks/person_search.py``: /tmp/rumbo_bench/rumbo_bench.sqlite3 or ``rumbo_bench``) exists and holds
at least ``--persons`` persons, it is copied (SQLite backup API / ``CREATE DATABASE … TEMPLATE``); otherwise
``rumbo.demo`` generates them. Then migrations run and ``rumbo.cases.demo`` adds the cases (returns, needs,
referrals, follow-ups) for the persons of the five OFAM offices — its rate is printed.

Measured: whole requests through Django's test ``Client`` (middleware, session, permission checks, office
scope, selectors, template rendering — everything but the network and the WSGI server), with the test
settings (``rumbo.settings_test``: plain static files storage, so no ``collectstatic`` is needed). Per
page, ``--warmup`` requests then ``--requests`` measured ones:

* dashboard of OFAM Michoacán (about a quarter of the cases) for this month (the default), this quarter and
  this year, as its caseworker;
* dashboard of all offices (this month, the default, and this year) as the CONOFAM coordinator;
* case list: first page; filtered by status and need; "assigned to me" and status; page 5.

Milliseconds per request: p50, p95, p99, max. The machine (nproc, CPU, RAM, load average before and after)
is printed and, with ``--json FILE``, everything is saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
PERSONS_SQLITE = "/tmp/rumbo_bench/rumbo_bench.sqlite3"  # noqa: S108 - the person-search benchmark's file
PERSONS_PG = "rumbo_bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=60, help="Measured requests per page (≥ 50).")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", default="/tmp/rumbo_bench_cases/rumbo.sqlite3", help="SQLite file.")  # noqa: S108
    parser.add_argument("--pg-name", default="rumbo_bench_cases", help="PostgreSQL database name.")
    parser.add_argument(
        "--persons-from",
        default="",
        help="Database to copy the persons from (default: the person-search benchmark's, when present).",
    )
    parser.add_argument("--reuse", action="store_true", help="Keep the existing database: only measure.")
    parser.add_argument("--no-measure", action="store_true", help="Only build the database.")
    parser.add_argument("--json", default="", help="Write the results to this file as JSON.")
    return parser.parse_args()


# --- Database ----------------------------------------------------------------------------------------------


def _sqlite_persons(path: str) -> int:
    if not Path(path).exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM people_person").fetchone()[0])
    except sqlite3.Error:
        return 0


def _pg_persons(name: str) -> int:
    import psycopg

    try:
        with psycopg.connect(PG_URL.format(name=name).replace("postgres://", "postgresql://")) as conn:
            row = conn.execute("SELECT count(*) FROM people_person").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def prepare_database(args: argparse.Namespace) -> str:
    """A fresh database, holding the persons already when a person-benchmark database can be copied.
    Returns where the persons came from ("" when they must be generated)."""
    if args.db == "sqlite":
        source = args.persons_from or PERSONS_SQLITE
        path = Path(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        if _sqlite_persons(source) >= args.persons:
            started = time.perf_counter()
            with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
                src.backup(dst)
            print(f"copied the persons of {source} in {time.perf_counter() - started:.0f} s", flush=True)
            return source
        return ""
    import psycopg

    source = args.persons_from or PERSONS_PG
    copy = source != args.pg_name and _pg_persons(source) >= args.persons
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
        if copy:
            started = time.perf_counter()
            conn.execute(f'CREATE DATABASE "{args.pg_name}" TEMPLATE "{source}"')
            print(f"copied the persons of {source} in {time.perf_counter() - started:.0f} s", flush=True)
            return source
        conn.execute(f'CREATE DATABASE "{args.pg_name}"')
    return ""


def setup_django(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = (
        f"sqlite:///{args.path}" if args.db == "sqlite" else PG_URL.format(name=args.pg_name)
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "rumbo.settings_test"
    os.environ.setdefault("RUMBO_DATA_DIR", str(Path(args.path).parent))
    Path(os.environ["RUMBO_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


def generate(args: argparse.Namespace, persons_from: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django_scopes import scopes_disabled
    from tqdm import tqdm

    from rumbo.cases.demo import cases_generate
    from rumbo.demo.services import demo_generate
    from rumbo.demo.writers import writer_for
    from rumbo.offices.models import Office

    out: dict[str, Any] = {"persons_from": persons_from or "generated"}
    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    out["migrate_seconds"] = round(time.perf_counter() - started, 1)
    with scopes_disabled():
        if not persons_from:
            with tqdm(total=args.persons, unit=" persons", unit_scale=True, mininterval=5) as bar:
                result = demo_generate(
                    persons=args.persons, seed=args.seed, batch_size=args.batch_size, progress=bar.update
                )
            assert result.stats is not None
            out["persons_seconds"] = round(result.stats.seconds, 1)
            print(f"generated {result.stats.persons:,} persons in {result.stats.seconds:.0f} s", flush=True)
        else:
            demo_generate(persons=0, seed=args.seed)  # the demo network and users (already there: updated)
        if not args.cases:
            return out
        offices = list(Office.objects.filter(kind=Office.Kind.OFAM).order_by("code"))
        with tqdm(total=args.cases, unit=" cases", unit_scale=True, mininterval=5) as bar:
            cpu = time.process_time()
            stats = cases_generate(
                cases=args.cases,
                writer=writer_for(),
                offices=offices,
                seed=args.seed,
                batch_size=args.batch_size,
                progress=bar.update,
            )
            cpu = time.process_time() - cpu
    out.update(
        {
            "cases": stats.cases,
            "cases_seconds": round(stats.seconds, 1),
            "cases_per_s": round(stats.rate),
            "cases_cpu_seconds": round(cpu, 1),
            "rows": stats.rows,
            "cases_per_office": stats.offices,
        }
    )
    print(
        f"generated {stats.cases:,} cases ({sum(stats.rows.values()):,} rows) in {stats.seconds:.0f} s: "
        f"{stats.rate:,.0f} cases/s",
        flush=True,
    )
    return out


def database_size(args: argparse.Namespace) -> int:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
    return sum(
        Path(str(args.path) + s).stat().st_size for s in ("", "-wal") if Path(str(args.path) + s).exists()
    )


def machine() -> dict[str, Any]:
    import platform

    from django.db import connection

    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": os.getloadavg(),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    return info


# --- Measurement -----------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, Any]:
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


def pages() -> list[tuple[str, str, str, dict[str, str]]]:
    """(label, username, url name, query) of the measured pages."""
    caseworker, coordinator = "caseworker.michoacan", "coordinator.conofam"
    return [
        ("dashboard · Michoacán · this month", caseworker, "cases:dashboard", {}),
        ("dashboard · Michoacán · this quarter", caseworker, "cases:dashboard", {"period": "quarter"}),
        ("dashboard · Michoacán · this year", caseworker, "cases:dashboard", {"period": "year"}),
        ("dashboard · all offices · this month", coordinator, "cases:dashboard", {}),
        ("dashboard · all offices · this year", coordinator, "cases:dashboard", {"period": "year"}),
        ("case list · first page", caseworker, "cases:list", {}),
        ("case list · open, need health", caseworker, "cases:list", {"status": "open", "need": "health"}),
        ("case list · mine, in follow-up", caseworker, "cases:list", {"mine": "on", "status": "follow_up"}),
        ("case list · page 5", caseworker, "cases:list", {"page": "5"}),
    ]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    users = {u.username: u for u in get_user_model().objects.filter(username__in=[p[1] for p in pages()])}
    results: dict[str, Any] = {}
    for label, username, name, query in pages():
        client = Client(HTTP_ACCEPT_LANGUAGE="es")
        client.force_login(users[username])
        url = reverse(name)
        timings: list[float] = []
        cpu: list[float] = []
        for n in range(args.warmup + args.requests):
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url, query)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{label}: HTTP {response.status_code}")
            if n >= args.warmup:
                timings.append(elapsed)
                cpu.append((time.process_time() - cpu_started) * 1000)
        summary = percentiles(timings)
        # CPU time of this process per request: all the work on SQLite (in-process); on PostgreSQL the
        # server's share is not in it. On a shared machine it shows what waiting for a CPU added.
        summary["cpu"] = percentiles(cpu)
        summary["bytes"] = len(response.content)
        results[label] = summary
        own = summary["cpu"]
        print(
            f"  {label:40s} p50 {summary['p50']:7.1f}  p95 {summary['p95']:7.1f}  p99 {summary['p99']:7.1f}"
            f"  max {summary['max']:7.1f} ms  (CPU p50 {own['p50']:.1f}, p95 {own['p95']:.1f})",
            flush=True,
        )
    results["figures"] = figures()
    return results


def figures() -> dict[str, Any]:
    """What the measured dashboards show (so the runs can be compared), read once through the selector."""
    from django.contrib.auth import get_user_model

    from rumbo.cases.forms_tasks import period_bounds
    from rumbo.cases.selectors_dashboard import dashboard_figures
    from rumbo.cases.services.tasks import office_today, office_zone
    from rumbo.offices.models import Office

    user = get_user_model().objects.get(username="caseworker.michoacan")
    office = Office.objects.get(code="ofam-mich")
    today = office_today(office)
    out: dict[str, Any] = {}
    for period in ("month", "quarter", "year"):
        start, end = period_bounds(period, today)
        board = dashboard_figures(
            user=user, office_ids={office.pk}, start=start, end=end, today=today, zone=office_zone(office)
        )
        out[f"Michoacán · {period}"] = {
            "open_cases": board.open_cases,
            "new_this_week": board.new_this_week,
            "opened_in_period": board.opened_in_period,
            "referrals": board.referrals_total,
            "returns": board.returns_total,
            "overdue_tasks": board.overdue_tasks,
            "needs": {r.key: r.count for r in board.needs},
        }
    print(f"  figures: {out}", flush=True)
    return out


def main() -> None:
    args = parse_args()
    persons_from = "" if args.reuse else prepare_database(args)
    setup_django(args)
    report: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "db": args.db}
    report["machine"] = machine()
    print(f"machine: {report['machine']}", flush=True)
    if not args.reuse:
        report["generation"] = generate(args, persons_from)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM people_person")
        report["persons"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM cases_case")
        report["cases_total"] = cursor.fetchone()[0]
    report["database_bytes"] = database_size(args)
    print(
        f"{report['persons']:,} persons, {report['cases_total']:,} cases; "
        f"database {report['database_bytes'] / 2**20:,.0f} MiB",
        flush=True,
    )
    if args.no_measure:
        return
    report["pages"] = measure(args)
    report["load_average_at_end"] = os.getloadavg()
    start_load, end_load = report["machine"]["load_average_at_start"], report["load_average_at_end"]
    print(f"load average at start {start_load}, at end {end_load}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
