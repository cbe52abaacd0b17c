"""A bounded schemathesis run against Rumbo's live OpenAPI schema, in-process through the WSGI app.

Every operation of ``/api/v1/schema/`` is exercised with generated requests: valid and invalid ones
(schemathesis's positive and negative modes) as a caseworker of OFAM Michoacán holding an API token, then
valid ones aimed at existing records (own office, other office, a merged person) as that caseworker and as
the office administrator, so the success paths (reads, writes, anonymisation) are generated too.
Checks: no server error, every status code documented, response bodies and content types as the schema says.

Bounded and reproducible: at most ``MAX_EXAMPLES`` requests per operation and mode, derandomised.
Schemathesis's own pytest plugin (``schemathesis.pytest.from_fixture``) is not used: it relies on pytest
internals that pytest 9.2 renamed, so the operations are driven with Hypothesis directly, one subtest each.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django_scopes import scopes_disabled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rumbo.accounts.testing import api_token_key
from rumbo.cases.tests.referral_support import scenario
from rumbo.geo.models import AdminArea
from rumbo.imports.models import ImportBatch
from rumbo.lib.testing.factories import OfficeFactory, member
from rumbo.matching.models import AccessRequest
from rumbo.matching.services import access_request_create
from rumbo.matching.tests.adjudication import make_pair
from rumbo.messaging.services.channels import create_channel
from rumbo.offices.models import Role
from rumbo.people.models import Person
from rumbo.people.services import person_merge
from rumbo.people.tests.utils import make_person

MAX_EXAMPLES = 15
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXPECTED_OPERATIONS = {
    "imports_list",
    "imports_create",
    "imports_retrieve",
    "imports_errors",
    "areas_list",
    "areas_retrieve",
    "offices_list",
    "offices_retrieve",
    "persons_list",
    "persons_create",
    "persons_retrieve",
    "persons_partial_update",
    "persons_anonymise",
    "persons_merge",
    "persons_merges_list",
    "merges_unmerge",
    "duplicates_list",
    "duplicates_retrieve",
    "duplicates_decide",
    "duplicates_decide_bulk",
    "match_requests_list",
    "match_requests_create",
    "match_requests_decide",
    "cases_create",
    "cases_list",
    "cases_retrieve",
    "cases_status",
    "messaging_channels_list",
    "messaging_channels_pause",
    "messaging_channels_resume",
    "messaging_inbound_list",
    "messaging_messages_create",
    "messaging_messages_list",
    "referrals_create",
    "referrals_list",
    "referrals_retrieve",
    "referrals_status",
    "return_points_list",
    "persons_returns_create",
    "persons_returns_list",
}


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Keep the test's database connection (and its transaction) across in-process requests.

    Django closes stale connections when a request starts and ends; inside a test that would end the test
    transaction. Django's own test client disconnects the same handlers.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Files uploaded to imports/ are stored under a temporary DATA_DIR."""
    settings.DATA_DIR = tmp_path


@pytest.fixture
def world(db: None, in_process_requests: None) -> dict[str, Any]:
    """Two offices with persons (one merged into another); API tokens of a caseworker and of the office
    administrator of OFAM Michoacán; the ids generated requests are aimed at."""
    with scopes_disabled():
        mich_state: Any = AdminArea.objects.get(country="MX", level=1, code="16")
        morelia: Any = AdminArea.objects.get(country="MX", level=2, code="16053")
        conofam: Any = OfficeFactory(name="CONOFAM", code="conofam")
        michoacan: Any = OfficeFactory(
            name="OFAM Michoacán", code="ofam-mich", parent=conofam, location=mich_state
        )
        jalisco: Any = OfficeFactory(name="OFAM Jalisco", code="ofam-jal", parent=conofam)
        caseworker: Any = member(michoacan, Role.CASEWORKER, username="lucia")
        admin: Any = member(michoacan, Role.OFFICE_ADMIN, username="admin-mich")
        jalisco_caseworker: Any = member(jalisco, Role.CASEWORKER, username="jorge")
        jose = make_person(caseworker, michoacan)
        ana = make_person(caseworker, michoacan, given_names="Ana", sex="F", documents=[], phones=[])
        merged = make_person(caseworker, michoacan, given_names="Jose", documents=[], phones=[])
        Person.objects.filter(pk=merged.pk).update(merged_into=jose)
        duplicate = make_person(caseworker, michoacan, given_names="Ana", sex="F", documents=[], phones=[])
        merge = person_merge(actor=admin, survivor=ana, merged=duplicate, choices={})
        rosa = make_person(jalisco_caseworker, jalisco, given_names="Rosa", sex="F", documents=[], phones=[])
        own_pair = make_pair(jose, ana)
        cross_pair = make_pair(ana, rosa)
        match_request = access_request_create(
            actor=jalisco_caseworker,
            candidate_person_id=ana.pk,
            requesting_office=jalisco,
            kind=AccessRequest.Kind.ACCESS,
            reason="Misma persona",
        )
        # Cases (José's case with his daughter, an IMSS offering, a referral sent) and an email channel.
        casework = scenario(SimpleNamespace(caseworker=caseworker, admin=admin, michoacan=michoacan))
        channel = create_channel(
            actor=admin,
            office=michoacan,
            kind="email",
            name="Correo",
            sender="ofam@example.org",
            config={"host": "127.0.0.1", "port": "2525"},
        )
        import_batch = ImportBatch.objects.create(
            office=michoacan, file_name="p.csv", file_sha256="0" * 64, file_kind="csv", stored_path="p.csv"
        )
        return {
            "caseworker": api_token_key(caseworker),
            "admin": api_token_key(admin),
            "office": michoacan.pk,
            "ids": {
                "/api/v1/areas/": [morelia.pk, mich_state.pk],
                "/api/v1/offices/": [michoacan.pk, conofam.pk, jalisco.pk],
                "/api/v1/persons/": [jose.pk, ana.pk, merged.pk, rosa.pk, casework.person.pk],
                "/api/v1/cases/": [casework.case.pk],
                "/api/v1/referrals/": [casework.referral.pk],
                "/api/v1/messaging/channels/": [channel.pk],
                "/api/v1/merges/": [merge.pk],
                "/api/v1/duplicates/": [own_pair.pk, cross_pair.pk],
                "/api/v1/match-requests/": [match_request.pk],
                "/api/v1/imports/": [import_batch.pk],
            },
            "hidden_person": rosa.pk,
        }


def _run(strategy: Any, headers: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _aimed(operation: Any, world: dict[str, Any]) -> Any:
    """Valid requests aimed at existing records: path ids of real offices, areas and persons (own office,
    other office, merged), and the caseworker's office in a new person's body."""
    strategies = [operation.as_strategy()]
    if "{id}" in operation.path:
        ids = next(ids for prefix, ids in world["ids"].items() if operation.path.startswith(prefix))
        strategies = [operation.as_strategy(path_parameters={"id": pk}) for pk in ids]

    def with_office(case: Any) -> Any:
        if isinstance(case.body, dict) and "office" in case.body:
            case.body["office"] = world["office"]
        if isinstance(case.body, dict) and "requesting_office" in case.body:  # a match request
            case.body["requesting_office"] = world["office"]
            case.body["person"] = world["hidden_person"]
        return case

    return st.one_of(*strategies).map(with_office)


def test_api_conforms_to_its_schema(world: dict[str, Any], subtests: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), [result for result in results if not isinstance(result, Ok)]
    assert {op.definition.raw["operationId"] for op in operations} == EXPECTED_OPERATIONS
    caseworker: Any = {"Authorization": f"Token {world['caseworker']}"}
    admin: Any = {"Authorization": f"Token {world['admin']}"}

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(operation=operation.label, mode=mode.value):
                _run(operation.as_strategy(generation_mode=mode), caseworker)
        for who, headers in (("caseworker", caseworker), ("admin", admin)):
            with subtests.test(operation=operation.label, mode="aimed", user=who):
                _run(_aimed(operation, world), headers)
