"""Batch deduplication (``rumbo dedupe``) fills the adjudication queue and keeps human decisions."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.management import call_command

from rumbo.audit.models import Action, AuditEvent
from rumbo.matching.dedupe import dedupe_run
from rumbo.matching.model import load_model
from rumbo.matching.models import DedupeRun, DuplicatePair, MatchKey
from rumbo.people.data import PhoneData
from rumbo.people.models import Person
from rumbo.people.tests.utils import make_person

BIRTH = datetime.date(1979, 11, 4)


def _family(world: Any) -> dict[str, Person]:
    """A person registered twice in Michoacán (nickname, surnames swapped), once in Jalisco, and her sister."""
    mich = world.michoacan
    return {
        "lupe": make_person(world.caseworker, mich, given_names="María Guadalupe", first_surname="Ramírez",
                            second_surname="Soto", sex="F", birth_date=BIRTH, documents=[],
                            phones=[PhoneData(number="+52 443 222 3344")]),
        "lupita": make_person(world.caseworker, mich, given_names="Lupita", first_surname="Soto",
                              second_surname="Ramírez", sex="F", birth_date=BIRTH, documents=[],
                              phones=[PhoneData(number="443 222 3344")]),
        "jalisco": make_person(world.jalisco_caseworker, world.jalisco, given_names="Guadalupe",
                               first_surname="Ramírez", second_surname="Soto", sex="F",
                               birth_date=BIRTH, documents=[], phones=[]),
        "sister": make_person(world.caseworker, mich, given_names="Rosa", first_surname="Ramírez",
                              second_surname="Soto", sex="F", birth_date=datetime.date(1983, 2, 1),
                              documents=[], phones=[PhoneData(number="+52 443 222 3344")]),
    }  # fmt: skip


def _pairs() -> set[frozenset[int]]:
    return {frozenset((p.person_a_id, p.person_b_id)) for p in DuplicatePair.objects.all()}


def test_dedupe_queues_the_duplicates_across_offices_and_not_the_sister(world: Any) -> None:
    people = _family(world)
    run = dedupe_run(actor=world.admin, network=world.michoacan)
    assert run.status == DedupeRun.Status.DONE and run.network == world.conofam
    lupe, lupita, jalisco = people["lupe"].pk, people["lupita"].pk, people["jalisco"].pk
    assert _pairs() == {frozenset((lupe, lupita)), frozenset((lupe, jalisco)), frozenset((lupita, jalisco))}
    pair = DuplicatePair.objects.get(person_a_id=min(lupe, lupita), person_b_id=max(lupe, lupita))
    assert pair.decision == DuplicatePair.Decision.PENDING and pair.probability >= 0.5
    assert {f["field"]: f["level"] for f in pair.fields}["given_names"] == "form"
    assert len({p.cluster for p in DuplicatePair.objects.all()}) == 1  # one person, one cluster
    cross = DuplicatePair.objects.exclude(office_a=world.jalisco).exclude(office_b=world.jalisco)
    assert cross.count() == 1
    # Nothing is merged automatically.
    assert not Person.objects.filter(merged_into__isnull=False).exists()
    assert AuditEvent.objects.filter(action=Action.DEDUPE_RUN, object_id=str(run.pk)).exists()
    assert run.persons == 4 and run.comparisons >= 3 and run.pairs_found == 3


def test_a_second_run_keeps_decisions(world: Any) -> None:
    people = _family(world)
    dedupe_run(actor=None, network=world.conofam)
    decided = DuplicatePair.objects.get(person_a_id=people["lupe"].pk, person_b_id=people["lupita"].pk)
    decided.decision = DuplicatePair.Decision.DIFFERENT
    decided.save()
    second = dedupe_run(actor=None, network=world.conofam)
    decided.refresh_from_db()
    assert decided.decision == DuplicatePair.Decision.DIFFERENT and decided.run_id != second.pk
    assert DuplicatePair.objects.count() == 3
    assert second.pairs_found == 2  # the undecided ones are refreshed


def test_dedupe_of_some_persons_only_keeps_their_pairs(world: Any) -> None:
    people = _family(world)
    dedupe_run(actor=None, network=world.conofam, person_ids=[people["jalisco"].pk])
    jalisco = people["jalisco"].pk
    assert _pairs() and all(jalisco in pair for pair in _pairs())


def test_dedupe_command_prints_a_summary(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _family(world)
    call_command("dedupe", "--network", "ofam-jal", "--no-progress", "--as", world.admin.username)
    out = capsys.readouterr().out
    assert "CONOFAM" in out and "4" in out
    assert DedupeRun.objects.get().started_by == world.admin


def test_train_matcher_writes_a_model_intake_can_load(tmp_path: Any, db: None) -> None:
    out = tmp_path / "model.json"
    call_command("train_matcher", "--synthetic", "800", "--out", str(out), verbosity=0)
    model = load_model(out)
    assert model.prior_probability < 0.05
    given = model.weights[0]
    assert given[1] > given[2] > 0 > given[-1]  # identical > form > 0 > different


def test_train_matcher_learns_from_a_registry_and_its_decisions(tmp_path: Any, db: None) -> None:
    """The registry path: u from the network's persons, m by EM, then m again from the "same" decisions."""
    from rumbo.demo.services import demo_generate

    demo_generate(persons=1500, seed=4, demo_persons=0)
    office_id = Person.objects.values_list("office_id", flat=True).order_by("office_id").first()
    a, b = Person.objects.filter(office_id=office_id).order_by("pk")[:2]
    DuplicatePair.objects.create(
        person_a=a, person_b=b, office_a_id=office_id, office_b_id=office_id, match_weight=0, probability=0.5,
        decision=DuplicatePair.Decision.SAME,
    )  # fmt: skip
    out = tmp_path / "registry-model.json"
    call_command("train_matcher", "--network", str(office_id), "--out", str(out), verbosity=0)
    model = load_model(out)
    assert model.weights[1][1] > 0  # identical surnames are evidence for a match


def test_id_ranges_and_the_import_check_leave_the_imports_persons_out_of_the_registry_reads(
    world: Any,
) -> None:
    """The import's duplicate check reads the registry's holders of its keys, leaving out its own persons
    by id ranges in SQL (they may not be written yet), and still pairs them with each other."""
    from rumbo.matching.dedupe import ImportPairs, _id_ranges, _stored_profiles
    from rumbo.matching.selectors import match_settings_for

    assert _id_ranges([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    assert _id_ranges([]) == []
    family = _family(world)
    mine = {family["lupita"].pk, family["sister"].pk}
    known = _stored_profiles(mine)
    threshold = float(match_settings_for(world.michoacan).review_threshold)
    check = ImportPairs([world.michoacan.pk], threshold=threshold, exclude=_id_ranges(sorted(mine)))
    check.add(known)
    assert set(check.neighbours) == {family["lupe"].pk}  # the registry's, not the import's own
    pairs, offices = check.pairs()
    found = {frozenset((a, b)) for a, b, *_ in pairs}
    assert frozenset((family["lupe"].pk, family["lupita"].pk)) in found
    assert offices[family["lupita"].pk] == world.michoacan.pk


@pytest.mark.django_db
def test_the_import_check_probes_the_key_index_once_per_key_on_sqlite() -> None:
    """The registry's holders of an import's keys are read by one index probe per key, not by a scan of the
    whole match-key table (which grows with the registry)."""
    from django.db import connection

    from rumbo.matching.dedupe import _HOLDER_KEYS_TABLE, _sqlite_holders_sql

    if connection.vendor != "sqlite":
        pytest.skip("the plan of SQLite's query (PostgreSQL's is fixed by its own settings)")
    table = connection.ops.quote_name(MatchKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_KEYS_TABLE)
        for ranges in (0, 1, 3):
            cursor.execute(f"EXPLAIN QUERY PLAN {_sqlite_holders_sql(table, ranges)}", [1, 2] * ranges)
            plan = [row[-1] for row in cursor.fetchall()]
            assert plan[0] == "SCAN k", plan
            assert plan[1].startswith("SEARCH m USING COVERING INDEX matching_key_lookup (key=?)"), plan
