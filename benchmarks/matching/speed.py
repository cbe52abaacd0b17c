#!/usr/bin/env python
"""Matching speed at registry scale: intake candidate search latency, and batch deduplication time.

    python benchmarks/matching/speed.py --db sqlite --persons 1000000
    python benchmarks/matching/speed.py --db postgres --persons 1000000
    python benchmarks/matching/speed.py --db sqlite --reuse --dedupe   # the last database again, plus batch

A fresh database (as benchmarks/person_search.py makes it: SQLite file under /tmp or PostgreSQL
``rumbo_bench``), N persons from ``rumbo demo`` (which writes the match index as the services do), then:

- **intake**: ``rumbo.matching.selectors.intake_candidates`` for registrations of persons already in the
  registry, written with one to three corruptions from the synthetic corruption model (nicknames, swapped
  surnames, missing second surname, day/month swap, approximate dates, CURP typos…), inside the office scope
  a request has, as a caseworker of one office: latency p50/p95/p99, and how often the person is among the
  candidates shown;
- **batch** (``--dedupe``): ``rumbo dedupe`` over every network (Splink, DuckDB): wall time, pairs compared,
  possible duplicates found.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("person_search", ROOT / "benchmarks" / "person_search.py")
assert _spec is not None and _spec.loader is not None
person_search = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(person_search)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", default="/tmp/rumbo_bench/rumbo_match.sqlite3", help="SQLite file.")  # noqa: S108
    parser.add_argument("--pg-name", default="rumbo_bench_match", help="PostgreSQL database name.")
    parser.add_argument("--reuse", action="store_true", help="Keep the existing database.")
    parser.add_argument("--dedupe", action="store_true", help="Also time batch deduplication.")
    parser.add_argument("--json", default="", help="Write the results to this file as JSON.")
    return parser.parse_args()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def queries(rng: random.Random, user: Any, count: int) -> list[tuple[int, Any]]:
    """(person id, PersonData as a caseworker might type it again) for ``count`` registered persons."""
    from rumbo.matching.synthetic import Generator, Record
    from rumbo.offices.permissions import Perm, offices_with_perm
    from rumbo.people.data import DocumentData, PersonData, PhoneData
    from rumbo.people.models import Person

    offices = list(offices_with_perm(user, Perm.VIEW_PERSON))
    top = (
        Person.objects.filter(office_id__in=offices).order_by("-id").values_list("id", flat=True).first() or 0
    )
    gen = Generator(rng.randrange(10**6))
    out: list[tuple[int, Any]] = []
    while len(out) < count:
        ids = [rng.randint(1, top) for _ in range(count)]
        for p in Person.objects.filter(pk__in=ids, office_id__in=offices).prefetch_related(
            "documents", "phones"
        ):
            curp = next((d.number for d in p.documents.all() if d.kind == "curp"), "")
            phone = next((ph.e164 for ph in p.phones.all()), "")
            rec = Record(0, 0, "original", p.given_names, p.first_surname, p.second_surname, p.sex,
                         p.birth_date, p.birth_date_precision, curp, phone)  # fmt: skip
            dup = gen.duplicate(rec)
            data = PersonData(
                given_names=dup.given_names,
                first_surname=dup.first_surname,
                second_surname=dup.second_surname,
                sex=dup.sex,
                birth_date=dup.birth_date,
                birth_date_precision=dup.birth_precision,
                documents=[DocumentData(kind="curp", number=dup.curp)] if dup.curp else [],
                phones=[PhoneData(number=dup.phone)] if dup.phone else [],
            )
            out.append((p.pk, data))
    return out[:count]


def run_intake(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django_scopes import scope, scopes_disabled

    from rumbo.matching.selectors import intake_candidates
    from rumbo.offices.permissions import member_office_ids

    rng = random.Random(args.seed)
    with scopes_disabled():
        user = get_user_model().objects.get(username="caseworker.michoacan")
        work = queries(rng, user, args.queries + args.warmup)
    timings: list[float] = []
    found = 0
    first = 0
    with scope(office=list(member_office_ids(user))):
        for i, (pid, data) in enumerate(work):
            started = time.perf_counter()
            candidates = intake_candidates(user, data)
            elapsed = (time.perf_counter() - started) * 1000
            if i < args.warmup:
                continue
            timings.append(elapsed)
            ids = [c.person_id for c in candidates]
            found += pid in ids
            first += bool(ids) and ids[0] == pid
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(_pct(timings, 95), 1),
        "p99_ms": round(_pct(timings, 99), 1),
        "max_ms": round(max(timings), 1),
        "found_share": round(found / len(timings), 4),
        "first_share": round(first / len(timings), 4),
    }


def run_dedupe() -> dict[str, Any]:
    from django_scopes import scopes_disabled

    from rumbo.matching.dedupe import dedupe_run
    from rumbo.offices.models import Office

    out: dict[str, Any] = {"networks": []}
    started = time.perf_counter()
    with scopes_disabled():
        for root in Office.objects.filter(parent__isnull=True).order_by("pk"):
            run = dedupe_run(actor=None, network=root)
            out["networks"].append(
                {
                    "network": root.name,
                    "persons": run.persons,
                    "comparisons": run.comparisons,
                    "pairs": run.pairs_found,
                    "seconds": run.seconds,
                }
            )
            print(
                f"  {root.name}: {run.persons:,} persons, {run.comparisons:,} pairs compared, "
                f"{run.pairs_found:,} possible duplicates, {run.seconds:.1f} s",
                flush=True,
            )
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["persons"] = sum(n["persons"] for n in out["networks"])
    return out


def main() -> None:
    args = parse_args()
    if not args.reuse:
        person_search.fresh_database(args)
    person_search.setup_django(args)
    results: dict[str, Any] = {"date": datetime.date.today().isoformat(), "db": args.db}
    results["machine"] = person_search.machine()
    if not args.reuse:
        results["generate"] = person_search.generate(args)
    from django_scopes import scopes_disabled

    from rumbo.matching.models import MatchKey
    from rumbo.people.models import Person

    with scopes_disabled():
        results["persons"] = Person.objects.count()
        results["match_keys"] = MatchKey._base_manager.count()
    results["database_bytes"] = person_search.database_size(args)
    print(
        f"{args.db}: {results['persons']:,} persons, {results['match_keys']:,} match keys, "
        f"{results['database_bytes'] / 2**30:.2f} GiB",
        flush=True,
    )
    results["intake"] = run_intake(args)
    i = results["intake"]
    print(
        f"intake candidate search: p50 {i['p50_ms']} ms, p95 {i['p95_ms']} ms, p99 {i['p99_ms']} ms "
        f"over {i['queries']} registrations; the person was among the candidates {i['found_share']:.1%} "
        f"of the time (first: {i['first_share']:.1%})",
        flush=True,
    )
    if args.dedupe:
        results["dedupe"] = run_dedupe()
        d = results["dedupe"]
        print(f"batch deduplication: {d['persons']:,} persons in {d['seconds']:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
