"""The adjudication queue's reads and the decision services: who sees which pair and what of it, filters,
single and bulk decisions with their audit, and the labels handed to training."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from rumbo.audit.models import Action, AuditEvent
from rumbo.matching.models import DuplicatePair, MatchSettings
from rumbo.matching.queue_selectors import (
    QueueFilters,
    labels_for_training,
    network_office_ids,
    network_root,
    pair_get,
    pair_queue,
    pair_view,
    percent,
    queue_rows,
)
from rumbo.matching.services import pair_decide, pairs_decide_bulk
from rumbo.matching.tests.adjudication import (
    make_pair,
    mich_person,
    mich_twin,
    rosa,
    two_office_caseworker,
)
from rumbo.people.models import Person
from rumbo.people.tests.utils import make_person

Decision = DuplicatePair.Decision


def test_network_root_and_offices(world):
    assert network_root(world.michoacan) == world.conofam
    assert network_root(world.conofam) == world.conofam
    assert network_office_ids(world.conofam) == {world.conofam.pk, world.michoacan.pk, world.jalisco.pk}


def test_percent_for_people():
    assert percent(0.97) == "97 %"
    assert percent(0.9996) == "99.9 %"
    assert percent(0.004) == "< 1 %"
    assert percent(1.0) == "100 %"


# --- Who sees which pair ---------------------------------------------------------------------------


def test_queue_lists_pairs_of_offices_where_the_user_adjudicates(world):
    jose, twin, other = mich_person(world), mich_twin(world), rosa(world)
    own = make_pair(jose, twin)
    cross = make_pair(jose, other, probability=0.6)
    ana = make_person(world.jalisco_caseworker, world.jalisco, given_names="Ana", documents=[], phones=[])
    jalisco_only = make_pair(other, ana)
    assert list(pair_queue(world.caseworker)) == [own, cross]
    assert list(pair_queue(world.jalisco_caseworker)) == [jalisco_only, cross]
    for user in (world.auditor, world.trainer, world.coordinator, world.no_role):
        assert list(pair_queue(user)) == []


def test_cross_office_pair_hides_the_other_person_and_the_evidence(world):
    jose, other = mich_person(world), rosa(world)
    pair = make_pair(jose, other)
    [row] = queue_rows(world.caseworker, pair_queue(world.caseworker))
    visible, hidden = (row.a, row.b) if row.a.person_id == jose.pk else (row.b, row.a)
    assert visible.person == jose
    assert hidden.person is None and hidden.office_name == "OFAM Jalisco"
    assert row.masked and not row.decidable
    assert row.top_fields == []
    view = pair_view(world.caseworker, pair)
    assert view.masked and view.evidence == [] and not view.decidable
    assert [card.person for card in (view.card_a, view.card_b) if card is not None] == [jose]


def test_both_offices_user_sees_and_decides_the_cross_office_pair(world):
    both = two_office_caseworker(world)
    make_pair(mich_person(world), rosa(world))
    [row] = queue_rows(both, pair_queue(both))
    assert not row.masked and row.decidable
    assert row.top_fields == ["Surnames", "Date of birth", "Given names"]


def test_pair_get_is_404_outside_and_403_without_the_role(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    assert pair_get(world.caseworker, pair.pk) == pair
    with pytest.raises(Http404):
        pair_get(world.jalisco_caseworker, pair.pk)
    with pytest.raises(Http404):
        pair_get(world.coordinator, pair.pk)
    with pytest.raises(PermissionDenied):
        pair_get(world.auditor, pair.pk)


def test_pairs_with_a_merged_or_anonymised_person_leave_the_queue(world):
    jose, twin = mich_person(world), mich_twin(world)
    make_pair(jose, twin)
    Person.objects.filter(pk=twin.pk).update(merged_into=jose)
    assert list(pair_queue(world.caseworker)) == []


# --- Filters ------------------------------------------------------------------------------------------


def test_filters_decision_band_source_cluster_and_order(world):
    jose = mich_person(world)
    others = [mich_person(world, given_names=f"Jose {n}", documents=[], phones=[]) for n in "ABCD"]
    likely = make_pair(jose, others[0], probability=0.99, cluster=7)
    possible = make_pair(jose, others[1], probability=0.6, source=DuplicatePair.Source.INTAKE, cluster=7)
    decided = make_pair(jose, others[2], probability=0.8, decision=Decision.DIFFERENT)
    imported = make_pair(jose, others[3], probability=0.7, source=DuplicatePair.Source.IMPORT)
    user = world.caseworker
    assert list(pair_queue(user)) == [likely, imported, possible]
    assert list(pair_queue(user, QueueFilters(ascending=True))) == [possible, imported, likely]
    assert list(pair_queue(user, QueueFilters(decision=""))) == [likely, decided, imported, possible]
    assert list(pair_queue(user, QueueFilters(decision=Decision.DIFFERENT))) == [decided]
    assert list(pair_queue(user, QueueFilters(band="likely"))) == [likely]
    assert list(pair_queue(user, QueueFilters(band="possible"))) == [imported, possible]
    assert list(pair_queue(user, QueueFilters(source="intake"))) == [possible]
    assert list(pair_queue(user, QueueFilters(cluster=7))) == [likely, possible]
    # The likely band follows the network's threshold.
    MatchSettings.objects.update_or_create(network=world.conofam, defaults={"likely_threshold": 0.65})
    assert list(pair_queue(user, QueueFilters(band="likely"))) == [likely, imported]
    assert [r.likely for r in queue_rows(user, pair_queue(user))] == [True, True, False]


# --- Decisions ----------------------------------------------------------------------------------------


def test_decide_records_who_when_and_audits_old_and_new(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    pair = pair_decide(actor=world.caseworker, pair=pair, decision="same", note="Misma CURP en papel")
    pair.refresh_from_db()
    assert pair.decision == Decision.SAME
    assert pair.decided_by == world.caseworker and pair.decided_at is not None
    event = AuditEvent.objects.get(action=Action.DUPLICATE_DECIDE)
    assert event.object_type == "matching.duplicatepair" and event.object_id == str(pair.pk)
    assert event.changes == {"decision": {"old": "pending", "new": "same"}}
    assert event.detail["note"] == "Misma CURP en papel"
    assert event.office_id == world.michoacan.pk and event.actor == world.caseworker
    # Changing one's mind is a new label, audited again; repeating it writes nothing.
    pair_decide(actor=world.caseworker, pair=pair, decision="different")
    pair_decide(actor=world.caseworker, pair=pair, decision="different")
    changes = [e.changes for e in AuditEvent.objects.filter(action=Action.DUPLICATE_DECIDE).order_by("id")]
    assert changes[1] == {"decision": {"old": "same", "new": "different"}}
    assert len(changes) == 2


def test_decide_needs_the_role_in_both_offices(world):
    pair = make_pair(mich_person(world), rosa(world))
    for user in (world.caseworker, world.jalisco_caseworker, world.auditor, world.no_role):
        with pytest.raises(PermissionDenied):
            pair_decide(actor=user, pair=pair, decision="same")
    pair_decide(actor=two_office_caseworker(world), pair=pair, decision="same")
    pair.refresh_from_db()
    assert pair.decision == Decision.SAME


def test_decide_validates_the_decision_and_the_note(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    with pytest.raises(ValidationError) as exc:
        pair_decide(actor=world.caseworker, pair=pair, decision="pending")
    assert "decision" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        pair_decide(actor=world.caseworker, pair=pair, decision="same", note="x" * 501)
    assert "note" in exc.value.message_dict
    assert not AuditEvent.objects.filter(action=Action.DUPLICATE_DECIDE).exists()


def test_decide_refuses_a_pair_whose_person_was_merged(world):
    jose, twin = mich_person(world), mich_twin(world)
    pair = make_pair(jose, twin)
    Person.objects.filter(pk=twin.pk).update(merged_into=jose)
    with pytest.raises(ValidationError):
        pair_decide(actor=world.caseworker, pair=pair, decision="same")


def test_bulk_decides_what_it_may_and_reports_the_rest(world):
    jose = mich_person(world)
    own = [
        make_pair(jose, mich_person(world, given_names=f"Jose {n}", documents=[], phones=[])) for n in "AB"
    ]
    cross = make_pair(jose, rosa(world))
    result = pairs_decide_bulk(actor=world.caseworker, pairs=[*own, cross, 999999], decision="different")
    assert result.decided == sorted(p.pk for p in own)
    assert result.forbidden == [cross.pk]
    assert result.skipped == sorted([cross.pk, 999999])
    assert set(DuplicatePair.objects.filter(decision="different").values_list("pk", flat=True)) == {
        p.pk for p in own
    }
    events = AuditEvent.objects.filter(action=Action.DUPLICATE_DECIDE)
    assert sorted(int(e.object_id) for e in events) == sorted(p.pk for p in own)
    assert all(e.detail.get("bulk") is True for e in events)


def test_labels_for_training_are_the_decided_pairs_of_the_network(world):
    jose = mich_person(world)
    others = [mich_person(world, given_names=f"Jose {n}", documents=[], phones=[]) for n in "ABC"]
    same = make_pair(jose, others[0])
    make_pair(jose, others[1])  # pending: not a label
    different = make_pair(jose, others[2])
    pair_decide(actor=world.caseworker, pair=same, decision="same")
    pair_decide(actor=world.caseworker, pair=different, decision="different")
    labels = labels_for_training(world.conofam)
    assert labels == [
        (same.person_a_id, same.person_b_id, "same"),
        (different.person_a_id, different.person_b_id, "different"),
    ]
    from rumbo.lib.testing.factories import OfficeFactory

    assert labels_for_training(OfficeFactory(name="Otra red")) == []
