#!/usr/bin/env python
"""Import benchmark: a registry of N synthetic persons, a realistic CSV of M rows, the import timed per phase.

    python benchmarks/imports.py --db sqlite --registry 100000 --rows 100000
    python benchmarks/imports.py --db postgres --registry 1000000 --rows 100000
    python benchmarks/imports.py --db sqlite --reuse          # import again into the last registry
    python benchmarks/imports.py --db sqlite --repeat 5       # five imports, each into the same registry

SQLite: a file under /tmp (``--path``). PostgreSQL: the database ``rumbo_bench_imports`` on 127.0.0.1:5432,
user postgres (trust auth), dropped and created again (or ``DATABASE_URL`` when set). Migrations run and
``rumbo.demo`` generates the registry. The CSV (written next to the database) holds persons generated the
same way for OFAM Michoacán, with Spanish headers, dates as dd/mm/yyyy, sexes as H/M, phones typed in
several ways, nationalities as words, municipalities as INEGI codes or names; about 2 % of the rows are bad
(wrong CURP check digit, impossible date, no given name, impossible phone, malformed email) and about 3 %
are near-duplicates of persons already registered in the office (accents dropped, day and month swapped,
phone without the country code, second surname missing…).

The import runs in-process and synchronously (``rumbo.imports.services.import_run``) as the office
administrator of OFAM Michoacán, exactly as the background task runs it; rows/s are printed overall and per
phase: parse, validate (row reading + ``person_data_clean``), write (persons, child rows, search tokens,
audit events, import rows), index (match index), duplicates (``candidates_bulk`` + pairs) and commit.
A second import of the same file (idempotency: nothing new) is timed too. With ``--repeat N`` the file is
imported N times, each time into a fresh copy of the registry (SQLite: a copy of the file; PostgreSQL: a
database made from a template), and the median is printed. "python_loop_10m_s" in the machine line (ten
million additions in a Python loop) says how fast the machine runs plain Python, to compare machines.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
OFFICE = "ofam-mich"
ADMIN = "admin.michoacan"
HEADERS = [
    "Nombre(s)",
    "Primer apellido",
    "Segundo apellido",
    "Sexo",
    "Fecha de nacimiento",
    "CURP",
    "Teléfono",
    "Correo",
    "Nacionalidad",
    "Lengua",
    "Estado",
    "Municipio",
    "Domicilio",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--registry", type=int, default=100_000, help="Persons in the registry first.")
    parser.add_argument(
        "--rows", type=int, default=100_000, help="Rows in the imported file (0: build the registry only)."
    )
    parser.add_argument("--bad", type=float, default=0.02, help="Share of bad rows.")
    parser.add_argument("--duplicates", type=float, default=0.03, help="Share of near-duplicate rows.")
    parser.add_argument("--chunk-size", type=int, default=10_000, help="Rows per transaction.")
    parser.add_argument(
        "--workers", type=int, default=None, help="Validation processes (default: one per core; 0: none)."
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--path", default="/tmp/rumbo_bench_imports/rumbo.sqlite3", help="SQLite file.")  # noqa: S108
    parser.add_argument("--pg-name", default="rumbo_bench_imports", help="PostgreSQL database name.")
    parser.add_argument("--reuse", action="store_true", help="Keep the existing registry.")
    parser.add_argument("--no-reimport", action="store_true", help="Skip the second (idempotent) import.")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Import the file this many times, each time into a fresh copy of the same registry, and print "
        "the median (the machines are noisy: single runs vary by 10 %% and more).",
    )
    parser.add_argument("--profile", default="", help="Write a cProfile of the import to this file.")
    parser.add_argument("--json", default="", help="Write the results to this file as JSON.")
    return parser.parse_args()


def database_url(args: argparse.Namespace) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{args.path}"
    return os.environ.get("DATABASE_URL") or PG_URL.format(name=args.pg_name)


def fresh_database(args: argparse.Namespace) -> None:
    if args.db == "sqlite":
        path = Path(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    if os.environ.get("DATABASE_URL"):
        return  # the caller's database: migrations make it current, the registry is added to it
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.pg_name}"')


def setup_django(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = database_url(args)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rumbo.settings"
    os.environ.setdefault("RUMBO_DATA_DIR", str(Path(args.path).parent))
    Path(os.environ["RUMBO_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from django.conf import settings

    settings.RUMBO_IMPORT_MAX_BYTES = 200 * 1024 * 1024  # the benchmark file may exceed the 20 MB default


def build_registry(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from rumbo.demo.services import demo_generate
    from rumbo.people.models import Person

    started = time.perf_counter()
    call_command("migrate", "--noinput", "-v", "0")
    with scopes_disabled():
        result = demo_generate(persons=args.registry, seed=args.seed)
        indexed = index_registry()
        total = Person.objects.count()
    return {
        "persons": total,
        "generated_per_s": round(result.stats.rate) if result.stats else 0,
        "match_index_built_s": indexed,
        "seconds": round(time.perf_counter() - started, 1),
    }


def index_registry() -> float:
    """Build the match index of persons that have none (when the generator does not write it)."""
    from rumbo.matching.index import index_persons_bulk
    from rumbo.matching.models import MatchProfile
    from rumbo.people.models import Person

    missing = Person.objects.exclude(pk__in=MatchProfile.objects.values("person_id")).order_by("pk")
    if not missing.exists():
        return 0.0
    started = time.perf_counter()
    last = 0
    from django.db import transaction

    while True:
        chunk = list(missing.filter(pk__gt=last)[:10_000])
        if not chunk:
            break
        with transaction.atomic():
            index_persons_bulk(chunk)
        last = chunk[-1].pk
    return round(time.perf_counter() - started, 1)


# --- copies of the registry (--repeat) -------------------------------------------------------------------


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def save_registry(args: argparse.Namespace) -> None:
    """Keep a copy of the registry as it is now (SQLite: a copy of the file; PostgreSQL: a template)."""
    from django.db import connection, connections

    if args.db == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connections.close_all()
        shutil.copyfile(args.path, args.path + ".registry")
        return
    connections.close_all()
    copy = f"{args.pg_name}_registry"
    _pg_admin(
        f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)',
        f'CREATE DATABASE "{copy}" TEMPLATE "{args.pg_name}"',
    )


def restore_registry(args: argparse.Namespace) -> None:
    """The database as :func:`save_registry` kept it (the next query opens a new connection)."""
    from django.db import connections

    connections.close_all()
    if args.db == "sqlite":
        for suffix in ("-wal", "-shm"):
            Path(args.path + suffix).unlink(missing_ok=True)
        shutil.copyfile(args.path + ".registry", args.path)
        return
    _pg_admin(
        f'DROP DATABASE "{args.pg_name}" WITH (FORCE)',
        f'CREATE DATABASE "{args.pg_name}" TEMPLATE "{args.pg_name}_registry"',
    )


def drop_registry_copy(args: argparse.Namespace) -> None:
    if args.db == "sqlite":
        Path(args.path + ".registry").unlink(missing_ok=True)
    else:
        _pg_admin(f'DROP DATABASE IF EXISTS "{args.pg_name}_registry" WITH (FORCE)')


# --- the CSV ---------------------------------------------------------------------------------------------


def _dmy(iso: str, precision: str) -> str:
    year, month, day = iso.split("-")
    if precision == "year":
        return year
    if precision == "month":
        return f"{month}/{year}"
    return f"{day}/{month}/{year}"


def _phone_as_typed(e164: str, rng: random.Random) -> str:
    national = e164[3:] if e164.startswith("+52") else e164
    r = rng.random()
    if not e164.startswith("+52") or r < 0.2:
        return e164
    if r < 0.6:
        return f"{national[:3]} {national[3:6]} {national[6:]}"
    if r < 0.8:
        return national
    return f"({national[:3]}) {national[3:6]}-{national[6:]}"


def generated_rows(count: int, seed: int) -> list[list[str]]:
    """``count`` new persons of OFAM Michoacán as CSV rows (the demo generator's people)."""
    from django.utils import timezone

    from rumbo.demo.generator import PersonGenerator
    from rumbo.demo.network import load_network
    from rumbo.demo.services import demo_profiles
    from rumbo.demo.writers import OrmWriter
    from rumbo.geo.models import AdminArea

    network = load_network()
    profiles = [p for p in demo_profiles(network) if p.code == OFFICE]
    generator = PersonGenerator(profiles, seed=seed, writer=OrmWriter())
    rng = random.Random(seed)
    areas = {
        a.pk: (a.code, a.name, a.parent.name if a.parent else "")
        for a in AdminArea.objects.filter(country="MX", level=2).select_related("parent")
    }
    now = timezone.now()
    batch = generator.batch(list(range(1, count + 1)), (now, now))
    documents = {r[0]: r[2] for r in batch.documents if r[1] == "curp"}
    phones = {r[0]: r[1] for r in batch.phones}
    addresses = {r[0]: (r[2], r[3]) for r in batch.addresses}
    languages: dict[int, str] = {}
    for pid, code in batch.languages:
        languages[pid] = "náhuatl" if code == "nah" else ("purépecha" if code == "tsz" else code)
    rows: list[list[str]] = []
    for p in batch.persons:
        pid, _office, given, first, second, sex, birth, precision = p[:8]
        area_id, text = addresses.get(pid, (None, ""))
        code, muni, state = areas.get(area_id, ("", "", "")) if area_id else ("", "", "")
        by_code = rng.random() < 0.5
        rows.append(
            [
                given,
                first,
                second,
                "H" if sex == "M" else "M",
                _dmy(birth, precision),
                documents.get(pid, ""),
                _phone_as_typed(phones[pid], rng) if pid in phones else "",
                "",
                "mexicana" if rng.random() < 0.7 else "MX",
                languages.get(pid, ""),
                "" if by_code else state,
                code if by_code else muni,
                text,
            ]
        )
    return rows


def _strip_accents(text: str) -> str:
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def near_duplicates(count: int, rng: random.Random) -> list[list[str]]:
    """Rows for ``count`` persons already registered in the office, written slightly differently."""
    from rumbo.offices.models import Office
    from rumbo.people.models import Document, Person, Phone

    office = Office.objects.get(code=OFFICE)
    ids = list(Person.objects.filter(office=office).values_list("pk", flat=True).order_by("pk"))
    chosen = rng.sample(ids, min(count, len(ids)))
    persons = Person.objects.filter(pk__in=chosen).in_bulk()
    curps = dict(
        Document.objects.filter(person_id__in=chosen, kind="curp").values_list("person_id", "number")
    )
    phones = dict(Phone.objects.filter(person_id__in=chosen).values_list("person_id", "e164"))
    rows = []
    for pid in chosen:
        p = persons[pid]
        given, first, second = p.given_names, p.first_surname, p.second_surname
        birth = p.birth_date.isoformat() if p.birth_date else ""
        precision = p.birth_date_precision
        r = rng.random()
        if r < 0.3:
            given, first, second = _strip_accents(given), _strip_accents(first), _strip_accents(second)
        elif r < 0.5:
            second = ""
        elif r < 0.7 and birth and precision == "day" and int(birth[8:]) <= 12:
            birth = f"{birth[:4]}-{birth[8:]}-{birth[5:7]}"  # day and month swapped
        elif r < 0.85:
            given = given.split()[0]
        curp = curps.get(pid, "") if rng.random() < 0.5 else ""
        phone = phones.get(pid, "")
        rows.append(
            [
                given,
                first,
                second,
                "H" if p.sex == "M" else "M",
                _dmy(birth, precision) if birth else "",
                curp,
                phone[3:] if phone.startswith("+52") else phone,
                "",
                "mexicana",
                "",
                "Michoacán",
                "",
                "",
            ]
        )
    return rows


def spoil(row: list[str], rng: random.Random) -> list[str]:
    """A bad row: one field broken the way data entry breaks it."""
    row = list(row)
    kind = rng.randrange(5)
    if kind == 0 and row[5]:
        last = row[5][-1]
        row[5] = row[5][:-1] + ("0" if last != "0" else "1")  # wrong check digit
    elif kind == 1:
        row[4] = "31/02/1990"
    elif kind == 2:
        row[0] = ""
    elif kind == 3:
        row[6] = "12345"
    else:
        row[7] = "juan.perez@"
    return row


def write_csv(args: argparse.Namespace, path: Path) -> dict[str, int]:
    from django_scopes import scopes_disabled

    rng = random.Random(args.seed)
    duplicates = int(args.rows * args.duplicates)
    with scopes_disabled():
        rows = generated_rows(args.rows - duplicates, args.seed + 1)
        rows += near_duplicates(duplicates, rng)
    rng.shuffle(rows)
    bad = 0
    for i in range(len(rows)):
        if rng.random() < args.bad:
            rows[i] = spoil(rows[i], rng)
            bad += 1
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return {"rows": len(rows), "spoilt": bad, "near_duplicates": duplicates, "bytes": path.stat().st_size}


# --- the import ------------------------------------------------------------------------------------------


def run_import(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django_scopes import scopes_disabled

    from rumbo.imports.services import import_run, import_set_mapping, import_upload
    from rumbo.offices.models import Office

    with scopes_disabled():
        office = Office.objects.get(code=OFFICE)
        user = get_user_model().objects.get(username=ADMIN)
        with path.open("rb") as fh:
            batch = import_upload(actor=user, office=office, upload=File(fh, name=path.name), language="es")
        import_set_mapping(actor=user, batch=batch, mapping=batch.mapping)
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        batch = import_run(actor=user, batch=batch, chunk_size=args.chunk_size, workers=args.workers)
        if args.profile:
            profiler.disable()
            profiler.dump_stats(args.profile)
        seconds = time.perf_counter() - started
        cpu = {k: round(v - cpu_before[k], 2) for k, v in cpu_seconds().items()}
    if batch.error:
        raise SystemExit(f"import failed: {batch.error}")
    timings = dict(batch.timings)
    return {
        "rows": batch.total_rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(batch.total_rows / seconds),
        "created": batch.created_count,
        "possible_duplicates": batch.possible_duplicates_count,
        "already_imported": batch.skipped_existing_count,
        "invalid": batch.failed_count,
        "phases_s": timings,
        "phase_rows_per_s": {
            k: round(batch.total_rows / v) for k, v in timings.items() if v and k != "total"
        },
        "mapping": dict(zip(batch.headers, batch.mapping, strict=True)),
        "cpu_s": cpu,
    }


def cpu_seconds() -> dict[str, float]:
    """CPU time so far of this process, of its finished children (the validating workers, the duplicate
    check) and of the database server's processes (PostgreSQL on this machine; 0 for SQLite, which works
    inside the importing process)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    tick = os.sysconf("SC_CLK_TCK")
    server = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        name, _, rest = text.partition(") ")
        if name.endswith("(postgres"):
            fields = rest.split()
            server += (int(fields[11]) + int(fields[12])) / tick
    return {
        "importer": me.ru_utime + me.ru_stime,
        "children": children.ru_utime + children.ru_stime,
        "database_server": server,
    }


def print_result(label: str, result: dict[str, Any]) -> None:
    print(
        f"\n{label}: {result['rows']:,} rows in {result['seconds']:.1f} s = {result['rows_per_s']:,} rows/s"
    )
    print(
        f"  created {result['created']:,}, possible duplicates {result['possible_duplicates']:,}, "
        f"already imported {result['already_imported']:,}, invalid {result['invalid']:,}"
    )
    for phase, seconds in result["phases_s"].items():
        rate = result["phase_rows_per_s"].get(phase)
        print(f"  {phase:<11} {seconds:8.2f} s" + (f"  ({rate:,} rows/s)" if rate else ""))
    cpu = result["cpu_s"]
    cores = os.cpu_count() or 1
    print(
        "  cpu: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in cpu.items())
        + f"; {sum(cpu.values()):.1f} s in all, of {cores * result['seconds']:.1f} s on {cores} cores"
    )


def python_loop_seconds() -> float:
    """Seconds for ten million additions in a Python loop: how fast this machine runs plain Python."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 2)


def main() -> None:
    args = parse_args()
    if args.repeat > 1 and args.db == "postgres" and os.environ.get("DATABASE_URL"):
        raise SystemExit("--repeat copies the benchmark's own database: leave DATABASE_URL unset.")
    if not args.reuse:
        fresh_database(args)
    setup_django(args)
    from person_search import machine

    info: dict[str, Any] = {
        "machine": {**machine(), "python_loop_10m_s": python_loop_seconds()},
        "args": vars(args),
    }
    print("machine:", json.dumps(info["machine"]))
    if not args.reuse:
        info["registry"] = build_registry(args)
        print("registry:", json.dumps(info["registry"]))
    else:
        from django.core.management import call_command

        call_command("migrate", "--noinput", "-v", "0")
    if args.rows == 0:  # the registry only (e.g. to keep a copy of it for repeated runs with --reuse)
        return
    path = Path(args.path).parent / f"import-{args.rows}.csv"
    info["file"] = write_csv(args, path)
    print("file:", json.dumps(info["file"]))
    if args.repeat > 1:
        save_registry(args)
    runs: list[dict[str, Any]] = []
    try:
        for attempt in range(args.repeat):
            if attempt:
                restore_registry(args)
            runs.append(run_import(args, path))
            print_result("import" if args.repeat == 1 else f"import {attempt + 1} of {args.repeat}", runs[-1])
    finally:
        if args.repeat > 1:
            drop_registry_copy(args)
    info["import"] = sorted(runs, key=lambda run: run["rows_per_s"])[len(runs) // 2]  # the median run
    if args.repeat > 1:
        rates = sorted(run["rows_per_s"] for run in runs)
        info["runs"] = runs
        info["median_rows_per_s"] = statistics.median(rates)
        print(
            f"\n{args.repeat} imports: median {statistics.median(rates):,.0f} rows/s "
            f"(runs: {', '.join(f'{r:,}' for r in rates)})"
        )
    if not args.no_reimport:
        info["reimport"] = run_import(args, path)
        print_result("same file again", info["reimport"])
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2, default=str))


if __name__ == "__main__":
    main()
